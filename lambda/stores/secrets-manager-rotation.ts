/**
 * Asking Secrets Manager to rotate the keyset, and what it says about rotation: the client side of its
 * rotation protocol, used by `key-manager rotate` and `status` on `aws:` stores. The rotation itself runs
 * in the rotation function (`lambda/rotation/steps.ts`), which Secrets Manager invokes with the four steps.
 *
 * - A rotation is requested with `RotateSecret` and our own ClientRequestToken, then waited for: it is done
 *   when that token's version is AWSCURRENT; it failed when the version lost AWSPENDING without becoming
 *   AWSCURRENT (the rotation function refused or cleared it).
 * - An emergency rotation first stages its keyset as AWSPENDING under the token (PutSecretValue), then calls
 *   RotateSecret with that token: the rotation function's createSecret accepts a staged value that is exactly
 *   one rotation of the current keyset, so the disabling of the old primary travels through the same steps.
 * - Secrets Manager treats an AWSPENDING on a version other than AWSCURRENT as a rotation in progress and
 *   refuses RotateSecret while it lasts (RotateSecret API reference); a request is refused here first, with the
 *   command that clears a stuck one. A staged candidate whose RotateSecret failed loses its AWSPENDING again, so
 *   a failed request never leaves a rotation looking in progress.
 */
import { KeyManagementError } from '../keys/errors';
import { keysetText } from '../keys/keyset';
import { AWSCURRENT, AWSPENDING, STAGED_WRITE } from './secrets-manager-labels';
import type { SecretDescription, SecretsManagerSecret } from './secrets-manager-secret';
import type { KeysetSnapshot, ManagedRotation, ManagedRotationRequest, ManagedRotationStatus } from './store';

export interface SecretsManagerRotationOptions {
  /** Longest wait between two looks at a running rotation; the first looks come sooner (250 ms, doubling). @default 2000 */
  readonly pollMs?: number;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Without a Duration, Secrets Manager's window for a schedule in days lasts until the end of the UTC day. */
const DEFAULT_WINDOW_MS = 24 * 3_600_000;

export class SecretsManagerRotation implements ManagedRotation {
  private readonly pollMs: number;
  private readonly clock: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly secret: SecretsManagerSecret,
    private readonly readCurrent: () => Promise<KeysetSnapshot>,
    options: SecretsManagerRotationOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 2_000;
    this.clock = options.clock ?? (() => new Date());
    // A ref'd timer: the process must stay alive while it waits for the outcome it will report.
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async start(request: ManagedRotationRequest): Promise<void> {
    const { token, candidate } = request;
    const described = await this.secret.describe();
    if (!described.rotationLambdaArn) throw this.notConfigured();
    const pending = pendingVersion(described);
    if (pending) throw await this.inProgress(pending);
    if (candidate) await this.secret.putPending(keysetText(candidate), token);
    let started: Awaited<ReturnType<SecretsManagerSecret['rotate']>>;
    try {
      started = await this.secret.rotate(token);
    } catch (err) {
      if (candidate) await this.secret.removeStageQuietly(AWSPENDING, token);
      throw err;
    }
    if (started === 'refused') {
      // Secrets Manager refuses RotateSecret while an AWSPENDING is outstanding and reattempts that rotation: when the
      // AWSPENDING is our own staged candidate, the reattempt is our rotation. Anything else is someone else's.
      const again = await this.secret.describe();
      if ((again.versionIdsToStages[token] ?? []).includes(AWSPENDING)) return;
      if (candidate) await this.secret.removeStageQuietly(AWSPENDING, token);
      const other = pendingVersion(again);
      throw other ? await this.inProgress(other) : this.notConfigured();
    }
  }

  async status(now: Date): Promise<ManagedRotationStatus> {
    const described = await this.secret.describe();
    const pending = pendingVersion(described);
    let since: Date | undefined;
    if (pending) since = (await this.secret.listVersions()).find((v) => v.versionId === pending)?.createdDate;
    const windowMs = parseWindow(described.rotationWindow) ?? DEFAULT_WINDOW_MS;
    return {
      enabled: described.rotationEnabled && described.rotationLambdaArn !== undefined,
      ...(described.scheduleExpression ? { schedule: described.scheduleExpression } : {}),
      ...(described.rotationWindow ? { window: described.rotationWindow } : {}),
      ...(described.lastRotatedDate ? { lastRotated: described.lastRotatedDate.toISOString() } : {}),
      ...(described.nextRotationDate ? { nextRotation: described.nextRotationDate.toISOString() } : {}),
      ...(pending
        ? {
            pending: {
              versionId: pending,
              ...(since ? { since: since.toISOString() } : {}),
              stuck: since !== undefined && now.getTime() - since.getTime() > windowMs,
              clear: clearCommand(this.secret.secretId, pending),
            },
          }
        : {}),
      ...leftoverLabels(this.secret.secretId, described.versionIdsToStages),
    };
  }

  /** Polls until `token` is AWSCURRENT (done), has lost AWSPENDING (failed), or the wait is over. */
  async waitFor(token: string, request: { readonly timeoutMs: number; readonly onProgress?: (message: string) => void }): Promise<KeysetSnapshot> {
    const start = this.clock().getTime();
    for (let look = 0; ; look++) {
      const stages = (await this.secret.describe()).versionIdsToStages[token] ?? [];
      if (stages.includes(AWSCURRENT)) return this.readCurrent();
      if (!stages.includes(AWSPENDING)) {
        throw new KeyManagementError(
          'ROTATION_FAILED',
          `Secrets Manager's rotation ${token} of secret ${this.secret.secretId} ended without making its version current: the rotation function refused or failed it, and AWSCURRENT is unchanged (the function's log says why)`,
        );
      }
      const waited = this.clock().getTime() - start;
      if (waited >= request.timeoutMs) {
        throw new KeyManagementError(
          'ROTATION_IN_PROGRESS',
          `Secrets Manager's rotation ${token} of secret ${this.secret.secretId} has not finished after ${Math.round(waited / 1000)} s; it is still AWSPENDING (running, or failed in a step and waiting to be retried) — it is not known to have happened`,
        );
      }
      request.onProgress?.(`waiting for Secrets Manager to finish rotation ${token} (${Math.round(waited / 1000)} s)`);
      // A rotation takes a few seconds: look again soon at first, then every pollMs.
      await this.sleep(Math.min(250 * 2 ** Math.min(look, 4), this.pollMs, request.timeoutMs - waited));
    }
  }

  private notConfigured(): KeyManagementError {
    return new KeyManagementError(
      'ROTATION_FAILED',
      `secret ${this.secret.secretId} has no rotation function configured, so Secrets Manager cannot rotate it; deploy the stack (it configures the secret's rotation schedule)`,
    );
  }

  private async inProgress(versionId: string): Promise<KeyManagementError> {
    const since = (await this.secret.listVersions()).find((v) => v.versionId === versionId)?.createdDate;
    return new KeyManagementError(
      'ROTATION_IN_PROGRESS',
      `a rotation of secret ${this.secret.secretId} is already in progress (version ${versionId} is AWSPENDING${since ? ` since ${since.toISOString()}` : ''}); wait for it, or if it is stuck clear it with: ${clearCommand(this.secret.secretId, versionId)}`,
    );
  }
}

/** The version holding AWSPENDING when it is not also AWSCURRENT: Secrets Manager's sign of a rotation in progress. */
export function pendingVersion(described: Pick<SecretDescription, 'versionIdsToStages'>): string | undefined {
  for (const [versionId, stages] of Object.entries(described.versionIdsToStages)) {
    if (stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT)) return versionId;
  }
  return undefined;
}

/** Parses a rotation window Duration (`4h`); undefined when absent or not of that form. */
export function parseWindow(duration: string | undefined): number | undefined {
  const m = duration === undefined ? null : /^(\d{1,2})h$/.exec(duration);
  return m ? Number(m[1]) * 3_600_000 : undefined;
}

function clearCommand(secretId: string, versionId: string, label = AWSPENDING): string {
  return `aws secretsmanager update-secret-version-stage --secret-id ${secretId} --version-stage ${label} --remove-from-version-id ${versionId}`;
}

/**
 * Versions left with the store's staging label. A write removes it as soon as AWSCURRENT has moved (or was refused),
 * best effort: when that removal failed the label stays, and a labelled version is never deprecated or deleted by
 * Secrets Manager. The label on AWSCURRENT itself is left out: that is a write that has just landed.
 */
function leftoverLabels(secretId: string, stages: Readonly<Record<string, readonly string[]>>): Pick<ManagedRotationStatus, 'leftoverLabels'> {
  const left = Object.entries(stages)
    .filter(([, labels]) => labels.includes(STAGED_WRITE) && !labels.includes(AWSCURRENT))
    .map(([versionId]) => ({ versionId, label: STAGED_WRITE, clear: clearCommand(secretId, versionId, STAGED_WRITE) }));
  return left.length > 0 ? { leftoverLabels: left } : {};
}
