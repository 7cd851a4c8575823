#!/usr/bin/env node
// The `switchboard` (alias `socket`) command: checks the Node version, then runs the CLI.
// Plain JavaScript on purpose: on a Node too old for the CLI it must still run, and say so in one line.
import { existsSync } from 'node:fs';

// Keep in step with "engines" in package.json (a test checks it).
const MINIMUM = [22, 18];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < MINIMUM[0] || (major === MINIMUM[0] && minor < MINIMUM[1])) {
  console.error(
    `switchboard: Node.js ${process.versions.node} found; ${MINIMUM.join('.')} or newer is needed (24 recommended). ` +
      'Get it from https://nodejs.org, or with nvm: nvm install 24',
  );
  process.exit(1);
}

// In a clone of the repository the CLI runs from its TypeScript sources; an installed package runs its build
// (Node does not strip types under node_modules).
const source = new URL('../src/bin.ts', import.meta.url);
const entry = existsSync(source) && !source.pathname.includes('/node_modules/') ? source : new URL('../dist/bin.js', import.meta.url);
await import(entry.href);
