/**
 * Where this package is installed, from wherever the compiled or source file runs: the repository (`lambda/`, `lib/`,
 * `cli/` under ts-node or jest, or their `dist/` copies) or `node_modules/@alphapulse/keys`.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export const PACKAGE_NAME = '@alphapulse/keys';

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
}

/** The directory of this package's package.json, found by its name (a stray package.json on the way is skipped). */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && readPackageJson(file).name === PACKAGE_NAME) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${from}`);
  }
}

/** The package's version, as the CLI reports it. */
export function packageVersion(): string {
  return readPackageJson(path.join(packageRoot(), 'package.json')).version ?? '0.0.0';
}

function readPackageJson(file: string): PackageJson {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch {
    return {};
  }
}
