// Security and contract properties of the synthesized template. The expected values are read
// from the repository where they are defined (docs/aws.md's IAM policy, config/production.toml's
// timeouts and required variables), so a change on either side that breaks the other fails here.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { McpPromptsStack, SECRET_NAME, TABLES, TTL_ATTRIBUTE } from '../lib/mcp-prompts-stack';
import { readSettings } from '../lib/settings';

const REPO = path.resolve(__dirname, '..', '..', '..');
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000';
const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp-prompts:0.1.0';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function synth(context: Record<string, string> = {}): { stack: Stack; template: Template } {
  // The app's feature flags (cdk.json), so the test synthesizes what `cdk synth` does.
  const flags = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context;
  const app = new App({
    context: { ...flags, certificateArn: CERT, image: IMAGE, availabilityZones: 'eu-west-1a,eu-west-1b', ...context },
  });
  const stack = new McpPromptsStack(app, 'McpPromptsSecurityStack', {
    settings: readSettings(app.node),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  app.synth();
  return { stack, template: Template.fromStack(stack) };
}

const { stack, template } = synth();
const resources = (type: string): [string, Json][] => Object.entries(template.findResources(type));
const one = (type: string): [string, Json] => {
  const r = resources(type);
  assert.equal(r.length, 1, `expected one ${type}, found ${r.length}`);
  return r[0];
};

/** Seconds of a duration literal such as "20s" or "1m" in a TOML value. */
function seconds(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  assert.ok(m, `not a duration: ${text}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/** A `[server]` key of a config file; `${VAR:-default}` yields the default. */
function serverKey(file: string, key: string): string {
  const text = fs.readFileSync(path.join(REPO, 'config', file), 'utf8');
  const server = text.split(/^\[server\]$/m)[1].split(/^\[/m)[0];
  const m = new RegExp(`^${key}\\s*=\\s*"([^"]+)"`, 'm').exec(server);
  assert.ok(m, `${file}: server.${key} not found`);
  return m[1].replace(/^\$\{[A-Z_]+:-(.*)\}$/, '$1');
}

const containerDef = (): Json => one('AWS::ECS::TaskDefinition')[1].Properties.ContainerDefinitions[0];
const envOf = (c: Json): Record<string, Json> => Object.fromEntries(c.Environment.map((e: Json) => [e.Name, e.Value]));

test('DynamoDB tables: the key schema aws bootstrap creates, on demand, PITR, encryption, TTL only on sessions', () => {
  const tables = resources('AWS::DynamoDB::Table').map(([, r]) => r.Properties);
  assert.deepEqual(tables.map((t) => t.TableName).sort(), Object.values(TABLES).sort());
  for (const t of tables) {
    assert.deepEqual(t.KeySchema, [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    assert.deepEqual(t.AttributeDefinitions, [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ]);
    assert.equal(t.BillingMode, 'PAY_PER_REQUEST');
    assert.equal(t.GlobalSecondaryIndexes, undefined);
    assert.equal(t.LocalSecondaryIndexes, undefined);
    assert.equal(t.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
    assert.equal(t.SSESpecification.SSEEnabled, true);
    if (t.TableName === TABLES.sessions) {
      assert.deepEqual(t.TimeToLiveSpecification, { AttributeName: TTL_ATTRIBUTE, Enabled: true });
    } else {
      assert.equal(t.TimeToLiveSpecification, undefined);
    }
  }
  // The TTL attribute is the one the server writes (docs/aws.md's item table).
  const aws = fs.readFileSync(path.join(REPO, 'docs', 'aws.md'), 'utf8');
  assert.match(aws, new RegExp(`\\| \`${TTL_ATTRIBUTE}\` \\| N \\|`));
});

test('S3 buckets: encrypted, public access blocked, versioned, TLS-only, orphaned large values expire', () => {
  const buckets = resources('AWS::S3::Bucket');
  assert.equal(buckets.length, 3);
  const policies = resources('AWS::S3::BucketPolicy').map(([, p]) => p.Properties);
  for (const [id, b] of buckets) {
    const p = b.Properties;
    assert.ok(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm);
    assert.deepEqual(p.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    assert.equal(p.VersioningConfiguration.Status, 'Enabled');
    const policy = policies.find((x) => x.Bucket.Ref === id);
    assert.ok(policy, `${id}: no bucket policy`);
    const deny = policy.PolicyDocument.Statement.find(
      (st: Json) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false',
    );
    assert.ok(deny, `${id}: no TLS-only statement`);
    assert.equal(deny.Action, 's3:*');
  }
  const user = buckets.find(([, b]) => b.Properties.BucketName === 'mcp-user-prompts-prod');
  assert.ok(user, 'the user bucket is named as in docs/aws.md');
  assert.ok(buckets.find(([, b]) => b.Properties.BucketName === 'mcp-prompts-catalog-prod'));
  const kv = user[1].Properties.LifecycleConfiguration.Rules.find((r: Json) => r.Prefix === '_kv/');
  assert.ok(kv, 'a lifecycle rule on _kv/ (large kv values)');
  assert.equal(kv.Status, 'Enabled');
  assert.ok(kv.NoncurrentVersionExpiration.NoncurrentDays > 0);
});

test('task role: exactly the statements of docs/aws.md, on this stack\'s resources', () => {
  const doc = fs.readFileSync(path.join(REPO, 'docs', 'aws.md'), 'utf8');
  const section = doc.split('## IAM policy of the task role')[1];
  const json = /```json\n([\s\S]*?)```/.exec(section);
  assert.ok(json, 'docs/aws.md has the policy as a JSON block');
  const documented: Json[] = JSON.parse(json[1]).Statement;
  const [roleId, role] = resources('AWS::IAM::Role').find(([, r]) =>
    JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('ecs-tasks') &&
    r.Properties.Description?.includes('docs/aws.md'),
  )!;
  assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policies');
  const policies = resources('AWS::IAM::Policy').filter(([, p]) => p.Properties.Roles.some((r: Json) => r.Ref === roleId));
  assert.equal(policies.length, 1, 'one policy on the task role');
  const actual: Json[] = policies[0][1].Properties.PolicyDocument.Statement;
  const asList = (x: string | string[]) => (Array.isArray(x) ? x : [x]).slice().sort();
  assert.deepEqual(
    actual.map((st) => st.Sid).sort(),
    documented.map((st) => st.Sid).sort(),
  );
  for (const want of documented) {
    const got = actual.find((st) => st.Sid === want.Sid)!;
    assert.equal(got.Effect, 'Allow');
    assert.deepEqual(asList(got.Action), asList(want.Action), want.Sid);
    assert.equal(asList(got.Resource).length, asList(want.Resource).length, `${want.Sid}: resource count`);
    assert.ok(!JSON.stringify(got.Resource).includes('"*"'), `${want.Sid}: no wildcard resource`);
  }
  const secret = actual.find((st) => st.Sid === 'TokenSecret')!;
  assert.deepEqual(secret.Resource, { Ref: one('AWS::SecretsManager::Secret')[0] });
  assert.equal(one('AWS::SecretsManager::Secret')[1].Properties.Name, SECRET_NAME);
});

test('container: non-root, read-only root, /ready health check, stop timeout above the drain deadline', () => {
  const c = containerDef();
  assert.equal(c.User, '1001:1001');
  assert.equal(c.ReadonlyRootFilesystem, true);
  assert.equal(c.Privileged, undefined);
  assert.deepEqual(c.LinuxParameters.Capabilities.Drop, ['ALL']);
  assert.deepEqual(c.HealthCheck.Command.slice(0, 3), ['CMD', '/usr/local/bin/mcp-prompts', 'health']);
  assert.match(c.HealthCheck.Command.join(' '), /--url http:\/\/127\.0\.0\.1:3003\/ready$/);
  const drain = seconds(serverKey('production.toml', 'drain_timeout'));
  assert.ok(c.StopTimeout > drain, `stopTimeout ${c.StopTimeout} s must exceed drain_timeout ${drain} s`);
  assert.ok(c.StopTimeout <= 120, 'Fargate caps stopTimeout at 120 s');
  assert.deepEqual(c.MountPoints, [{ ContainerPath: '/var/lib/mcp-prompts', ReadOnly: false, SourceVolume: 'data' }]);
  assert.equal(c.LogConfiguration.LogDriver, 'awslogs');
  assert.equal(c.LogConfiguration.Options.mode, 'non-blocking');
});

test('container: every required variable of config/production.toml is set, secrets only through Secrets Manager', () => {
  const text = fs.readFileSync(path.join(REPO, 'config', 'production.toml'), 'utf8');
  const required = new Set([...text.matchAll(/(?<!\$)\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]));
  assert.ok(required.size >= 4, 'production.toml has required variables');
  const c = containerDef();
  const env = envOf(c);
  for (const v of required) assert.ok(v in env, `${v} is required by production.toml but not set`);
  assert.equal(env.MCP_PROMPTS_CONFIG, '/etc/mcp-prompts/production.toml');
  // The image must carry that file.
  const dockerfile = fs.readFileSync(path.join(REPO, 'Dockerfile.production'), 'utf8');
  assert.match(dockerfile, /COPY config\/production\.toml \/etc\/mcp-prompts\/production\.toml/);
  // [[auth.oidc]] issuer and client id come from the stack's pool and client.
  assert.deepEqual(env.MCP_PROMPTS_COGNITO_POOL_ID, { Ref: one('AWS::Cognito::UserPool')[0] });
  assert.deepEqual(env.MCP_PROMPTS_COGNITO_CLIENT_ID, { Ref: one('AWS::Cognito::UserPoolClient')[0] });
  for (const [name, value] of Object.entries(env)) {
    assert.ok(!/SECRET|PASSWORD|TOKEN$/.test(name), `${name}=${JSON.stringify(value)} looks secret; use secrets`);
  }
  assert.equal(c.Secrets.length, 1);
  // An ECR image is pulled with permissions on exactly that repository.
  const exec = resources('AWS::IAM::Policy').find(([, p]) => JSON.stringify(p).includes('ecr:BatchGetImage'));
  assert.ok(exec, 'the execution role may pull the image');
  assert.match(JSON.stringify(exec[1].Properties.PolicyDocument), /repository\/mcp-prompts/);
  assert.match(JSON.stringify(c.Secrets[0].ValueFrom), /:jwt_secret::/);
});

test('service: circuit breaker with rollback, rolling deployment, private subnets, autoscaling on CPU and requests', () => {
  const svc = one('AWS::ECS::Service')[1].Properties;
  assert.deepEqual(svc.DeploymentConfiguration.DeploymentCircuitBreaker, { Enable: true, Rollback: true });
  assert.equal(svc.DeploymentConfiguration.MinimumHealthyPercent, 100);
  assert.equal(svc.DeploymentConfiguration.MaximumPercent, 200);
  assert.equal(svc.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED');
  assert.equal(svc.LaunchType, 'FARGATE');
  const kinds = resources('AWS::ApplicationAutoScaling::ScalingPolicy').map(
    ([, p]) => p.Properties.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType,
  );
  assert.deepEqual(kinds.sort(), ['ALBRequestCountPerTarget', 'ECSServiceAverageCPUUtilization']);
  const target = one('AWS::ApplicationAutoScaling::ScalableTarget')[1].Properties;
  assert.equal(target.MinCapacity, 2);
  assert.equal(target.MaxCapacity, 10);
});

test('ALB: HTTPS with a TLS 1.2+ policy, HTTP answers 301, idle timeout below the keep-alive timeout, access logs', () => {
  const listeners = resources('AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => l.Properties);
  const https = listeners.find((l) => l.Protocol === 'HTTPS');
  const http = listeners.find((l) => l.Protocol === 'HTTP');
  assert.ok(https && http && listeners.length === 2);
  assert.match(https.SslPolicy, /^ELBSecurityPolicy-TLS13-1-2-/);
  assert.deepEqual(https.Certificates, [{ CertificateArn: CERT }]);
  assert.equal(http.Port, 80);
  assert.deepEqual(http.DefaultActions, [
    { Type: 'redirect', RedirectConfig: { Port: '443', Protocol: 'HTTPS', StatusCode: 'HTTP_301' } },
  ]);
  const attrs = Object.fromEntries(
    one('AWS::ElasticLoadBalancingV2::LoadBalancer')[1].Properties.LoadBalancerAttributes.map((a: Json) => [a.Key, a.Value]),
  );
  assert.equal(attrs['access_logs.s3.enabled'], 'true');
  assert.equal(attrs['routing.http.drop_invalid_header_fields.enabled'], 'true');
  const idle = Number(attrs['idle_timeout.timeout_seconds']);
  const keepAlive = seconds(envOf(containerDef()).MCP_PROMPTS_HEADER_READ_TIMEOUT);
  assert.ok(idle < keepAlive, `ALB idle ${idle} s must be below the server's keep-alive ${keepAlive} s`);
  // container.toml's default keep-alive (75 s) is also above the ALB idle timeout.
  assert.ok(idle < seconds(serverKey('container.toml', 'header_read_timeout')));
  const tg = one('AWS::ElasticLoadBalancingV2::TargetGroup')[1].Properties;
  assert.equal(tg.HealthCheckPath, '/ready');
  assert.equal(tg.TargetType, 'ip');
  assert.equal(tg.Port, 3003);
  const dereg = Number(tg.TargetGroupAttributes.find((a: Json) => a.Key === 'deregistration_delay.timeout_seconds').Value);
  assert.ok(dereg >= seconds(serverKey('production.toml', 'request_timeout')));
  // /metrics is not reachable from the internet.
  const rule = one('AWS::ElasticLoadBalancingV2::ListenerRule')[1].Properties;
  assert.deepEqual(rule.Conditions[0].PathPatternConfig.Values, ['/metrics', '/metrics/*']);
  assert.equal(rule.Actions[0].Type, 'fixed-response');
});

test('WAF: a rate-based rule on the ALB by default, none with waf=false', () => {
  const acl = one('AWS::WAFv2::WebACL')[1].Properties;
  const rate = acl.Rules.find((r: Json) => r.Statement.RateBasedStatement);
  assert.ok(rate);
  assert.equal(rate.Statement.RateBasedStatement.AggregateKeyType, 'IP');
  assert.deepEqual(rate.Action, { Block: {} });
  template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
  const off = synth({ waf: 'false' }).template;
  off.resourceCountIs('AWS::WAFv2::WebACL', 0);
  off.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
});

test('network: gateway endpoints for DynamoDB and S3, interface endpoints, no NAT gateway', () => {
  template.resourceCountIs('AWS::EC2::NatGateway', 0);
  const eps = resources('AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties);
  const name = (e: Json) => JSON.stringify(e.ServiceName);
  const has = (svc: string, type: string) =>
    assert.ok(eps.some((e) => name(e).includes(`.${svc}"`) && (e.VpcEndpointType ?? 'Gateway') === type), `${type} endpoint ${svc}`);
  has('dynamodb', 'Gateway');
  has('s3', 'Gateway');
  for (const svc of ['secretsmanager', 'logs', 'ecr.api', 'ecr.dkr']) has(svc, 'Interface');
  for (const e of eps.filter((x) => x.VpcEndpointType === 'Interface')) assert.equal(e.PrivateDnsEnabled, true);
  const subnets = resources('AWS::EC2::Subnet').map(([, s]) => s.Properties.MapPublicIpOnLaunch);
  assert.equal(subnets.filter((x) => x === true).length, 2, 'two public subnets');
  assert.equal(subnets.filter((x) => x === false).length, 2, 'two private subnets');
  synth({ natGateways: '1' }).template.resourceCountIs('AWS::EC2::NatGateway', 1);
});

test('Cognito: password policy, optional TOTP MFA, threat protection enforced, scopes of production.toml', () => {
  const pool = one('AWS::Cognito::UserPool')[1].Properties;
  assert.deepEqual(pool.Policies.PasswordPolicy, {
    MinimumLength: 12,
    RequireLowercase: true,
    RequireUppercase: true,
    RequireNumbers: true,
    RequireSymbols: true,
    TemporaryPasswordValidityDays: 3,
  });
  assert.equal(pool.MfaConfiguration, 'OPTIONAL');
  assert.deepEqual(pool.EnabledMfas, ['SOFTWARE_TOKEN_MFA']);
  assert.equal(pool.UserPoolAddOns.AdvancedSecurityMode, 'ENFORCED');
  assert.equal(pool.AdminCreateUserConfig.AllowAdminCreateUserOnly, true);
  const text = fs.readFileSync(path.join(REPO, 'config', 'production.toml'), 'utf8');
  const write = /write_scopes = \["\$\{MCP_PROMPTS_WRITE_SCOPE:-([^}]+)\}"\]/.exec(text);
  assert.ok(write, 'production.toml: write_scopes');
  const rs = one('AWS::Cognito::UserPoolResourceServer')[1].Properties;
  const scopes = rs.Scopes.map((x: Json) => `${rs.Identifier}/${x.ScopeName}`);
  assert.ok(scopes.includes(write[1]), `resource server scopes ${scopes} include ${write[1]}`);
  assert.equal(envOf(containerDef()).MCP_PROMPTS_WRITE_SCOPE, write[1]);
  const client = one('AWS::Cognito::UserPoolClient')[1].Properties;
  assert.equal(client.GenerateSecret, false);
  assert.equal(client.PreventUserExistenceErrors, 'ENABLED');
  assert.ok(!JSON.stringify(client.WriteAttributes).includes('custom:'), 'users cannot set their tenant or tier');
});

test('CloudWatch: log retention, the six alarms to the SNS topic, a dashboard with plugin failures', () => {
  for (const [, g] of resources('AWS::Logs::LogGroup')) assert.ok(g.Properties.RetentionInDays > 0);
  const alarms = resources('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  assert.equal(alarms.length, 6);
  const topic = one('AWS::SNS::Topic')[0];
  for (const a of alarms) assert.deepEqual(a.AlarmActions, [{ Ref: topic }]);
  const byDescription = (s: string) => alarms.find((a) => a.AlarmDescription.includes(s))!;
  assert.equal(byDescription('5xx').Threshold, 10);
  assert.equal(byDescription('p99').Threshold, 5);
  assert.equal(byDescription('p99').ExtendedStatistic, 'p99');
  assert.equal(byDescription('CPU').Threshold, 80);
  assert.equal(byDescription('memory').Threshold, 80);
  assert.equal(byDescription('failing /ready').MetricName, 'UnHealthyHostCount');
  assert.match(JSON.stringify(byDescription('DynamoDB').Metrics), /ThrottleEvents/);
  const filter = one('AWS::Logs::MetricFilter')[1].Properties;
  assert.equal(filter.FilterPattern, '{ $.message = "plugin call failed" }');
  // The server logs exactly that message for a failed plugin call.
  assert.ok(
    fs.readdirSync(path.join(REPO, 'host', 'src', 'plugins')).some((f) =>
      fs.readFileSync(path.join(REPO, 'host', 'src', 'plugins', f), 'utf8').includes('"plugin call failed"'),
    ) || fs.readFileSync(path.join(REPO, 'docs', 'operations.md'), 'utf8').includes('"message": "plugin call failed"'),
  );
  const body = JSON.stringify(one('AWS::CloudWatch::Dashboard')[1].Properties.DashboardBody);
  for (const m of ['RequestCount', 'HTTPCode_Target_5XX_Count', 'TargetResponseTime', 'PluginFailures']) {
    assert.ok(body.includes(m), `dashboard shows ${m}`);
  }
});

test('cdk-nag AwsSolutions: no unsuppressed error or warning, every suppression has a reason', () => {
  assert.deepEqual(Annotations.fromStack(stack).findError('*', Match.anyValue()), []);
  assert.deepEqual(Annotations.fromStack(stack).findWarning('*', Match.anyValue()), []);
  assert.deepEqual(Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')), []);
  assert.deepEqual(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')), []);
  const all = template.toJSON().Resources as Record<string, Json>;
  let suppressions = 0;
  for (const [id, r] of Object.entries(all)) {
    for (const s of r.Metadata?.cdk_nag?.rules_to_suppress ?? []) {
      suppressions++;
      assert.ok(typeof s.reason === 'string' && s.reason.length >= 20, `${id}: ${s.id} needs a reason`);
    }
    for (const s of r.Metadata?.checkov?.skip ?? []) {
      assert.ok(typeof s.comment === 'string' && s.comment.length >= 20, `${id}: checkov ${s.id} needs a reason`);
    }
  }
  assert.ok(suppressions > 0);
});

test('rate limits: the fleet shares one budget per key (cluster mode) unless limitsMode=local', () => {
  // Two or more tasks with per-task budgets would admit minCount x every limit.
  assert.equal(envOf(containerDef()).MCP_PROMPTS_LIMITS_MODE, 'cluster');
  const local = synth({ limitsMode: 'local' }).template.toJSON();
  const td = Object.values(local.Resources as Record<string, Json>).find((r) => r.Type === 'AWS::ECS::TaskDefinition');
  assert.equal(envOf(td.Properties.ContainerDefinitions[0]).MCP_PROMPTS_LIMITS_MODE, 'local');
  // Cluster leases are conditional UpdateItems on the sessions table (the ratelimits namespace).
  const policy = resources('AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  const tables = policy.find((st: Json) => st.Sid === 'PromptTables');
  assert.ok(tables.Action.includes('dynamodb:UpdateItem'));
});

test('settings: invalid context is refused at synth time', () => {
  assert.throws(() => synth({ cpu: '1024', memory: '512' }), /memory=512/);
  assert.throws(() => synth({ certificateArn: 'nope' }), /certificateArn/);
  assert.throws(() => synth({ minCount: '3', desiredCount: '2' }), /minCount <= desiredCount/);
  assert.throws(() => synth({ logRetentionDays: '2' }), /logRetentionDays=2/);
  assert.throws(() => synth({ stage: 'Prod_1' }), /stage=Prod_1/);
  assert.throws(() => synth({ limitsMode: 'global' }), /limitsMode=global/);
});
