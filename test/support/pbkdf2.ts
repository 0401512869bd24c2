/**
 * Watches node's asynchronous PBKDF2, calling through to it: how many calls, and the most running at once.
 * While watched, the synchronous one throws, since on the data path it would block the event loop.
 */
import type * as crypto from 'node:crypto';

export interface Pbkdf2Watch {
  readonly calls: number;
  readonly peak: number;
  restore(): void;
}

export function trackPbkdf2(): Pbkdf2Watch {
  // The CommonJS module object itself (not an import wrapper): what lambda/keys/derive.ts calls into.
  const module = jest.requireActual<typeof crypto>('node:crypto');
  const original = module.pbkdf2;
  let calls = 0;
  let peak = 0;
  let running = 0;
  const async = jest.spyOn(module, 'pbkdf2').mockImplementation(((...args: Parameters<typeof crypto.pbkdf2>) => {
    const done = args[5];
    calls++;
    peak = Math.max(peak, ++running);
    original(args[0], args[1], args[2], args[3], args[4], (err, key) => {
      running--;
      done(err, key);
    });
  }) as typeof crypto.pbkdf2);
  const sync = jest.spyOn(module, 'pbkdf2Sync').mockImplementation(() => {
    throw new Error('pbkdf2Sync ran: on the data path it blocks the event loop');
  });
  return {
    get calls() {
      return calls;
    },
    get peak() {
      return peak;
    },
    restore() {
      async.mockRestore();
      sync.mockRestore();
    },
  };
}
