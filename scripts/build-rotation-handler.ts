/**
 * `npm run build`'s last step: the rotation handler bundled as the package ships it (lib/bundling.ts), into
 * dist/rotation-handler/index.js, the asset RotationFunction deploys. cdk.json runs it (`--quiet`) before each synth
 * of this repository's app, so a synth never deploys a bundle older than the sources.
 */
import * as path from 'node:path';
import { bundleLikeLambda, ROTATION_HANDLER_ASSET, ROTATION_HANDLER_ENTRY } from '../lib/bundling';

const root = path.resolve(__dirname, '..', '..');
bundleLikeLambda(root, ROTATION_HANDLER_ENTRY, path.join(root, ROTATION_HANDLER_ASSET), 'index').then(
  ({ file, bytes }) => process.argv.includes('--quiet') || process.stderr.write(`rotation handler: ${path.relative(root, file)} (${Math.round(bytes / 1024)} KiB)\n`),
  (err: unknown) => {
    process.stderr.write(`error: the rotation handler did not bundle: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
