#!/usr/bin/env node
/**
 * The `key-manager` executable. Its exit status is what main() decided, never what Node does when the
 * event loop drains: a command awaiting something that holds no ref'd handle (an unref'd timer) would
 * otherwise end the process with status 0, no output and its work unfinished.
 */
import { main } from '../cli/program';

let finished = false;

// Only a bug gets here (main() still awaiting, nothing left that could wake it): fail loudly, never exit 0.
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  process.stderr.write('error [INTERNAL]: key-manager stopped before the command finished; its outcome is unknown — check with status, rerun with --debug and report this\n');
  process.exitCode = 1;
});

main(process.argv).then(
  (code) => exitAfterOutput(code),
  () => {
    process.stderr.write('error [INTERNAL]: unexpected failure; rerun with --debug for details\n');
    exitAfterOutput(1);
  },
);

/**
 * Exits as soon as stdout and stderr have handed their last bytes to the OS, so a lingering handle (an SDK
 * keep-alive socket, a background refresh) cannot hold the process. Not process.exit() at once: writes to a
 * pipe are asynchronous, and exiting before they drain cuts off piped output (`decrypt | ...`).
 */
function exitAfterOutput(code: number): void {
  finished = true;
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
