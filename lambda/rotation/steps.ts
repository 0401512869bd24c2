/**
 * Secrets Manager's rotation protocol, as the rotation function carries it out. Secrets Manager (its
 * schedule, or RotateSecret) stages a version under a ClientRequestToken as AWSPENDING and invokes the
 * function with `{"Step", "SecretId", "ClientRequestToken"}` four times, in order:
 *
 * - createSecret: read AWSCURRENT and put the next keyset (a new primary) under the token; or accept the
 *   value already staged there when it is exactly one rotation of the current keyset — that is how an
 *   emergency rotation, which also disables the old primary, is delivered (`key-manager rotate --emergency`
 *   stages it, then calls RotateSecret with its token);
 * - setSecret: nothing to do — no other system holds the keyset;
 * - testSecret: the staged keyset is one rotation of the current one and passes the canaries;
 * - finishSecret: move AWSCURRENT to the token (RemoveFromVersionId = the version just verified against),
 *   remove AWSPENDING, and record the rotation (rotation log, metrics, audit).
 *
 * Before any step, as AWS's rotation templates do, the event is checked against the secret itself
 * (DescribeSecret): it must name the configured keyset secret, rotation must be enabled on it, and the token
 * must be a version Secrets Manager has staged as AWSPENDING. A token already AWSCURRENT means the work is done.
 * Anything else is refused (ROTATION_REFUSED) and changes nothing.
 *
 * Every step can be repeated, and a run that crashed after any call resumes: the staged value is found and
 * re-verified, a move that already landed is recognised. A staged value that can never become current (not a
 * keyset, built on a keyset that is no longer current, failing its canaries) loses AWSPENDING, so Secrets
 * Manager's reattempts do not loop on it and the next RotateSecret starts afresh.
 */
import { errorCode, KeyManagementError } from '../keys/errors';
import { assertNotAhead, type Keyset } from '../keys/keyset';
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS } from '../stores/secrets-manager-labels';
import type { SecretsManagerStore } from '../stores/secrets-manager-store';
import { isRotationOf } from './candidate';
import { buildCandidate, proveCandidate, type RotationRecord, RotationRecorder, type RotatorDeps } from './rotator';
import { triggerOfToken } from './trigger';

export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';
export const ROTATION_STEPS: readonly RotationStep[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];

export interface StepEvent {
  readonly step: RotationStep;
  readonly secretId: string;
  readonly token: string;
}

/** What the steps need from the keyset store: SecretsManagerStore provides it. */
export type StepStore = Pick<SecretsManagerStore, 'kind' | 'location' | 'read' | 'readStage' | 'readVersion' | 'stagePending' | 'promote' | 'removeStage'> & {
  readonly secret: Pick<SecretsManagerStore['secret'], 'describe'>;
};

export interface StepDeps extends RotatorDeps {
  readonly store: StepStore;
  /** The one secret this function rotates (KEYSET_SECRET_ID). */
  readonly keysetSecretId: string;
}

export interface StepResult {
  readonly step: RotationStep;
  readonly token: string;
  /** `done` when the token was already AWSCURRENT on arrival (a repeated or late step). */
  readonly status: 'completed' | 'done';
  /** The staged or promoted primary, when the step knows it. */
  readonly version?: number;
}

export async function runStep(deps: StepDeps, event: StepEvent): Promise<StepResult> {
  const recorder = new RotationRecorder(deps, deps.store);
  const stages = await trustedStages(deps, recorder, event);
  const startedAt = deps.clock().toISOString();
  if (stages.includes(AWSCURRENT)) {
    if (event.step === 'finishSecret') await finishedEarlier(deps, recorder, event.token, startedAt);
    return { step: event.step, token: event.token, status: 'done' };
  }
  let record: RotationRecord = { rotationId: event.token, trigger: triggerOfToken(event.token), startedAt, fromVersion: null, toVersion: null };
  try {
    const current = await deps.store.read();
    assertNotAhead(current.keyset, deps.clock());
    record = { ...record, fromVersion: current.keyset.primary };
    switch (event.step) {
      case 'createSecret': {
        const staged = await createSecret(deps, event.token, current.keyset);
        await recorder.audit('rotation_create', 'success', { version: staged.primary, detail: `rotation ${event.token}: version ${staged.primary} staged as AWSPENDING` });
        return { step: event.step, token: event.token, status: 'completed', version: staged.primary };
      }
      case 'setSecret':
        return { step: event.step, token: event.token, status: 'completed' };
      case 'testSecret': {
        const staged = await stagedRotation(deps, event.token, current.keyset);
        record = { ...record, toVersion: staged.primary };
        await prove(deps, event.token, current.keyset, staged);
        return { step: event.step, token: event.token, status: 'completed', version: staged.primary };
      }
      case 'finishSecret': {
        const staged = await stagedRotation(deps, event.token, current.keyset);
        record = { ...record, toVersion: staged.primary };
        const before = await promote(deps, event.token, current, staged);
        await recorder.succeeded(record, before, staged);
        return { step: event.step, token: event.token, status: 'completed', version: staged.primary };
      }
    }
  } catch (err) {
    await recorder.failed(record, err);
    throw err;
  }
}

/** The labels Secrets Manager holds for the token, after checking the event is one Secrets Manager sent for our secret. */
async function trustedStages(deps: StepDeps, recorder: RotationRecorder, event: StepEvent): Promise<readonly string[]> {
  const described = await deps.store.secret.describe();
  const ours = [deps.keysetSecretId, described.arn, described.name];
  let problem: string | undefined;
  const stages = described.versionIdsToStages[event.token];
  if (!ours.includes(event.secretId)) problem = `the event names secret ${printable(event.secretId)}, and this function rotates only ${deps.keysetSecretId}`;
  else if (!described.rotationEnabled) problem = `rotation is not enabled on secret ${deps.keysetSecretId}`;
  else if (!stages) problem = `token ${printable(event.token)} is not a version of secret ${deps.keysetSecretId} that Secrets Manager staged`;
  else if (!stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT)) problem = `version ${event.token} of secret ${deps.keysetSecretId} is not AWSPENDING`;
  if (problem) {
    await recorder.audit('rotation_refused', 'failure', { code: 'ROTATION_REFUSED', detail: `${event.step}: ${problem}; nothing was changed` }).catch(() => undefined);
    throw new KeyManagementError('ROTATION_REFUSED', `refused ${event.step}: ${problem}; nothing was changed`);
  }
  return stages as readonly string[];
}

async function createSecret(deps: StepDeps, token: string, current: Keyset): Promise<Keyset> {
  const found = await deps.store.readVersion(token);
  if (found) return acceptStaged(deps, token, current, found.keyset);
  const candidate = buildCandidate(current, {}, deps);
  try {
    await deps.store.stagePending(candidate, token);
    return candidate;
  } catch (err) {
    // Another invocation with the same token staged its own candidate first: that one is the rotation.
    if (errorCode(err) !== 'CONFLICT') throw err;
    return acceptStaged(deps, token, current, (await deps.store.readVersion(token))?.keyset);
  }
}

/** The keyset staged under `token`, which must be exactly one rotation of `current`; otherwise it is cleared. */
async function stagedRotation(deps: StepDeps, token: string, current: Keyset): Promise<Keyset> {
  const found = await deps.store.readVersion(token);
  if (!found) throw new KeyManagementError('ROTATION_FAILED', `rotation ${token}: nothing is staged under the token yet (createSecret has not run for it); Secrets Manager's next attempt runs it`);
  return acceptStaged(deps, token, current, found.keyset);
}

async function acceptStaged(deps: StepDeps, token: string, current: Keyset, staged: Keyset | undefined): Promise<Keyset> {
  if (staged && isRotationOf(current, staged)) return staged;
  await deps.store.removeStage(AWSPENDING, token);
  throw new KeyManagementError(
    'ROTATION_FAILED',
    `rotation ${token}: the value staged under the token is ${staged ? 'not exactly one rotation of the current keyset (built on an older keyset, or an earlier version differs)' : 'not a valid keyset'}; its AWSPENDING label was removed and AWSCURRENT is unchanged — request a new rotation`,
  );
}

async function prove(deps: StepDeps, token: string, current: Keyset, staged: Keyset): Promise<void> {
  try {
    await proveCandidate(current, staged, deps.random, deps.clock);
  } catch (err) {
    // A candidate that fails its canaries fails them every time: clear it, or every reattempt would test it again.
    if (errorCode(err) === 'ROTATION_FAILED') await deps.store.removeStage(AWSPENDING, token);
    throw err;
  }
}

/** Moves AWSCURRENT from the version `staged` was verified against; returns the keyset it replaced. */
async function promote(deps: StepDeps, token: string, current: Awaited<ReturnType<StepStore['read']>>, staged: Keyset): Promise<Keyset> {
  try {
    await deps.store.promote(token, current.handle);
    return current.keyset;
  } catch (err) {
    if (errorCode(err) !== 'CONFLICT') throw err;
    // AWSCURRENT moved since it was read: verify the candidate against what is current now (a racing finishSecret
    // of the same token counts as done; anything else supersedes this rotation and clears it).
    const now = await deps.store.read();
    if (now.handle === token) return current.keyset;
    await acceptStaged(deps, token, now.keyset, staged);
    await deps.store.promote(token, now.handle);
    return now.keyset;
  }
}

/**
 * A finishSecret that finds its token already AWSCURRENT: an earlier attempt moved the label and may have
 * stopped before recording the rotation. The rotation log is read only to avoid recording it twice.
 */
async function finishedEarlier(deps: StepDeps, recorder: RotationRecorder, token: string, startedAt: string): Promise<void> {
  const logged = await deps.rotationLog?.read().then(
    (r) => r.log.entries.some((e) => e.rotationId === token && e.outcome === 'success'),
    () => false,
  );
  if (logged) return;
  const [current, previous] = await Promise.all([deps.store.read(), deps.store.readStage(AWSPREVIOUS)]);
  const before = previous?.keyset && isRotationOf(previous.keyset, current.keyset) ? previous.keyset : undefined;
  if (!before || current.handle !== token) return;
  await recorder.succeeded({ rotationId: token, trigger: triggerOfToken(token), startedAt, fromVersion: before.primary, toVersion: current.keyset.primary }, before, current.keyset, 'recorded by a repeated finishSecret');
}

/** Event fields end up in audit lines: keep what is printed plain and short. */
function printable(value: string): string {
  return /^[A-Za-z0-9:/_+=.@-]{1,256}$/.test(value) ? value : `(${value.length} characters, not shown)`;
}
