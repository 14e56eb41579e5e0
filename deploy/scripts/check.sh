#!/usr/bin/env bash
# The deployment's offline checks (docs/deploy.md#tests), run by scripts/test.sh:
#   1. npm ci (the committed package-lock.json), then tsc;
#   2. the aws-cdk-lib/assertions tests (node:test), with cdk-nag's AwsSolutions pack;
#   3. `cdk synth` of the app with sample context into deploy/cdk.out (tests/deploy.rs
#      deploys its data plane into moto and runs the server on it);
#   4. cfn-lint and checkov on the synthesized template (from PyPI, in deploy/.venv so that
#      their pinned dependencies do not replace moto's boto3). Suppressions are in the
#      template's Metadata, each with its reason.
# Nothing here talks to AWS: the sample account and certificate are fictitious.
set -euo pipefail
cd "$(dirname "$0")/.."
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true

[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npx tsc
node --test dist/test/

# Sample context: a fictitious account, certificate and image, and the zones given so that
# synth needs no credentials and no lookups.
CDK_DEFAULT_ACCOUNT=123456789012 CDK_DEFAULT_REGION=eu-west-1 npx cdk synth --quiet --no-notices \
    -c certificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000 \
    -c image=123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp-prompts:0.1.0 \
    -c domainName=prompts.example.com -c availabilityZones=eu-west-1a,eu-west-1b
template=cdk.out/McpPromptsSecurityStack.template.json
test -s "$template"

if [ ! -x .venv/bin/checkov ] || [ ! -x .venv/bin/cfn-lint ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check cfn-lint checkov
fi
.venv/bin/cfn-lint "$template"
echo "cfn-lint: no findings"
# --skip-download and BC_SKIP_MAPPING keep checkov offline (no Prisma Cloud API calls).
BC_SKIP_MAPPING=TRUE .venv/bin/checkov -f "$template" --framework cloudformation \
    --quiet --compact --skip-download
