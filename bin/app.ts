#!/usr/bin/env node
/**
 * CDK app: one stack per stage (`AlphaPulseKeys-prod`, `-staging`, `-dev`), or only the stage named by
 * `-c stage=<name>`. Per-stage settings come from context `alphapulse:<stage>` (cdk.json or `-c`), validated at
 * synth. Account and region come from the CDK environment (CDK_DEFAULT_ACCOUNT/REGION), so synth needs none.
 * A stage or setting that cannot be deployed is one `error: <field>: <message>` line and exit 1: the operator
 * needs the field, not a stack trace through the app.
 */
import { App } from 'aws-cdk-lib';
import { ConfigError, resolveStageConfig, selectStages, type StageName } from '../lib/config';
import { KeyManagementStack, stackName } from '../lib/key-management-stack';

try {
  buildApp();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  // Exits before the app's synthesis at exit (nothing half-built reaches cdk.out), once the line is out.
  process.stderr.write(`error: ${err.message}\n`, () => process.exit(1));
}

function buildApp(): void {
  const app = new App();
  const env =
    process.env.CDK_DEFAULT_ACCOUNT || process.env.CDK_DEFAULT_REGION
      ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
      : undefined;

  for (const stage of selectStages(app.node.tryGetContext('stage'))) {
    const raw: unknown = app.node.tryGetContext(`alphapulse:${stage}`) ?? {};
    // `-c alphapulse:prod='{"rotationPeriodDays":60}'` arrives as a string; cdk.json context as an object.
    const config = resolveStageConfig(stage, typeof raw === 'string' ? parseJsonContext(stage, raw) : raw);
    new KeyManagementStack(app, stackName(stage), {
      stackName: stackName(stage),
      description: `AlphaPulse key management (${stage}): KMS key, keyset and rotation-log secrets, rotation Lambda, roles, alarms`,
      env,
      config,
    });
  }
}

function parseJsonContext(stage: StageName, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError(`alphapulse:${stage}`, 'must be a JSON object of stage settings');
  }
}
