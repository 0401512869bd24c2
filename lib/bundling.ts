/**
 * The rotation Lambda's bundle: how it is built (esbuild settings shared by the build, `npm run bench` and the
 * tests, so the bundle that is measured and tested is the bundle that is deployed) and where the built one is.
 *
 * The package ships the handler pre-bundled (`npm run build` writes `dist/rotation-handler/index.js`): a consumer's
 * `cdk synth` then needs neither this repository's sources nor esbuild. `mainFields: ['module', 'main']` lets esbuild
 * take the AWS SDK v3's ES module builds, which tree-shake to ~345 KiB instead of ~557 KiB as CommonJS (measured in
 * DESIGN.md).
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../lambda/package-info';

export const ROTATION_HANDLER_ENTRY = 'lambda/rotation/handler.ts';

export const ROTATION_BUNDLING = {
  minify: true,
  sourceMap: false,
  target: 'node22',
  mainFields: ['module', 'main'],
  /**
   * Bundle the SDK rather than trust the runtime's copy: pinned versions, smaller cold start. The
   * exceptions are the credential providers the SDK's default chain reaches only through `import()`
   * after `fromEnv` fails: in Lambda the credentials are in the environment, so they never load.
   * Bundled, they and the STS/SSO clients they pull in were ~112 KiB of the bundle (370 → 258 KiB,
   * measured by `npm run bench`); left external, a misconfigured function would still resolve them
   * from the runtime's built-in SDK rather than fail.
   */
  externalModules: [
    '@aws-sdk/credential-provider-ini',
    '@aws-sdk/credential-provider-process',
    '@aws-sdk/credential-provider-sso',
    '@aws-sdk/credential-provider-web-identity',
  ] as string[],
} as const;

/**
 * The storage key's KMS client, taken from the SDK's per-command modules (`lambda/rotation/kms-client.modular.mjs`):
 * the client is required on first use, and esbuild keeps every module a lazily required package index re-exports
 * (all 55 commands and their schemas, ~22 KB of the bundle, parsed on every cold start), while the modules alone
 * tree-shake. Only the bundle changes; where the repository's sources are absent, the package is bundled as is.
 */
function kmsClientModules(root: string) {
  const importer = path.join(root, 'lambda', 'rotation', 'kms-client.ts');
  const modular = path.join(root, 'lambda', 'rotation', 'kms-client.modular.mjs');
  return {
    name: 'kms-client-modules',
    setup(build: { onResolve(options: { filter: RegExp }, resolve: (args: { importer: string }) => { path: string } | undefined): void }) {
      build.onResolve({ filter: /^@aws-sdk\/client-kms$/ }, (args) => (args.importer === importer && existsSync(modular) ? { path: modular } : undefined));
    },
  };
}

/** Bundles `entry` (relative to `root`) with ROTATION_BUNDLING into `outDir/<name>.js`; returns its path and size. */
export async function bundleLikeLambda(root: string, entry: string, outDir: string, outName = path.basename(entry, '.ts')): Promise<{ file: string; bytes: number }> {
  // A build-time dependency only: loaded here, never when a stack is synthesized.
  const { build } = await import('esbuild');
  const file = path.join(outDir, `${outName}.js`);
  await build({
    absWorkingDir: root,
    entryPoints: [path.join(root, entry)],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: ROTATION_BUNDLING.target,
    minify: ROTATION_BUNDLING.minify,
    sourcemap: ROTATION_BUNDLING.sourceMap,
    mainFields: [...ROTATION_BUNDLING.mainFields],
    external: [...ROTATION_BUNDLING.externalModules],
    plugins: [kmsClientModules(root)],
    logLevel: 'silent',
  });
  return { file, bytes: statSync(file).size };
}

/** Where `npm run build` puts the handler bundle, relative to the package root. */
export const ROTATION_HANDLER_ASSET = path.join('dist', 'rotation-handler');

/**
 * The directory holding the pre-built `index.js`, from wherever this file runs: `lib/` in the repository (ts-node,
 * jest), `dist/lib/` when compiled, or the same inside `node_modules/@alphapulse/keys`.
 */
export function rotationHandlerAssetDir(): string {
  return path.join(packageRoot(__dirname), ROTATION_HANDLER_ASSET);
}
