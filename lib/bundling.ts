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
