#!/usr/bin/env node
/**
 * CDK app: one stack per stage (`AlphaPulseKeys-prod`, `-staging`, `-dev`), or only the stage named by
 * `-c stage=<name>`. Per-stage settings come from context `alphapulse:<stage>` (cdk.json or `-c`), validated at
 * synth. Account and region come from the CDK environment (CDK_DEFAULT_ACCOUNT/REGION), so synth needs none.
 */
import { App } from 'aws-cdk-lib';
import { resolveStageConfig, selectStages } from '../lib/config';
import { KeyManagementStack, stackName } from '../lib/key-management-stack';

const app = new App();
const env =
  process.env.CDK_DEFAULT_ACCOUNT || process.env.CDK_DEFAULT_REGION
    ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
    : undefined;

for (const stage of selectStages(app.node.tryGetContext('stage'))) {
  const config = resolveStageConfig(stage, app.node.tryGetContext(`alphapulse:${stage}`) ?? {});
  new KeyManagementStack(app, stackName(stage), {
    stackName: stackName(stage),
    description: `AlphaPulse key management (${stage}): KMS key, keyset and rotation-log secrets, rotation Lambda, roles, alarms`,
    env,
    config,
  });
}
