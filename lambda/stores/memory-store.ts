import { ConflictError, KeyManagementError } from '../keys/errors';
import { type Keyset, keysetText, parseKeyset, serializeKeyset } from '../keys/keyset';
import { contentHandle } from './content-handle';
import type { KeysetSnapshot, KeysetStore } from './store';

/** In-process store for tests and benchmarks, with the same compare-and-set semantics as the others. */
export class MemoryStore implements KeysetStore {
  readonly kind = 'memory';
  readonly writable = true;
  /** Number of `read()` calls, for cache tests and benchmarks. */
  reads = 0;
  writes = 0;
  private text?: string;

  constructor(readonly location = 'memory', initial?: Keyset) {
    if (initial) this.text = serializeKeyset(initial);
  }

  async read(): Promise<KeysetSnapshot> {
    this.reads++;
    if (this.text === undefined) throw new KeyManagementError('KEYSET_NOT_FOUND', `no keyset in ${this.location}`);
    return { keyset: parseKeyset(this.text), handle: contentHandle(this.text) };
  }

  async write(next: Keyset, expected: string | null): Promise<KeysetSnapshot> {
    const current = this.text === undefined ? null : contentHandle(this.text);
    if (expected === null && current !== null) throw new KeyManagementError('KEYSET_EXISTS', `a keyset already exists in ${this.location}`);
    if (current !== expected) throw new ConflictError(`the keyset in ${this.location} changed since it was read`);
    const text = keysetText(next);
    this.text = text;
    this.writes++;
    return { keyset: next, handle: contentHandle(text) };
  }
}
