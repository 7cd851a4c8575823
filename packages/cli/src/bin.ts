#!/usr/bin/env node
// The `switchboard` (alias `socket`) executable: runs one command and turns its outcome into the exit code.
import { main } from './main.ts';

const outcome = await main(process.argv.slice(2));
// A server keeps the process alive and ends it from its signal handlers; everything else just finishes.
if (outcome !== 'running') process.exitCode = outcome;
