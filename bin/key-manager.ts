#!/usr/bin/env node
import { main } from '../cli/program';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = 1;
  },
);
