import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks, PCIDSS321Checks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { StageName } from '../../lib/config';
import { synthesizeStages, type Synthesized } from './stack-fixture';

/**
 * The compliance packs over every stage: zero unacknowledged findings, and every acknowledgement carries a
 * reason. A new resource that breaks a rule fails here until it is fixed or acknowledged with a reason.
 */
let stages: Record<StageName, Synthesized>;
beforeAll(() => {
  stages = synthesizeStages({ dev: { reservedConcurrency: false } });
});

/** Every acknowledgement recorded under a stack, as [rule id, reason]. */
function acknowledgements(stack: Synthesized['stack']): [string, string][] {
  return stack.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).flatMap((m) => Object.entries(m.data as Record<string, string>)));
}

interface Finding {
  rule: string;
  path: string;
}

function findings(report: { violations: { ruleName: string; violatingResources?: { constructPath?: string; resourceLogicalId: string }[] }[] }): Finding[] {
  return report.violations.flatMap((v) => (v.violatingResources ?? []).map((r) => ({ rule: v.ruleName, path: r.constructPath ?? r.resourceLogicalId })));
}

describe.each(['prod', 'staging', 'dev'] as StageName[])('stage %s', (stage) => {
  it.each([
    ['AwsSolutions', () => new AwsSolutionsChecks()],
    ['PCI DSS 3.2.1', () => new PCIDSS321Checks()],
    ['NIST 800-53 R5', () => new NIST80053R5Checks()],
  ])('has no unacknowledged %s finding', (_name, pack) => {
    const report = pack().validateScope(stages[stage].stack);
    expect(findings(report as never)).toEqual([]);
  });

  it('gives every acknowledgement a reason of substance', () => {
    const acknowledged = acknowledgements(stages[stage].stack);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) expect({ id, reason: reason.length > 60 }).toEqual({ id, reason: true });
  });
});

describe('acknowledgements', () => {
  it('acknowledge an unreserved rotation function only where configuration turned the reservation off', () => {
    const concurrency = (stage: StageName) => acknowledgements(stages[stage].stack).filter(([id]) => id.includes('LambdaConcurrency'));
    // The provider framework's acknowledgement is always there; the rotation function's only in dev here.
    expect(concurrency('dev').length).toBe(concurrency('prod').length + 1);
  });

  /** Acknowledgements of `rule` recorded on the construct at `path` (relative to the stage's AlphaPulseKeys) or below it. */
  const acknowledgedAt = (stage: StageName, path: string, rule: string): string[] =>
    path
      .split('/')
      .reduce<IConstruct>((scope, id) => scope.node.findChild(id), stages[stage].stack.keys)
      .node.findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).flatMap((m) => Object.entries(m.data as Record<string, string>)))
      .filter(([id]) => id.includes(rule))
      .map(([, reason]) => reason);

  it.each(['prod', 'staging'] as StageName[])('leave the %s keyset secret to pass SMG4 on its native rotation schedule, unacknowledged', (stage) => {
    expect(acknowledgedAt(stage, 'KeyStorage/KeysetSecret', 'SMG4')).toEqual([]);
    expect(acknowledgedAt(stage, 'KeyStorage/KeysetSecret', 'SecretsManagerRotationEnabled')).toEqual([]);
  });

  it('acknowledge SMG4 on the rotation log, which holds nothing to rotate, and on the dev keyset, which rotates on demand only', () => {
    expect(acknowledgedAt('prod', 'KeyStorage/RotationLogSecret', 'SMG4')).toEqual([expect.stringMatching(/no credential or key/)]);
    expect(acknowledgedAt('dev', 'KeyStorage/KeysetSecret', 'SMG4')).toEqual([expect.stringMatching(/on demand only/)]);
  });
});
