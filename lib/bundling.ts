/**
 * esbuild settings for the rotation Lambda, shared by the CDK construct and `npm run bench` so the
 * bundle that is measured is the bundle that is deployed.
 *
 * `mainFields: ['module', 'main']` lets esbuild take the AWS SDK v3's ES module builds, which tree-shake
 * to ~345 KiB instead of ~557 KiB as CommonJS (measured in DESIGN.md).
 */
export const ROTATION_HANDLER_ENTRY = 'lambda/rotation/handler.ts';

export const ROTATION_BUNDLING = {
  minify: true,
  sourceMap: false,
  target: 'node22',
  mainFields: ['module', 'main'],
  /** Bundle the SDK rather than trust the runtime's copy: pinned versions, smaller cold start. */
  externalModules: [] as string[],
} as const;
