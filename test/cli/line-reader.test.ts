import { createReadStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { LineReader } from '../../cli/line-reader';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'line-reader-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

let files = 0;
async function fileWith(content: Buffer | string): Promise<string> {
  const file = path.join(dir, `in-${files++}`);
  await fs.writeFile(file, content);
  return file;
}

async function viaReader(file: string, chunkBytes: number, max = 1 << 20): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of new LineReader(file, max, chunkBytes).batches()) out.push(...batch);
  return out;
}

async function viaReadline(file: string, highWaterMark: number): Promise<string[]> {
  const out: string[] = [];
  for await (const line of createInterface({ input: createReadStream(file, { highWaterMark }), crlfDelay: Infinity })) out.push(line);
  return out;
}

describe('LineReader', () => {
  it('splits and decodes exactly as readline does, whatever the chunking', async () => {
    const pieces = fc.constantFrom('a', 'bc', '\n', '\r', '\r\n', '\n\n', 'é', '€', '😀', '{"x":1}', ' ');
    await fc.assert(
      fc.asyncProperty(fc.array(pieces, { maxLength: 40 }), fc.integer({ min: 1, max: 9 }), async (parts, chunk) => {
        const file = await fileWith(parts.join(''));
        expect(await viaReader(file, chunk)).toEqual(await viaReadline(file, chunk));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes a multi-byte character split across chunks, and invalid UTF-8 as readline does', async () => {
    const file = await fileWith(Buffer.concat([Buffer.from('ab€\n'), Buffer.from([0xe2, 0x82, 0x0a, 0xff, 0x41, 0x0a])]));
    for (const chunk of [1, 2, 3, 5]) expect(await viaReader(file, chunk)).toEqual(await viaReadline(file, 64));
  });

  it('fails a line over the limit as soon as it is read past it, naming its number', async () => {
    const file = await fileWith(`{"x":1}\n${'z'.repeat(5000)}\n{"x":3}\n`);
    await expect(viaReader(file, 64, 1024)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/^line 2 is longer than 1024 bytes/) });
    await expect(viaReader(file, 64, 5000)).resolves.toHaveLength(3);
  });

  it('counts the bytes read, and passes the read error on (a directory)', async () => {
    const file = await fileWith('one\ntwo');
    const reader = new LineReader(file, 100);
    const lines: string[] = [];
    for await (const batch of reader.batches()) lines.push(...batch);
    expect(lines).toEqual(['one', 'two']);
    expect(reader.bytes).toBe(7);
    await expect(viaReader(dir, 64)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
