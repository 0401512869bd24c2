/**
 * Input limits: each is enforced with a typed error that says what the limit is, and the largest
 * accepted input really works.
 */
import fc from 'fast-check';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { DEFAULT_MAX_LINE_BYTES } from '../../cli/commands/reencrypt';
import { main } from '../../cli/program';
import type { CliIo } from '../../cli/runtime';
import { KeyManager } from '../../lambda/key-manager';
import { CONTEXT_PATTERN, MAX_CONTEXT_LENGTH } from '../../lambda/keys/context';
import { MAX_BINARY_ENVELOPE_BYTES } from '../../lambda/keys/binary-envelope';
import { MAX_ENVELOPE_CHARS, MAX_PLAINTEXT_BYTES, parseEnvelope } from '../../lambda/keys/envelope';
import { KeyManagementError } from '../../lambda/keys/errors';
import { KEYSET_HEADROOM_BYTES, keysetCapacity, MAX_KEYSET_BYTES, MAX_REASON_LENGTH, parseKeyset, serializeKeyset } from '../../lambda/keys/keyset';
import { MemoryStore } from '../../lambda/stores/memory-store';
import { runCli } from '../support/cli';
import { SeededRandom, TestClock } from '../support/fixed';
import { Figures, scaled } from './figures';

const figures = new Figures('limits');
const tmpDirs: string[] = [];
const tmpDir = (prefix: string): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
};

async function codeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (err) {
    if (err instanceof KeyManagementError) return err.code;
    throw err;
  }
  return 'NO_ERROR';
}

async function errorOf(run: () => Promise<unknown>): Promise<KeyManagementError> {
  try {
    await run();
  } catch (err) {
    if (err instanceof KeyManagementError) return err;
    throw err;
  }
  throw new Error('expected a KeyManagementError');
}

async function freshManager(): Promise<KeyManager> {
  const manager = new KeyManager({ store: new MemoryStore(), clock: new TestClock().now, random: new SeededRandom('limits') });
  await manager.init();
  return manager;
}

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('input limits', () => {
  afterAll(() => {
    figures.print();
    for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('plaintext size', () => {
    it(`encrypts and decrypts exactly MAX_PLAINTEXT_BYTES (${MAX_PLAINTEXT_BYTES} bytes) and refuses one byte more`, async () => {
      const manager = await freshManager();
      const max = Buffer.alloc(MAX_PLAINTEXT_BYTES, 7);
      const compact = await manager.encryptCompact(max, 'bulk');
      expect(compact.length).toBeLessThanOrEqual(MAX_ENVELOPE_CHARS);
      expect((await manager.decrypt(compact)).equals(max)).toBe(true);
      const over = await errorOf(() => manager.encrypt(Buffer.alloc(MAX_PLAINTEXT_BYTES + 1), 'bulk'));
      expect(over.code).toBe('PLAINTEXT_TOO_LARGE');
      expect(over.message).toMatch(/at most 67108864 bytes \(64 MiB\).*split/);
      figures.cases += 2;
    });

    it(`binary: encrypts and decrypts MAX_PLAINTEXT_BYTES, refuses one byte more, and refuses an envelope over MAX_BINARY_ENVELOPE_BYTES (${MAX_BINARY_ENVELOPE_BYTES})`, async () => {
      const manager = await freshManager();
      const max = Buffer.alloc(MAX_PLAINTEXT_BYTES, 7);
      const binary = await manager.encryptBinary(max, 'bulk');
      expect(binary.length).toBeLessThanOrEqual(MAX_BINARY_ENVELOPE_BYTES);
      expect((await manager.decryptBinary(binary)).equals(max)).toBe(true);
      expect((await errorOf(() => manager.encryptBinary(Buffer.alloc(MAX_PLAINTEXT_BYTES + 1), 'bulk'))).code).toBe('PLAINTEXT_TOO_LARGE');
      const huge = Buffer.alloc(MAX_BINARY_ENVELOPE_BYTES + 1);
      binary.copy(huge, 0, 0, 64);
      const err = await errorOf(() => manager.decryptBinary(huge));
      expect(err.code).toBe('INVALID_ENVELOPE');
      expect(err.message).toContain(`over the ${MAX_BINARY_ENVELOPE_BYTES}-byte limit`);
      figures.cases += 3;
    });

    it('refuses an over-limit plaintext on stdin in the CLI without buffering it all', async () => {
      let sent = 0;
      const stdin = new Readable({
        read() {
          if (sent > MAX_PLAINTEXT_BYTES) {
            this.push(null);
            return;
          }
          const chunk = Buffer.alloc(4 * 1024 * 1024, 1);
          sent += chunk.length;
          this.push(chunk);
        },
      });
      const out = sink();
      const err = sink();
      const dir = tmpDir('limits-');
      const io: CliIo = { stdin, stdout: out.stream, stderr: err.stream, env: {}, isTTY: false };
      expect(await main(['node', 'key-manager', '--store', `file:${dir}/keyset.json`, 'init'], { ...io, stdin: Readable.from([]) })).toBe(0);
      const code = await main(['node', 'key-manager', '--store', `file:${dir}/keyset.json`, 'encrypt', '--context', 'bulk'], io);
      expect(code).toBe(1);
      expect(err.text()).toMatch(/error \[PLAINTEXT_TOO_LARGE\]: the input \(stdin\) is over 67108864 bytes/);
      expect(sent).toBeLessThanOrEqual(MAX_PLAINTEXT_BYTES + 8 * 1024 * 1024);
      figures.cases++;
    });

    it(`refuses an envelope over MAX_ENVELOPE_CHARS (${MAX_ENVELOPE_CHARS}) in every spelling before decoding it`, async () => {
      const manager = await freshManager();
      // A multiple of four, so only the length is wrong.
      const huge = 'A'.repeat(Math.ceil((MAX_ENVELOPE_CHARS + 1) / 4) * 4);
      for (const input of [`AP2:1:bulk:${huge}`, JSON.stringify({ ciphertext: huge, key_version: 1, context: 'bulk', algorithm: 'AES-256-GCM', format: 'AP2' })]) {
        const err = await errorOf(() => manager.decrypt(input));
        expect(err.code).toBe('INVALID_ENVELOPE');
        expect(err.message).toContain(`over the ${MAX_ENVELOPE_CHARS}-character limit`);
        figures.cases++;
      }
      // A record passed as an object is held to the same limit on its ciphertext.
      expect(() => parseEnvelope({ ciphertext: huge, key_version: 1, context: 'bulk', algorithm: 'AES-256-GCM', format: 'AP2' })).toThrow(
        expect.objectContaining({ code: 'INVALID_ENVELOPE' }),
      );
      figures.cases++;
    });
  });

  describe('context names', () => {
    it(`accepts exactly the names matching ${CONTEXT_PATTERN} (1-${MAX_CONTEXT_LENGTH} characters) for derive, encrypt and decrypt`, async () => {
      const manager = await freshManager();
      const names = fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.string({ unit: fc.constantFrom(...'aZ09_.-:|/ é\u0000\n'.split('')), minLength: 0, maxLength: 70 }),
        fc.integer({ min: 0, max: 200 }).map((n) => 'a'.repeat(n)),
        fc.stringMatching(CONTEXT_PATTERN),
      );
      await fc.assert(
        fc.asyncProperty(names, async (name) => {
          figures.cases++;
          const valid = CONTEXT_PATTERN.test(name);
          const derive = await codeOf(() => manager.deriveDataKey(name));
          const encrypt = await codeOf(() => manager.encrypt('x', name));
          expect([derive, encrypt]).toEqual(valid ? ['NO_ERROR', 'NO_ERROR'] : ['INVALID_CONTEXT', 'INVALID_CONTEXT']);
          if (!valid) {
            const err = await errorOf(() => manager.deriveDataKey(name));
            expect(err.message).toContain(`1-${MAX_CONTEXT_LENGTH} ASCII letters, digits`);
            expect(err.message.length).toBeLessThan(400);
            expect(await codeOf(() => manager.decrypt(`AP2:1:${name}:AAAA`))).toBe('INVALID_ENVELOPE');
          }
        }),
        { numRuns: scaled(1_500) },
      );
      expect(await codeOf(() => manager.encrypt('x', 'a'.repeat(MAX_CONTEXT_LENGTH)))).toBe('NO_ERROR');
      expect(await codeOf(() => manager.encrypt('x', 'a'.repeat(MAX_CONTEXT_LENGTH + 1)))).toBe('INVALID_CONTEXT');
    });
  });

  describe('JSON Lines line length in reencrypt', () => {
    const dir = tmpDir('limits-reencrypt-');
    const store = `file:${path.join(dir, 'keyset.json')}`;
    let run = 0;

    beforeAll(async () => {
      expect((await runCli(['--store', store, 'init'])).code).toBe(0);
    });

    async function reencrypt(lines: string[], maxLineBytes?: number): Promise<{ code: number; stderr: string; outExists: boolean; strays: string[] }> {
      run++;
      const input = path.join(dir, `in-${run}.jsonl`);
      const out = path.join(dir, `out-${run}.jsonl`);
      writeFileSync(input, lines.map((l) => `${l}\n`).join(''));
      // The lines are bare text of exact lengths, not JSON: --pass-through-invalid lets them through to the length check.
      const args = ['--store', store, 'reencrypt', '--in', input, '--out', out, '--pass-through-invalid', ...(maxLineBytes === undefined ? [] : ['--max-line-bytes', String(maxLineBytes)])];
      const r = await runCli(args);
      return { code: r.code, stderr: r.stderr, outExists: existsSync(out), strays: readdirSync(dir).filter((f) => f.includes('.tmp-')) };
    }

    it('accepts lines of exactly --max-line-bytes and refuses one byte more, naming the line, across read-chunk boundaries', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 150_000 }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 4 }), fc.nat(), async (max, shape, which) => {
          figures.cases++;
          // Line lengths just under, at, or just over the limit; at most one line over it.
          const over = shape.some((s) => s === 2) ? which % shape.length : -1;
          const lines = shape.map((_s, i) => 'x'.repeat(i === over ? max + 1 : Math.max(0, max - (i % 2))));
          const r = await reencrypt(lines, max);
          if (over < 0) {
            expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
            expect(r.outExists).toBe(true);
          } else {
            expect(r.code).toBe(1);
            expect(r.stderr).toContain(`error [INVALID_INPUT]: line ${over + 1} is longer than ${max} bytes (--max-line-bytes); nothing was written`);
            expect(r.outExists).toBe(false);
          }
          expect(r.strays).toEqual([]);
        }),
        { numRuns: scaled(60) },
      );
    });

    it(`holds the default limit of ${DEFAULT_MAX_LINE_BYTES} bytes (16 MiB)`, async () => {
      expect((await reencrypt(['x'.repeat(DEFAULT_MAX_LINE_BYTES)])).code).toBe(0);
      const r = await reencrypt(['{}', 'x'.repeat(DEFAULT_MAX_LINE_BYTES + 1)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`line 2 is longer than ${DEFAULT_MAX_LINE_BYTES} bytes`);
      figures.cases += 2;
    });

    it('refuses a bad --max-line-bytes as a usage error with the reason', async () => {
      for (const bad of ['0', '-1', '1.5', 'lots']) {
        const r = await runCli(['--store', store, 'reencrypt', '--in', path.join(dir, 'in-1.jsonl'), '--out', path.join(dir, `bad-${bad}.jsonl`), '--max-line-bytes', bad]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('--max-line-bytes must be a positive whole number');
        figures.cases++;
      }
    });
  });

  describe('keyset size (the 64 KB Secrets Manager limit)', () => {
    it('rotates exactly as many times as capacity predicts, then refuses with KEYSET_TOO_LARGE and writes nothing', async () => {
      const manager = await freshManager();
      const predicted = keysetCapacity((await manager.readFresh()).keyset).versionsThatFit;
      let rotations = 0;
      let refusal: KeyManagementError | undefined;
      while (!refusal) {
        try {
          await manager.rotate();
          rotations++;
        } catch (err) {
          refusal = err as KeyManagementError;
        }
        expect(rotations).toBeLessThan(10_000);
      }
      figures.cases += rotations + 1;
      figures.add('versionsThatFit', rotations + 1);
      expect(refusal).toBeInstanceOf(KeyManagementError);
      expect(refusal.code).toBe('KEYSET_TOO_LARGE');
      expect(refusal.message).toMatch(/over the 64512-byte budget of a 65536-byte secret.*destroy/);
      expect(rotations).toBe(predicted);
      const { keyset } = await manager.readFresh();
      expect(keyset.versions).toHaveLength(rotations + 1);
      expect(keysetCapacity(keyset).versionsThatFit).toBe(0);
      expect(Buffer.byteLength(serializeKeyset(keyset))).toBeLessThanOrEqual(MAX_KEYSET_BYTES - KEYSET_HEADROOM_BYTES);
    });

    it('still disables (with the longest reason) and destroys versions of a full keyset: the headroom is for exactly that', async () => {
      // Regression: disable was held to the growth budget, so a full keyset could not disable a
      // compromised version, and the advice in KEYSET_TOO_LARGE could not be followed.
      const manager = await freshManager();
      for (;;) {
        if ((await codeOf(() => manager.rotate())) !== 'NO_ERROR') break;
      }
      const before = Buffer.byteLength(serializeKeyset((await manager.readFresh()).keyset));
      await manager.disableVersion(1, 'r'.repeat(MAX_REASON_LENGTH));
      await manager.destroyVersion(1);
      await manager.disableVersion(2, 'compromised');
      await manager.destroyVersion(2);
      const after = (await manager.readFresh()).keyset;
      expect(after.versions[0]).toMatchObject({ state: 'destroyed' });
      expect(Buffer.byteLength(serializeKeyset(after))).toBeLessThanOrEqual(MAX_KEYSET_BYTES);
      figures.cases += 4;
      figures.add('destroyGrowsBytes', Buffer.byteLength(serializeKeyset(after)) - before);
    });

    it('makes room when destroyed versions are pruned, as the KEYSET_TOO_LARGE advice says: rotation resumes, numbers are never reused', async () => {
      const manager = await freshManager();
      const early = await manager.encrypt('under version 1', 'trading_data');
      for (;;) {
        if ((await codeOf(() => manager.rotate())) !== 'NO_ERROR') break;
      }
      const full = (await manager.readFresh()).keyset;
      const latest = full.versions[full.versions.length - 1].version;
      for (const v of [1, 2, 3]) {
        await manager.disableVersion(v, 'retired');
        await manager.destroyVersion(v);
      }
      expect(keysetCapacity((await manager.readFresh()).keyset).versionsThatFit).toBeGreaterThan(0);
      const rotated = await manager.rotate();
      expect(rotated.toVersion).toBe(latest + 1);
      const after = (await manager.readFresh()).keyset;
      expect(after.pruned).toEqual([[1, 3]]);
      expect(after.versions.some((v) => v.version <= 3)).toBe(false);
      expect(Buffer.byteLength(serializeKeyset(after))).toBeLessThanOrEqual(MAX_KEYSET_BYTES - KEYSET_HEADROOM_BYTES);
      await expect(manager.decrypt(early)).rejects.toMatchObject({ code: 'VERSION_DESTROYED' });
      figures.cases += 8;
    });

    it('refuses to disable past the hard limit with KEYSET_TOO_LARGE, never an unparseable write', async () => {
      const manager = await freshManager();
      for (;;) {
        if ((await codeOf(() => manager.rotate())) !== 'NO_ERROR') break;
      }
      let version = 1;
      let code = 'NO_ERROR';
      while (code === 'NO_ERROR') {
        // A lone surrogate serializes as a 6-byte \ud800 escape: the costliest character a reason may hold now
        // that control characters (also 6 bytes escaped) are refused.
        code = await codeOf(() => manager.disableVersion(version++, '\ud800'.repeat(MAX_REASON_LENGTH)));
        figures.cases++;
      }
      expect(code).toBe('KEYSET_TOO_LARGE');
      const text = serializeKeyset((await manager.readFresh()).keyset);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_KEYSET_BYTES);
      expect(() => parseKeyset(text)).not.toThrow();
    });

    it('refuses a reason over the limit', async () => {
      const manager = await freshManager();
      await manager.rotate();
      expect(await codeOf(() => manager.disableVersion(1, 'r'.repeat(MAX_REASON_LENGTH + 1)))).toBe('INVALID_INPUT');
      expect(await codeOf(() => manager.rotate({ emergency: true, reason: 'r'.repeat(MAX_REASON_LENGTH + 1) }))).toBe('INVALID_INPUT');
      figures.cases += 2;
    });
  });
});
