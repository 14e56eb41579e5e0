// The stack's parameters, read from CDK context (`cdk deploy -c key=value` or cdk.json).
// Context rather than CloudFormation parameters: the values shape the template (whether a WAF
// or a NAT gateway exists, how many tasks), and validating them at synth time gives an
// operator an error before anything is deployed. docs/deploy.md lists every key.

import { Node } from 'constructs';

export interface Settings {
  /** Stage suffix of the bucket names (`mcp-user-prompts-<stage>`, docs/aws.md). */
  readonly stage: string;
  /** Public host name of the service (for the outputs and the post-deployment checks). */
  readonly domainName?: string;
  /** ACM certificate of the HTTPS listener (in the stack's region). */
  readonly certificateArn: string;
  /** A pushed image (`<registry>/mcp-prompts:<tag>`); unset: built from Dockerfile.production. */
  readonly image?: string;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly desiredCount: number;
  readonly minCount: number;
  readonly maxCount: number;
  /** ALB idle timeout; the server's keep-alive timeout is set 15 s above it. */
  readonly albIdleTimeoutSeconds: number;
  readonly waf: boolean;
  /** Requests per 5 minutes per client IP before the WAF blocks it. */
  readonly wafRateLimit: number;
  /** 0 (the default): no NAT; the service reaches AWS only through VPC endpoints. */
  readonly natGateways: number;
  readonly alarmEmail?: string;
  /** Cognito hosted-login domain prefix; unset: no domain (SDK sign-in only, PrivateLink-compatible). */
  readonly cognitoDomainPrefix?: string;
  readonly callbackUrls: string[];
  readonly logRetentionDays: number;
  /** Two AZs to use; unset: the first two of the region (a lookup with credentials at synth). */
  readonly availabilityZones?: string[];
  readonly writeScope: string;
  /** `[limits] mode`: `cluster` (the fleet shares one budget per key) or `local` (per task). */
  readonly limitsMode: 'cluster' | 'local';
}

function str(node: Node, key: string): string | undefined {
  const v = node.tryGetContext(key);
  if (v === undefined || v === null || v === '') return undefined;
  return String(v);
}

function int(node: Node, key: string, dflt: number, min: number, max: number): number {
  const raw = str(node, key);
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`context ${key}=${raw}: expected an integer from ${min} to ${max}`);
  }
  return n;
}

function bool(node: Node, key: string, dflt: boolean): boolean {
  const raw = str(node, key);
  if (raw === undefined) return dflt;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new Error(`context ${key}=${raw}: expected true or false`);
}

// Fargate's valid CPU/memory pairs (MiB): a wrong pair fails only at deploy time otherwise.
const FARGATE_MEMORY: Record<number, [number, number, number]> = {
  256: [512, 2048, 1024],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

function azs(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length < 2 || !list.every((z) => /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/.test(z))) {
    throw new Error(`context availabilityZones=${raw}: expected at least two zone names, e.g. eu-west-1a,eu-west-1b`);
  }
  return list;
}

export function readSettings(node: Node): Settings {
  const stage = str(node, 'stage') ?? 'prod';
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(stage)) {
    throw new Error(`context stage=${stage}: 1-31 of a-z 0-9 - (it is part of S3 bucket names)`);
  }
  const certificateArn = str(node, 'certificateArn');
  if (certificateArn === undefined || !/^arn:aws[a-z-]*:acm:/.test(certificateArn)) {
    throw new Error(
      'context certificateArn: required, the ARN of an ACM certificate for the HTTPS listener ' +
        '(cdk deploy -c certificateArn=arn:aws:acm:REGION:ACCOUNT:certificate/ID)',
    );
  }
  const cpu = int(node, 'cpu', 1024, 256, 16384);
  const memoryMiB = int(node, 'memory', 2048, 512, 122880);
  const range = FARGATE_MEMORY[cpu];
  if (range === undefined) {
    throw new Error(`context cpu=${cpu}: Fargate accepts ${Object.keys(FARGATE_MEMORY).join(', ')}`);
  }
  const [lo, hi, step] = range;
  if (memoryMiB < lo || memoryMiB > hi || memoryMiB % step !== 0) {
    throw new Error(`context memory=${memoryMiB}: with cpu=${cpu} Fargate accepts ${lo}-${hi} MiB in steps of ${step}`);
  }
  const minCount = int(node, 'minCount', 2, 1, 1000);
  const maxCount = int(node, 'maxCount', 10, 1, 1000);
  const desiredCount = int(node, 'desiredCount', minCount, 1, 1000);
  if (!(minCount <= desiredCount && desiredCount <= maxCount)) {
    throw new Error(`context: expected minCount <= desiredCount <= maxCount, got ${minCount}, ${desiredCount}, ${maxCount}`);
  }
  const callbackUrls = (str(node, 'callbackUrls') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const domainName = str(node, 'domainName');
  const limitsMode = str(node, 'limitsMode') ?? 'cluster';
  if (limitsMode !== 'cluster' && limitsMode !== 'local') {
    throw new Error(`context limitsMode=${limitsMode}: expected cluster or local`);
  }
  return {
    stage,
    domainName,
    certificateArn,
    image: str(node, 'image'),
    cpu,
    memoryMiB,
    desiredCount,
    minCount,
    maxCount,
    // hyper closes idle keep-alive connections after header_read_timeout, which the stack
    // sets to this + 15 s; the upper bound keeps that within the server's 120 s limit.
    albIdleTimeoutSeconds: int(node, 'albIdleTimeout', 60, 1, 100),
    waf: bool(node, 'waf', true),
    wafRateLimit: int(node, 'wafRateLimit', 2000, 10, 2_000_000_000),
    natGateways: int(node, 'natGateways', 0, 0, 3),
    alarmEmail: str(node, 'alarmEmail'),
    cognitoDomainPrefix: str(node, 'cognitoDomainPrefix'),
    callbackUrls:
      callbackUrls.length > 0 ? callbackUrls : domainName ? [`https://${domainName}/callback`] : [],
    logRetentionDays: int(node, 'logRetentionDays', 90, 1, 3653),
    availabilityZones: azs(str(node, 'availabilityZones')),
    writeScope: str(node, 'writeScope') ?? 'prompts/write',
    limitsMode,
  };
}
