/** Shared setup for the lifecycle command tests: a temp dir with a file store, and leak checks. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseKeyset } from '../../lambda/keys/keyset';
import { type CliResult, runCli } from './cli';

export interface Workspace {
  readonly dir: string;
  readonly keysetFile: string;
  readonly auditFile: string;
  km(args: string[], options?: { stdin?: string; env?: NodeJS.ProcessEnv; isTTY?: boolean }): Promise<CliResult>;
  /** The keyset file's exact bytes, or undefined if there is none. */
  keysetBytes(): Promise<Buffer | undefined>;
  /** Every piece of key material the store has held during the test. */
  readonly seenMaterial: Set<string>;
  /** Fails if any output, audit line or file under the dir (other than the keyset) holds seen key material. */
  assertNoKeyMaterial(outputs: CliResult[], extraTexts?: string[]): Promise<void>;
  cleanup(): Promise<void>;
}

export async function workspace(prefix = 'km-life-'): Promise<Workspace> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  const keysetFile = path.join(dir, 'keyset.json');
  const auditFile = path.join(dir, 'audit.jsonl');
  const seenMaterial = new Set<string>();
  const keysetBytes = async () => fs.readFile(keysetFile).catch(() => undefined);
  const remember = async () => {
    const bytes = await keysetBytes();
    let versions: readonly { material?: string }[] = [];
    try {
      versions = bytes ? parseKeyset(bytes.toString('utf8')).versions : [];
    } catch {
      // A test that corrupts the keyset on purpose: nothing readable in it to remember.
    }
    for (const v of versions) if (v.material) seenMaterial.add(v.material);
  };
  return {
    dir,
    keysetFile,
    auditFile,
    seenMaterial,
    keysetBytes,
    async km(args, options = {}) {
      await remember();
      const result = await runCli(['--store', `file:${keysetFile}`, ...args], { ...options, env: { ...(options.env ?? {}), KEY_MANAGER_AUDIT_LOG: auditFile } });
      await remember();
      return result;
    },
    async assertNoKeyMaterial(outputs, extraTexts = []) {
      const audit = await fs.readFile(auditFile, 'utf8').catch(() => '');
      const texts = [audit, ...extraTexts, ...outputs.flatMap((o) => [o.stdout, o.stderr])];
      for (const material of seenMaterial) {
        const forms = [material, Buffer.from(material, 'base64').toString('hex'), Buffer.from(material, 'base64').toString('base64url')];
        for (const text of texts) for (const form of forms) expect(text.includes(form)).toBe(false);
      }
    },
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

export async function auditEvents(file: string): Promise<Record<string, unknown>[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}
