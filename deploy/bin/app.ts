#!/usr/bin/env node
// The CDK app: one stack, McpPromptsStack, deployed under the id the original system used
// (`cdk deploy McpPromptsSecurityStack`) unless `-c stackName=...` names another.
// cdk-nag's AwsSolutions pack runs on every synth; an unsuppressed error fails it.

import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { McpPromptsStack } from '../lib/mcp-prompts-stack';
import { readSettings } from '../lib/settings';

const app = new App();
const settings = readSettings(app.node);
new McpPromptsStack(app, app.node.tryGetContext('stackName') ?? 'McpPromptsSecurityStack', {
  settings,
  description: 'mcp-prompts: VPC, ECS Fargate behind an ALB, Cognito, DynamoDB, S3, Secrets Manager, CloudWatch',
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
  },
});
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
