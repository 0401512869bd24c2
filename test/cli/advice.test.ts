/**
 * The runtime's error messages are neutral (a service logs them); the CLI adds the key-manager command that fixes
 * each failure, by code and by the command and store that failed (cli/advice.ts).
 */
import { KeyManagementError } from '../../lambda/keys/errors';
import { createKeyset, destroyVersion, disableVersion, type Keyset, rotateKeyset } from '../../lambda/keys/keyset';
import { withAdvice, type FailedCommand } from '../../cli/advice';
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

  it('a lost compare-and-set: status shows the current keyset', () => {
    const err = new KeyManagementError('CONFLICT', 'the keyset changed since it was read; nothing was written — read the keyset again and retry if the change is still needed');
    expect(line(err, { command: 'rotate', storeKind: 'file', storeUri: 'file:/k.json', storeNamed: true })).toContain("'key-manager --store file:/k.json status' shows the current keyset");
  });
});
