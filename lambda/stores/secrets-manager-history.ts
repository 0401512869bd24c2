/**
 * A destroyed key version's material in the keyset secret's older versions. Secrets Manager keeps every
 * version it has stored: the one AWSCURRENT left is AWSPREVIOUS, the others stay, unlabelled, until the
 * secret holds more than 100 versions, and then it removes the oldest unlabelled ones, never one created
 * less than 24 hours ago (Secrets Manager User Guide, "Secrets Manager versions"). There is no call that
 * deletes one version. So destroying a version's material in the keyset does not make it gone:
 *
 * - after a write that destroyed material, AWSPREVIOUS is moved off the version it replaced (no label keeps
 *   an older keyset alive), the versions that still hold the material are counted, and the write's warnings
 *   say what remains, who can read it and how to finish;
 * - `purgeHistory` finishes: once the youngest such version is a day old, it stores copies of the current
 *   keyset as unlabelled versions until Secrets Manager's retention has removed every version that holds it.
 *
 * Reading older versions needs GetSecretValue by VersionId, which the secret's resource policy leaves to the
 * Key Administrator and the rotation role only (everyone else reads AWSCURRENT alone).
 */
import { randomUUID } from 'node:crypto';
import { KeyManagementError } from '../keys/errors';
import { type Keyset, parseKeyset, serializeKeyset } from '../keys/keyset';
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, STAGED_WRITE } from './secrets-manager-labels';
import type { SecretsManagerSecret, SecretVersionInfo } from './secrets-manager-secret';

/** Secrets Manager removes unlabelled versions only beyond this many versions... */
export const RETAINED_VERSIONS = 100;
/** ...and never one younger than this. */
export const MIN_VERSION_AGE_MS = 24 * 3_600_000;
/** Copies `purgeHistory` stores at most: enough to push out every version of a full secret, and a margin. */
const MAX_PURGE_WRITES = RETAINED_VERSIONS + 10;

/** Versions of the secret (other than `except`) whose keyset holds material of a version destroyed in `current`. */
export async function versionsHoldingDestroyed(secret: SecretsManagerSecret, current: Keyset, except: string): Promise<SecretVersionInfo[]> {
  const destroyed = new Set(current.versions.filter((v) => v.state === 'destroyed').map((v) => v.version));
  if (destroyed.size === 0) return [];
  const holders: SecretVersionInfo[] = [];
  for (const version of await secret.listVersions({ includeDeprecated: true })) {
    if (version.versionId === except) continue;
    const found = await secret.getVersion(version.versionId);
    if (found?.text !== undefined && holdsMaterialOf(found.text, destroyed)) holders.push(version);
  }
  return holders;
}

/**
 * After a write that replaced `replaced` with `written`: when `replaced` held material that `next` destroys, moves
 * AWSPREVIOUS to `written` and returns what still holds the material (empty when nothing does).
 */
export async function afterDestroyingWrite(secret: SecretsManagerSecret, next: Keyset, replaced: string, written: string, now: Date): Promise<string[]> {
  const destroyed = new Set(next.versions.filter((v) => v.state === 'destroyed').map((v) => v.version));
  if (destroyed.size === 0) return [];
  const before = await secret.getVersion(replaced);
  if (before?.text === undefined || !holdsMaterialOf(before.text, destroyed)) return [];
  await secret.moveStage(AWSPREVIOUS, written, replaced);
  const holders = await versionsHoldingDestroyed(secret, next, written);
  return holders.length === 0 ? [] : [remainsWarning(secret.secretId, holders, now)];
}

export interface PurgeResult {
  /** Copies of the current keyset stored to make Secrets Manager's retention remove the older versions. */
  readonly written: number;
  /** Versions that held destroyed material and are gone now. */
  readonly removed: number;
}

/**
 * Stores copies of `current` (each an unlabelled version) until no version but AWSCURRENT holds material `current`
 * destroys. Refuses while a rotation is in progress, while a holder is labelled (it would never be removed), and
 * until the youngest holder is a day old (Secrets Manager would keep it anyway).
 */
export async function purgeHistory(secret: SecretsManagerSecret, current: { keyset: Keyset; handle: string }, now: Date, onProgress?: (message: string) => void): Promise<PurgeResult> {
  const holders = await versionsHoldingDestroyed(secret, current.keyset, current.handle);
  if (holders.length === 0) return { written: 0, removed: 0 };
  const described = await secret.describe();
  if (Object.values(described.versionIdsToStages).some((stages) => stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT))) {
    throw new KeyManagementError('ROTATION_IN_PROGRESS', `a rotation of secret ${secret.secretId} is in progress; purge its history once it has finished`);
  }
  for (const holder of holders) {
    for (const stage of holder.stages) {
      if (stage === AWSPREVIOUS) await secret.moveStage(AWSPREVIOUS, current.handle, holder.versionId);
      if (stage === STAGED_WRITE) await secret.removeStage(STAGED_WRITE, holder.versionId);
    }
  }
  const labelled = (await versionsHoldingDestroyed(secret, current.keyset, current.handle)).filter((v) => v.stages.length > 0);
  if (labelled.length > 0) {
    throw new KeyManagementError('INVALID_TRANSITION', `versions ${labelled.map((v) => `${v.versionId} (${v.stages.join(', ')})`).join(', ')} of secret ${secret.secretId} still hold destroyed material and carry labels, so Secrets Manager will never remove them; move or remove those labels first`);
  }
  const youngest = Math.max(...holders.map((v) => v.createdDate?.getTime() ?? now.getTime()));
  if (now.getTime() - youngest < MIN_VERSION_AGE_MS) {
    throw new KeyManagementError(
      'INVALID_TRANSITION',
      `the newest version of secret ${secret.secretId} that holds destroyed material was created at ${new Date(youngest).toISOString()}; Secrets Manager keeps any version for its first 24 hours — purge its history again after ${new Date(youngest + MIN_VERSION_AGE_MS).toISOString()}`,
    );
  }
  const text = serializeKeyset(current.keyset);
  let written = 0;
  let remaining = holders.length;
  while (remaining > 0) {
    if (written >= MAX_PURGE_WRITES) {
      throw new KeyManagementError('STORE_UNAVAILABLE', `stored ${written} copies of the current keyset and ${remaining} older version(s) of secret ${secret.secretId} still hold destroyed material; Secrets Manager has not removed them — check its versions (aws secretsmanager list-secret-version-ids --include-deprecated --secret-id ${secret.secretId})`);
    }
    await secret.putUnlabelled(text, randomUUID());
    written++;
    if (written % 10 === 0 || written >= RETAINED_VERSIONS - 10) {
      remaining = (await versionsHoldingDestroyed(secret, current.keyset, current.handle)).length;
      onProgress?.(`stored ${written} copies of the current keyset; ${remaining} older version(s) still hold destroyed material`);
    }
  }
  return { written, removed: holders.length };
}

function holdsMaterialOf(text: string, versions: ReadonlySet<number>): boolean {
  try {
    return parseKeyset(text).versions.some((v) => versions.has(v.version) && v.material !== undefined);
  } catch {
    return false;
  }
}

function remainsWarning(secretId: string, holders: readonly SecretVersionInfo[], now: Date): string {
  const youngest = Math.max(...holders.map((v) => v.createdDate?.getTime() ?? now.getTime()));
  return (
    `${holders.length} older version(s) of secret ${secretId} still hold the destroyed material (${holders.map((v) => v.versionId).join(', ')}); ` +
    `only the Key Administrator and rotation roles can read them (every other reader is limited to AWSCURRENT), and Secrets Manager removes them only ` +
    `once the secret has more than ${RETAINED_VERSIONS} versions — to finish, purge the secret's history after ${new Date(youngest + MIN_VERSION_AGE_MS).toISOString()}`
  );
}
