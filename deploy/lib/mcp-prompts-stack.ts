// The mcp-prompts deployment on AWS: one stack with the network, the ECS Fargate service
// behind an ALB, Cognito, the data plane (DynamoDB, S3, Secrets Manager) and CloudWatch.
// docs/deploy.md explains every resource; docs/aws.md is the contract with the server
// (table key schema, bucket layout, the task role's exact actions), and this file follows it.

import * as path from 'path';
import {
  Aws,
  CfnOutput,
  CfnResource,
  Duration,
  RemovalPolicy,
  Size,
  Stack,
  StackProps,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { NagSuppressions } from 'cdk-nag';
import { Construct, IConstruct } from 'constructs';
import { Settings } from './settings';

/** The server's contract values this stack must agree with (config/production.toml). */
export const SERVER = {
  port: 3003,
  /** `server.drain_timeout` in config/production.toml. */
  drainTimeoutSeconds: 20,
  /** `server.request_timeout` (its default in config/production.toml). */
  requestTimeoutSeconds: 30,
  /** Where the image keeps config/production.toml (Dockerfile.production). */
  configPath: '/etc/mcp-prompts/production.toml',
  dataDir: '/var/lib/mcp-prompts',
  binary: '/usr/local/bin/mcp-prompts',
  /** The message of the server's JSON log line for a failed plugin call (docs/operations.md). */
  pluginFailureMessage: 'plugin call failed',
};

/** Table names as docs/aws.md and config/production.toml default them. */
export const TABLES = {
  prompts: 'mcp-prompts',
  users: 'mcp-users',
  sessions: 'mcp-sessions',
};
/** The one table with a TTL (sessions, MCP sessions, rate-limit counters), on this attribute. */
export const TTL_ATTRIBUTE = 'expires_at';
export const SECRET_NAME = 'mcp-prompts/secrets';
export const SECRET_KEY = 'jwt_secret';

const RETENTION: Record<number, logs.RetentionDays> = Object.fromEntries(
  Object.values(logs.RetentionDays)
    .filter((v): v is logs.RetentionDays => typeof v === 'number')
    .map((v) => [v, v]),
);

/** A reasoned checkov skip on a synthesized resource (checkov reads Metadata.checkov.skip). */
function checkovSkip(scope: IConstruct, skips: [string, string][]): void {
  const res = (scope instanceof CfnResource ? scope : scope.node.defaultChild) as CfnResource;
  const existing = (res.getMetadata('checkov') as { skip: { id: string; comment: string }[] }) ?? {
    skip: [],
  };
  existing.skip.push(...skips.map(([id, comment]) => ({ id, comment })));
  res.addMetadata('checkov', existing);
}

/**
 * An ECR image (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG` or `@sha256:...`) through the
 * repository, so that the execution role gets exactly the pull permissions on it; anything
 * else from its registry (which, without a NAT gateway, the tasks cannot reach).
 */
function imageFrom(scope: Construct, uri: string): ecs.ContainerImage {
  const m = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(uri);
  if (!m) return ecs.ContainerImage.fromRegistry(uri);
  const [, account, region, name, tag, digest] = m;
  const repo = ecr.Repository.fromRepositoryAttributes(scope, 'ImageRepository', {
    repositoryName: name,
    repositoryArn: `arn:${Aws.PARTITION}:ecr:${region}:${account}:repository/${name}`,
  });
  return ecs.ContainerImage.fromEcrRepository(repo, digest ?? tag ?? 'latest');
}

export interface McpPromptsStackProps extends StackProps {
  readonly settings: Settings;
  /** The repository root (the image build context when no image is given). */
  readonly repoRoot?: string;
}

export class McpPromptsStack extends Stack {
  private readonly zones?: string[];

  /** The configured zones, without the AZ lookup (which needs credentials at synth). */
  override get availabilityZones(): string[] {
    return this.zones ?? super.availabilityZones;
  }

  constructor(scope: Construct, id: string, props: McpPromptsStackProps) {
    super(scope, id, props);
    const s = props.settings;
    this.zones = s.availabilityZones;
    const retention = RETENTION[s.logRetentionDays];
    if (retention === undefined) {
      throw new Error(
        `context logRetentionDays=${s.logRetentionDays}: CloudWatch accepts ${Object.keys(RETENTION).join(', ')}`,
      );
    }

    // ---------------------------------------------------------------- encryption keys
    // One customer-managed key (rotated) for the log groups and the alarm topic. CloudWatch
    // alarms can publish only to a topic whose key lets cloudwatch.amazonaws.com use it, which
    // the AWS-managed aws/sns key does not; CloudWatch Logs needs the same kind of grant.
    // Writers (the awslogs driver, flow logs) need no KMS permission of their own.
    const key = new kms.Key(this, 'LogsAndAlarmsKey', {
      enableKeyRotation: true,
      description: 'mcp-prompts log groups and alarm topic',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        resources: ['*'],
      }),
    );
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`,
          },
        },
      }),
    );

    // ---------------------------------------------------------------- network
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Tasks run in private subnets. With natGateways = 0 they are isolated: every AWS API the
    // server calls is reached through a VPC endpoint (below), the image is pulled through the
    // ECR endpoints (layers from S3 through its gateway endpoint), logs go through the Logs
    // endpoint, and Cognito's key set (JWKS) through the Cognito endpoint.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: s.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        {
          name: 'private',
          subnetType:
            s.natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED,
          cidrMask: 22,
        },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    const privateSubnets: ec2.SubnetSelection = {
      subnetType: s.natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED,
    };
    vpc.addGatewayEndpoint('DynamoDbEndpoint', {
      service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
      subnets: [privateSubnets],
    });
    vpc.addGatewayEndpoint('S3Endpoint', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [privateSubnets],
    });
    const serviceSg = new ec2.SecurityGroup(this, 'ServiceSg', {
      vpc,
      description: 'mcp-prompts tasks: port 3003 from the load balancer only',
      allowAllOutbound: false,
    });
    const endpointSg = new ec2.SecurityGroup(this, 'EndpointSg', {
      vpc,
      description: 'Interface endpoints: HTTPS from the mcp-prompts tasks only',
      allowAllOutbound: false,
    });
    endpointSg.addIngressRule(serviceSg, ec2.Port.tcp(443), 'HTTPS from the tasks');
    // Tasks may open HTTPS to the interface endpoints and to the gateway endpoints' prefix
    // lists (DynamoDB, S3); nothing else leaves them unless a NAT gateway is configured.
    serviceSg.addEgressRule(endpointSg, ec2.Port.tcp(443), 'HTTPS to the interface endpoints');
    const interfaceEndpoints: [string, ec2.InterfaceVpcEndpointAwsService][] = [
      ['SecretsManagerEndpoint', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
      ['LogsEndpoint', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
      ['EcrApiEndpoint', ec2.InterfaceVpcEndpointAwsService.ECR],
      ['EcrDkrEndpoint', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
      // The server fetches the user pool's JWKS from cognito-idp.<region>.amazonaws.com.
      ['CognitoIdpEndpoint', ec2.InterfaceVpcEndpointAwsService.COGNITO_IDP],
    ];
    for (const [id, service] of interfaceEndpoints) {
      vpc.addInterfaceEndpoint(id, {
        service,
        subnets: privateSubnets,
        securityGroups: [endpointSg],
        privateDnsEnabled: true,
        open: false,
      });
    }
    // The gateway endpoints (DynamoDB, S3) are reached through routes to AWS-managed prefix
    // lists whose ids differ per region; with no NAT, port 443 "anywhere" can reach only
    // those routes and the interface endpoints.
    serviceSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs (endpoints; NAT if configured)');

    // ---------------------------------------------------------------- data plane
    // Exactly what `mcp-prompts aws bootstrap` creates (host/src/cli/aws.rs): pk/sk strings,
    // on demand, no indexes, TTL on expires_at where a namespace has a ttl. Plus PITR and
    // encryption, which bootstrap leaves to the operator.
    const table = (id: string, tableName: string, ttl: boolean) => {
      const t = new dynamodb.Table(this, id, {
        tableName,
        partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        timeToLiveAttribute: ttl ? TTL_ATTRIBUTE : undefined,
        deletionProtection: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      checkovSkip(t, [
        [
          'CKV_AWS_119',
          'Encrypted with the AWS-managed key (aws/dynamodb): a customer-managed key would need kms:Decrypt in the task role, which docs/aws.md keeps out of the least-privilege policy.',
        ],
      ]);
      return t;
    };
    const promptsTable = table('PromptsTable', TABLES.prompts, false);
    const usersTable = table('UsersTable', TABLES.users, false);
    const sessionsTable = table('SessionsTable', TABLES.sessions, true);
    const tables = [promptsTable, usersTable, sessionsTable];

    const accessLogs = new s3.Bucket(this, 'AccessLogsBucket', {
      // ALB access logs support only SSE-S3 on the target bucket.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'expire-logs', expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(accessLogs, [
      { id: 'AwsSolutions-S1', reason: 'This is the access-log bucket itself; logging it into itself would loop.' },
    ]);
    checkovSkip(accessLogs, [
      ['CKV_AWS_18', 'This is the access-log bucket itself; logging it into itself would loop.'],
      ['CKV_AWS_145', 'ALB access logs can only be delivered to SSE-S3 buckets, not SSE-KMS.'],
    ]);

    const dataBucket = (id: string, bucketName: string, lifecycleRules: s3.LifecycleRule[]) => {
      const b = new s3.Bucket(this, id, {
        bucketName,
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        minimumTLSVersion: 1.2,
        versioned: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: `s3/${bucketName}/`,
        lifecycleRules,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      checkovSkip(b, [
        [
          'CKV_AWS_145',
          'SSE-S3: a customer-managed key would need kms:Decrypt/GenerateDataKey in the task role, which docs/aws.md keeps out of the least-privilege policy.',
        ],
      ]);
      return b;
    };
    const userBucket = dataBucket('UserPromptsBucket', `mcp-user-prompts-${s.stage}`, [
      {
        // Large kv values live under _kv/; the server deletes the object of a value it
        // replaced, which under versioning leaves a noncurrent version: expire those.
        // (An object orphaned by a crash between the S3 write and the item write stays
        // current; no lifecycle rule can tell it from a referenced one: docs/deploy.md.)
        id: 'kv-large-values-replaced',
        prefix: '_kv/',
        noncurrentVersionExpiration: Duration.days(7),
        expiredObjectDeleteMarker: true,
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
      {
        id: 'blobs-noncurrent',
        noncurrentVersionExpiration: Duration.days(90),
        abortIncompleteMultipartUploadAfter: Duration.days(7),
      },
    ]);
    const catalogBucket = dataBucket('CatalogBucket', `mcp-prompts-catalog-${s.stage}`, [
      {
        id: 'catalog-noncurrent',
        noncurrentVersionExpiration: Duration.days(90),
        abortIncompleteMultipartUploadAfter: Duration.days(7),
      },
    ]);

    const secret = new secretsmanager.Secret(this, 'TokenSecret', {
      secretName: SECRET_NAME,
      description: 'mcp-prompts: HS256 service-token key ({"jwt_secret": ...}), docs/aws.md',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: SECRET_KEY,
        passwordLength: 64,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotated by PutSecretValue (docs/deploy.md); the server re-reads it every refresh_interval and accepts the previous value for grace_period, so no rotation Lambda is needed.',
      },
    ]);
    checkovSkip(secret, [
      ['CKV_AWS_149', 'Encrypted with the AWS-managed aws/secretsmanager key; a customer-managed key would need kms:Decrypt in both roles.'],
    ]);

    // ---------------------------------------------------------------- Cognito
    const userPool = new cognito.UserPool(this, 'UserPool', {
      userPoolName: `mcp-prompts-${s.stage}`,
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      // The claims the server reads for the tenant and the tier (auth.tenant_claim,
      // auth.tier_claim). Only an administrator sets them (not in the client's writeAttributes).
      customAttributes: {
        tenant: new cognito.StringAttribute({ minLen: 1, maxLen: 64, mutable: true }),
        subscriptionTier: new cognito.StringAttribute({ minLen: 1, maxLen: 64, mutable: true }),
      },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(userPool, [
      {
        id: 'AwsSolutions-COG2',
        reason: 'MFA is optional with TOTP, as the original deployment guide asks; operators can require it per user.',
      },
    ]);
    // The resource server's scope: the policy plugin's write scope
    // (plugins.policy.config.write_scopes = MCP_PROMPTS_WRITE_SCOPE).
    const scopeParts = (full: string) => {
      const i = full.indexOf('/');
      if (i <= 0 || i === full.length - 1) {
        throw new Error(`scope ${full}: expected <resource server>/<scope>`);
      }
      return [full.slice(0, i), full.slice(i + 1)];
    };
    const [rsId, writeName] = scopeParts(s.writeScope);
    const writeScope = new cognito.ResourceServerScope({ scopeName: writeName, scopeDescription: 'Create, update and delete prompts' });
    const resourceServer = userPool.addResourceServer('ResourceServer', {
      identifier: rsId,
      userPoolResourceServerName: 'mcp-prompts',
      scopes: [writeScope],
    });
    // Tokens from SDK sign-in (no hosted domain) carry no custom scopes; the server accepts a
    // group of the same name as the scope (docs/configuration.md, write_scopes).
    new cognito.CfnUserPoolGroup(this, 'WriteGroup', {
      userPoolId: userPool.userPoolId,
      groupName: s.writeScope,
      description: 'May create, update and delete prompts',
    });
    if (s.cognitoDomainPrefix) {
      userPool.addDomain('Domain', { cognitoDomain: { domainPrefix: s.cognitoDomainPrefix } });
    }
    const oauthScopes = [
      cognito.OAuthScope.OPENID,
      cognito.OAuthScope.EMAIL,
      cognito.OAuthScope.resourceServer(resourceServer, writeScope),
    ];
    const appClient = userPool.addClient('AppClient', {
      userPoolClientName: 'mcp-prompts',
      generateSecret: false,
      authFlows: { userSrp: true, userPassword: true },
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true, fullname: true }),
      oAuth:
        s.callbackUrls.length > 0
          ? { flows: { authorizationCodeGrant: true }, scopes: oauthScopes, callbackUrls: s.callbackUrls }
          : { flows: { authorizationCodeGrant: false, implicitCodeGrant: false }, scopes: oauthScopes },
    });
    const issuer = `https://cognito-idp.${Aws.REGION}.amazonaws.com/${userPool.userPoolId}`;

    // ---------------------------------------------------------------- logs, alarms topic
    const logGroup = new logs.LogGroup(this, 'ServiceLogs', {
      logGroupName: `/ecs/mcp-prompts-${s.stage}`,
      retention,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'mcp-prompts alarms',
      masterKey: key,
      enforceSSL: true,
    });
    if (s.alarmEmail) {
      topic.addSubscription(new subs.EmailSubscription(s.alarmEmail));
    }

    // ---------------------------------------------------------------- ECS
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: { ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` } },
      }),
      description: 'mcp-prompts server: exactly the actions of docs/aws.md',
    });
    // The policy of docs/aws.md, statement by statement (not the grant* helpers, which add
    // actions the server never calls, such as BatchWriteItem or DescribeTable).
    const taskPolicy = new iam.Policy(this, 'TaskPolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'PromptTables',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
          resources: tables.map((t) => t.tableArn),
        }),
        new iam.PolicyStatement({
          sid: 'ListBuckets',
          actions: ['s3:ListBucket'],
          resources: [userBucket.bucketArn, catalogBucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'UserBodiesAndLargeValues',
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
          resources: [userBucket.arnForObjects('*')],
        }),
        new iam.PolicyStatement({
          sid: 'CatalogReadMostly',
          actions: ['s3:GetObject'],
          resources: [catalogBucket.arnForObjects('*')],
        }),
        new iam.PolicyStatement({
          sid: 'TokenSecret',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [secret.secretArn],
        }),
      ],
    });
    taskPolicy.attachToRole(taskRole);
    NagSuppressions.addResourceSuppressions(taskPolicy, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Object-level S3 actions need <bucket>/*: prompt bodies and large values have generated keys. Scoped to the two buckets of this stack, as in docs/aws.md.',
        appliesTo: [
          `Resource::<${this.getLogicalId(userBucket.node.defaultChild as CfnResource)}.Arn>/*`,
          `Resource::<${this.getLogicalId(catalogBucket.node.defaultChild as CfnResource)}.Arn>/*`,
        ],
      },
    ]);

    const taskDef = new ecs.FargateTaskDefinition(this, 'TaskDef', {
      family: `mcp-prompts-${s.stage}`,
      cpu: s.cpu,
      memoryLimitMiB: s.memoryMiB,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
      },
      taskRole,
      // Fargate task storage at the image's VOLUME path: ECS copies its 1001 ownership, so
      // the non-root server can write its plugin cache and scratch files (TMPDIR) there.
      volumes: [{ name: 'data' }],
    });
    const image = s.image
      ? imageFrom(this, s.image)
      : ecs.ContainerImage.fromAsset(props.repoRoot ?? path.join(__dirname, '..', '..', '..'), {
          file: 'Dockerfile.production',
          exclude: ['target', 'data', 'deploy/node_modules', 'deploy/cdk.out', 'deploy/dist', '.git'],
        });
    const headerReadTimeout = s.albIdleTimeoutSeconds + 15;
    const container = taskDef.addContainer('mcp-prompts', {
      containerName: 'mcp-prompts',
      image,
      essential: true,
      user: '1001:1001',
      readonlyRootFilesystem: true,
      portMappings: [{ name: 'http', containerPort: SERVER.port, protocol: ecs.Protocol.TCP, appProtocol: ecs.AppProtocol.http }],
      environment: {
        MCP_PROMPTS_CONFIG: SERVER.configPath,
        AWS_REGION: Aws.REGION,
        MCP_PROMPTS_TABLE_PROMPTS: promptsTable.tableName,
        MCP_PROMPTS_TABLE_USERS: usersTable.tableName,
        MCP_PROMPTS_TABLE_SESSIONS: sessionsTable.tableName,
        MCP_PROMPTS_USER_BUCKET: userBucket.bucketName,
        MCP_PROMPTS_CATALOG_BUCKET: catalogBucket.bucketName,
        // [[auth.oidc]] in config/production.toml: issuer from the pool id, client_ids.
        MCP_PROMPTS_COGNITO_POOL_ID: userPool.userPoolId,
        MCP_PROMPTS_COGNITO_CLIENT_ID: appClient.userPoolClientId,
        MCP_PROMPTS_WRITE_SCOPE: s.writeScope,
        // Above the ALB idle timeout, so the ALB always closes an idle connection first.
        MCP_PROMPTS_HEADER_READ_TIMEOUT: `${headerReadTimeout}s`,
        MCP_PROMPTS_LOG_LEVEL: 'info',
        // server.trusted_proxies: the ALB's X-Forwarded-For is believed from inside the VPC.
        MCP_PROMPTS_TRUSTED_PROXY: vpc.vpcCidrBlock,
        // [limits] mode: with minCount >= 2 tasks, local budgets would admit n x each limit.
        MCP_PROMPTS_LIMITS_MODE: s.limitsMode,
      },
      secrets: {
        // For configs that accept HS256 service tokens (`[auth.dev] secret_env`); the
        // execution role reads it at task start, so it never appears in the task definition.
        MCP_PROMPTS_JWT_SECRET: ecs.Secret.fromSecretsManager(secret, SECRET_KEY),
      },
      healthCheck: {
        command: ['CMD', SERVER.binary, 'health', '--url', `http://127.0.0.1:${SERVER.port}/ready`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      // SIGTERM → drain (server.drain_timeout) → exit; SIGKILL only after this.
      stopTimeout: Duration.seconds(SERVER.drainTimeoutSeconds + 10),
      linuxParameters: new ecs.LinuxParameters(this, 'LinuxParameters', { initProcessEnabled: false }),
      logging: ecs.LogDrivers.awsLogs({
        logGroup,
        streamPrefix: 'mcp-prompts',
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
    });
    container.linuxParameters?.dropCapabilities(ecs.Capability.ALL);
    container.addMountPoints({ sourceVolume: 'data', containerPath: SERVER.dataDir, readOnly: false });
    NagSuppressions.addResourceSuppressions(taskDef, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment holds resource names, the Cognito pool and client ids and timeouts (none secret); the one secret comes from Secrets Manager through `secrets`.',
      },
    ]);

    if (taskDef.executionRole) {
      NagSuppressions.addResourceSuppressions(
        taskDef.executionRole,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'ecr:GetAuthorizationToken cannot be scoped to a resource (AWS documents Resource "*"); the pull actions are on the one image repository.',
            appliesTo: ['Resource::*'],
          },
        ],
        true,
      );
    }

    const service = new ecs.FargateService(this, 'Service', {
      cluster,
      serviceName: `mcp-prompts-${s.stage}`,
      taskDefinition: taskDef,
      desiredCount: s.desiredCount,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      assignPublicIp: false,
      vpcSubnets: privateSubnets,
      securityGroups: [serviceSg],
      enableExecuteCommand: false,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });
    // cfn-lint W3005: CDK adds a DependsOn on the listener rule next to the Ref to the target
    // group, so that ECS never registers targets in a group no listener forwards to yet.
    (service.node.defaultChild as CfnResource).addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });

    // ---------------------------------------------------------------- ALB
    const albSg = new ec2.SecurityGroup(this, 'AlbSg', {
      vpc,
      description: 'mcp-prompts load balancer: HTTPS and HTTP (301) from the internet',
      allowAllOutbound: false,
    });
    albSg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS');
    albSg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP, answered with 301 to HTTPS');
    albSg.addEgressRule(serviceSg, ec2.Port.tcp(SERVER.port), 'to the tasks');
    serviceSg.addIngressRule(albSg, ec2.Port.tcp(SERVER.port), 'from the load balancer');
    NagSuppressions.addResourceSuppressions(albSg, [
      { id: 'AwsSolutions-EC23', reason: 'A public API: the load balancer accepts 443 (and 80 for the redirect) from anywhere.' },
    ]);
    checkovSkip(albSg, [
      ['CKV_AWS_260', 'Port 80 is open only to answer 301 to HTTPS (listener default action); no traffic is served over HTTP.'],
    ]);
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: albSg,
      idleTimeout: Duration.seconds(s.albIdleTimeoutSeconds),
      dropInvalidHeaderFields: true,
      http2Enabled: true,
      deletionProtection: true,
      desyncMitigationMode: elbv2.DesyncMitigationMode.STRICTEST,
    });
    alb.logAccessLogs(accessLogs, 'alb');
    const httpsListener = alb.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(s.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      open: false,
    });
    alb.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
      defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
    });
    const targetGroup = httpsListener.addTargets('Service', {
      port: SERVER.port,
      protocol: elbv2.ApplicationProtocol.HTTP,
      protocolVersion: elbv2.ApplicationProtocolVersion.HTTP1,
      targets: [service.loadBalancerTarget({ containerName: 'mcp-prompts', containerPort: SERVER.port })],
      healthCheck: {
        path: '/ready',
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      // Longer than the longest request, so requests in flight at deregistration finish.
      deregistrationDelay: Duration.seconds(SERVER.requestTimeoutSeconds + 15),
    });
    // /metrics is for scrapers inside the VPC, not the internet (config/production.toml
    // serves it on the API port without a token).
    httpsListener.addAction('HideMetrics', {
      priority: 10,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics', '/metrics/*'])],
      action: elbv2.ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'not found' }),
    });

    if (s.waf) {
      const acl = new wafv2.CfnWebACL(this, 'WebAcl', {
        scope: 'REGIONAL',
        defaultAction: { allow: {} },
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'mcp-prompts', sampledRequestsEnabled: true },
        rules: [
          {
            name: 'rate-limit-per-ip',
            priority: 0,
            action: { block: {} },
            statement: { rateBasedStatement: { limit: s.wafRateLimit, aggregateKeyType: 'IP' } },
            visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'rate-limit-per-ip', sampledRequestsEnabled: true },
          },
          {
            // Known-bad request patterns (Log4Shell and the like). The common rule set is
            // left out: its 8 KB body limit would block prompts up to server.max_body_size.
            name: 'known-bad-inputs',
            priority: 1,
            overrideAction: { none: {} },
            statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesKnownBadInputsRuleSet' } },
            visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'known-bad-inputs', sampledRequestsEnabled: true },
          },
        ],
      });
      new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: alb.loadBalancerArn,
        webAclArn: acl.attrArn,
      });
    } else {
      checkovSkip(alb, [['CKV2_AWS_28', 'WAF turned off with -c waf=false (docs/deploy.md).']]);
    }

    // ---------------------------------------------------------------- autoscaling
    const scaling = service.autoScaleTaskCount({ minCapacity: s.minCount, maxCapacity: s.maxCount });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 60,
      scaleInCooldown: Duration.seconds(300),
      scaleOutCooldown: Duration.seconds(60),
    });
    scaling.scaleOnRequestCount('Requests', {
      requestsPerTarget: 1000,
      targetGroup,
      scaleInCooldown: Duration.seconds(300),
      scaleOutCooldown: Duration.seconds(60),
    });

    // ---------------------------------------------------------------- CloudWatch
    // Request rate, errors and latency come from the ALB's own metrics (no agent needed);
    // plugin failures from a metric filter on the server's JSON log line for them.
    const pluginFailures = new logs.MetricFilter(this, 'PluginFailures', {
      logGroup,
      metricNamespace: 'McpPrompts',
      metricName: 'PluginFailures',
      filterPattern: logs.FilterPattern.stringValue('$.message', '=', SERVER.pluginFailureMessage),
      metricValue: '1',
      defaultValue: 0,
    }).metric({ statistic: 'Sum', period: Duration.minutes(1) });
    const lb = alb.metrics;
    const requests = lb.requestCount({ period: Duration.minutes(1), statistic: 'Sum' });
    const target5xx = lb.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: Duration.minutes(1), statistic: 'Sum' });
    const elb5xx = lb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: Duration.minutes(1), statistic: 'Sum' });
    const target4xx = lb.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, { period: Duration.minutes(1), statistic: 'Sum' });
    const p99 = lb.targetResponseTime({ period: Duration.minutes(1), statistic: 'p99' });
    const p50 = lb.targetResponseTime({ period: Duration.minutes(1), statistic: 'p50' });
    const errorRate = new cloudwatch.MathExpression({
      expression: 'IF(req > 0, 100 * (t5 + e5) / req, 0)',
      usingMetrics: { req: requests, t5: target5xx, e5: elb5xx },
      label: '5xx rate (%)',
      period: Duration.minutes(1),
    });
    const throttles = new cloudwatch.MathExpression({
      expression: tables.map((_, i) => `r${i} + w${i}`).join(' + '),
      usingMetrics: Object.fromEntries(
        tables.flatMap((t, i) => [
          [`r${i}`, t.metric('ReadThrottleEvents', { statistic: 'Sum', period: Duration.minutes(1) })],
          [`w${i}`, t.metric('WriteThrottleEvents', { statistic: 'Sum', period: Duration.minutes(1) })],
        ]),
      ),
      label: 'DynamoDB throttle events',
      period: Duration.minutes(1),
    });
    const action = new cwActions.SnsAction(topic);
    const alarm = (id: string, description: string, metric: cloudwatch.IMetric, threshold: number, periods = 5) => {
      const a = new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: periods,
        datapointsToAlarm: Math.min(periods, 3),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      return a;
    };
    alarm('Alarm5xxRate', '5xx responses above 10% of requests', errorRate, 10);
    alarm('AlarmLatencyP99', 'p99 target response time above 5 s', p99, 5);
    alarm('AlarmCpu', 'service CPU above 80%', service.metricCpuUtilization({ period: Duration.minutes(1) }), 80);
    alarm('AlarmMemory', 'service memory above 80%', service.metricMemoryUtilization({ period: Duration.minutes(1) }), 80);
    alarm(
      'AlarmUnhealthyHosts',
      'at least one target failing /ready',
      targetGroup.metrics.unhealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
      0,
      3,
    );
    alarm('AlarmDynamoDbThrottling', 'DynamoDB throttled requests', throttles, 0, 3);

    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `mcp-prompts-${s.stage}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Requests per minute', left: [requests], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Errors', left: [target5xx, elb5xx, target4xx], right: [errorRate], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Latency (target response time)', left: [p50, p99], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Plugin failures (traps, limits, timeouts)', left: [pluginFailures], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'CPU and memory (%)',
            left: [service.metricCpuUtilization(), service.metricMemoryUtilization()],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Healthy / unhealthy targets, DynamoDB throttles',
            left: [targetGroup.metrics.healthyHostCount(), targetGroup.metrics.unhealthyHostCount()],
            right: [throttles],
            width: 8,
          }),
        ],
      ],
    });

    // ---------------------------------------------------------------- outputs
    const url = s.domainName ? `https://${s.domainName}` : `https://${alb.loadBalancerDnsName}`;
    new CfnOutput(this, 'Url', { value: url, description: 'Service URL (point the domain at LoadBalancerDns)' });
    new CfnOutput(this, 'LoadBalancerDns', { value: alb.loadBalancerDnsName });
    new CfnOutput(this, 'UserPoolId', { value: userPool.userPoolId });
    new CfnOutput(this, 'AppClientId', { value: appClient.userPoolClientId });
    new CfnOutput(this, 'Issuer', { value: issuer, description: '[[auth.oidc]] issuer' });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: service.serviceName });
    new CfnOutput(this, 'LogGroupName', { value: logGroup.logGroupName });
    new CfnOutput(this, 'AlarmTopicArn', { value: topic.topicArn });
    new CfnOutput(this, 'SecretArn', { value: secret.secretArn });
    new CfnOutput(this, 'CatalogBucketName', { value: catalogBucket.bucketName });
  }
}
