/**
 * The documented way to get `key-manager` onto an operator's machine never runs a package of that name from
 * the public registry: outside this repository `npx key-manager` would fetch whatever a stranger published
 * under the name and run it with the operator's AWS credentials.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const operatorDocs = ['RUNBOOK.md', ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('installing the CLI', () => {
  it('the README says how operators install it: a reviewed checkout or a pinned tarball, and why not npx', () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('### Installing the package and the CLI'));
    expect(section).toMatch(/npm ci && npm install -g \./);
    expect(section).toMatch(/npm pack/);
    expect(section).toMatch(/sha256sum -c .*&& npm install -g \.\/alphapulse-keys-\d+\.\d+\.\d+\.tgz/);
    expect(section).toMatch(/never run `npx key-manager`[^.]*outside/i);
  });

  it('uses `npx key-manager` only in the repository quick start, never in operator procedures', () => {
    const readme = read('README.md');
    const quickStartEnd = readme.indexOf('## Using the library');
    const uses = [...readme.matchAll(/npx key-manager/g)].map((m) => m.index as number);
    const outsideQuickStart = uses.filter((i) => i > quickStartEnd && !/never run/i.test(readme.slice(readme.lastIndexOf('\n', i), i)));
    expect(outsideQuickStart.map((i) => readme.slice(i - 60, i + 20))).toEqual([]);
    for (const doc of operatorDocs) expect({ doc, npx: read(doc).includes('npx key-manager') }).toEqual({ doc, npx: false });
  });
});
