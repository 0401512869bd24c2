/**
 * The runtime's error messages are neutral (a service logs them); the CLI adds the key-manager command that fixes
 * each failure, by code and by the command and store that failed (cli/advice.ts).
 */
import { KeyManagementError } from '../../lambda/keys/errors';
import { createKeyset, destroyVersion, disableVersion, type Keyset, parseKeyset, rotateKeyset } from '../../lambda/keys/keyset';
import { type FailedCommand, warningWithAdvice, withAdvice } from '../../cli/advice';
import { EnvStore } from '../../lambda/stores/env-store';
import { MemoryStore } from '../../lambda/stores/memory-store';
import { material } from '../support/fixed';

const NOW = '2026-01-01T00:00:00.000Z';
const caught = (run: () => unknown): KeyManagementError => {
  try {
    run();
  } catch (err) {
    return err as KeyManagementError;
  }
  throw new Error('did not throw');
};
const line = (err: KeyManagementError, failed: FailedCommand) => withAdvice(err.code, err.message, failed);

describe('runtime messages carry no CLI advice; the CLI adds it', () => {
  let keyset: Keyset;
  beforeAll(() => {
    keyset = rotateKeyset(createKeyset({ material: material(1), now: NOW }), { material: material(2), now: NOW });
  });

  it('disabling the primary: rotate first, or an emergency rotation', () => {
    const err = caught(() => disableVersion(keyset, keyset.primary, { now: NOW, reason: 'x' }));
    expect(err.message).not.toMatch(/key-manager|--/);
    expect(line(err, { command: 'disable-version' })).toMatch(/'key-manager rotate'.*'key-manager rotate --emergency --reason <incident>'/);
  });

  it('destroying an enabled version: disable it first', () => {
    const err = caught(() => destroyVersion(keyset, keyset.primary, { now: NOW }));
    expect(err.message).not.toMatch(/key-manager/);
    expect(line(err, { command: 'destroy-version' })).toContain(`'key-manager disable-version --version ${keyset.primary} --reason <why>' first`);
  });

  it('a missing keyset: init on the same store, named again when it was named', async () => {
    const err = (await new MemoryStore('memory:test').read().catch((e: unknown) => e)) as KeyManagementError;
    expect(err.message).toBe('no keyset in memory:test');
    expect(line(err, { command: 'status', storeKind: 'vault', storeUri: 'vault:alphapulse/encryption/master_key', storeNamed: true })).toContain(
      "then run 'key-manager --store vault:alphapulse/encryption/master_key init' to create it",
    );
    expect(line(err, { command: 'status', storeKind: 'file', storeUri: 'file:.alphapulse/keyset.json', storeNamed: false })).toContain("run 'key-manager init' to create one");
    expect(line(err, { command: 'status', storeKind: 'file', storeUri: 'file:/x.json', storeNamed: true })).toContain("run 'key-manager init' with the same --store");
  });

  it('the read-only env store: import it', async () => {
    const err = (await new EnvStore({}).write().catch((e: unknown) => e)) as KeyManagementError;
    expect(err.message).not.toMatch(/key-manager/);
    expect(line(err, { command: 'rotate', storeKind: 'env' })).toContain("'key-manager --store file:PATH import-legacy --from-env'");
  });

  it('an unreadable keyset: the recover command on the same store, the backup named once', () => {
    const err = caught(() => parseKeyset('{"schema":1,"primary":'));
    expect(err.message).not.toMatch(/key-manager/);
    const advised = line(err, { command: 'status', storeKind: 'file', storeUri: 'file:/k.json', storeNamed: true });
    expect(advised).toBe(`${err.message}; to restore it: 'key-manager --store file:/k.json recover --in BACKUP --backup-key-file KEY'`);
    expect(advised.match(/restore it from a backup/g)).toHaveLength(1);
    expect(line(err, { command: 'status', storeKind: 'file', storeUri: 'file:.alphapulse/keyset.json', storeNamed: false })).toMatch(/; to restore it: 'key-manager recover --in BACKUP --backup-key-file KEY'$/);
    expect(line(err, { command: 'recover', storeKind: 'file', storeUri: 'file:/k.json', storeNamed: true })).toBe(err.message);
  });

  it('a lost compare-and-set: status shows the current keyset', () => {
    const err = new KeyManagementError('CONFLICT', 'the keyset changed since it was read; nothing was written — read the keyset again and retry if the change is still needed');
    expect(line(err, { command: 'rotate', storeKind: 'file', storeUri: 'file:/k.json', storeNamed: true })).toContain("'key-manager --store file:/k.json status' shows the current keyset");
  });
});

describe('the aws store', () => {
  const aws = { storeKind: 'aws', storeUri: 'aws:alphapulse/encryption/master_key', storeNamed: true } as const;

  it('an empty or missing secret: deploy the stack, or init the empty secret on the same store', () => {
    const message = 'secret alphapulse/encryption/master_key holds no keyset (no AWSCURRENT version, or no such secret); the stack creates the secret and its first keyset';
    expect(withAdvice('KEYSET_NOT_FOUND', message, { ...aws, command: 'status' })).toBe(`${message}; deploy the stack, or if the secret exists but is empty, run 'key-manager --store aws:alphapulse/encryption/master_key init'`);
    expect(withAdvice('KEYSET_NOT_FOUND', message, { ...aws, command: 'init' })).toBe(message);
  });

  it('no region: the flag or the variable', () => {
    const message = 'no AWS region for GetSecretValue on secret k: the client has none configured and AWS_REGION is unset';
    expect(withAdvice('INVALID_INPUT', message, { ...aws, command: 'status' })).toBe(`${message}; pass --region or set AWS_REGION`);
  });

  it('unreachable: the region and endpoint as the CLI takes them; an unknown write outcome: status on the same store', () => {
    const message = "Secrets Manager did not answer PutSecretValue on secret k (TimeoutError) after the SDK's retries, so whether it was applied is unknown; check the network path, the region and any endpoint override (AWS_ENDPOINT_URL), then check the keyset's status before retrying";
    expect(withAdvice('STORE_UNAVAILABLE', message, { ...aws, command: 'rotate' })).toBe(
      `${message}; key-manager takes the region and endpoint as --region and --endpoint-url; run 'key-manager --store aws:alphapulse/encryption/master_key status' to see whether it landed`,
    );
  });

  it('an unclassified SDK error: --debug shows it', () => {
    const message = 'Secrets Manager failed GetSecretValue on secret k with WeirdException; the error\'s cause is the SDK error';
    expect(withAdvice('STORE_UNAVAILABLE', message, { ...aws, command: 'status' })).toBe(`${message}; rerun with --debug to see it`);
  });

  it('an existing keyset and a rotation in progress: status on the same store', () => {
    expect(withAdvice('KEYSET_EXISTS', 'secret k already holds a keyset (AWSCURRENT); it was not overwritten', { ...aws, command: 'init' })).toMatch(/; 'key-manager --store aws:\S+ status' shows it$/);
    expect(withAdvice('ROTATION_IN_PROGRESS', 'a rotation of secret k is in progress; purge its history once it has finished', { ...aws, command: 'purge-history' })).toMatch(/; 'key-manager --store aws:\S+ status' shows when it has$/);
  });
});

describe('warnings of a command done only in part', () => {
  const aws = { command: 'destroy-version', storeKind: 'aws', storeUri: 'aws:alphapulse/encryption/master_key', storeNamed: true } as const;

  it('older Secrets Manager versions still holding destroyed material: purge-history on the same store', () => {
    const warning = "2 older version(s) of secret s still hold the destroyed material (a, b); ... — to finish, purge the secret's history after 2026-03-02T00:00:00.000Z";
    expect(warningWithAdvice(warning, aws)).toBe(`${warning}; run 'key-manager --store aws:alphapulse/encryption/master_key purge-history --confirm'`);
    expect(warningWithAdvice(warning, { ...aws, storeKind: 'vault' })).toBe(warning);
  });

  it('purge-history refused before the day is over: when to run it again', () => {
    const message = 'the newest version ... keeps any version for its first 24 hours — purge its history again after 2026-03-02T00:00:00.000Z';
    expect(withAdvice('INVALID_TRANSITION', message, { ...aws, command: 'purge-history' })).toBe(`${message}; then run 'key-manager --store aws:alphapulse/encryption/master_key purge-history --confirm'`);
  });
});
