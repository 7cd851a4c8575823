// The files init and add write are strict, type-correct TypeScript: the project's own tsconfig passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { renderTemplates, writeRendered } from '../src/templates.ts';
import { packageNameFor } from '../src/commands/init.ts';

const require = createRequire(import.meta.url);

test('package names from folder names', () => {
  assert.equal(packageNameFor('My Chat App'), 'my-chat-app');
  assert.equal(packageNameFor('.hidden'), 'hidden');
  assert.equal(packageNameFor('___'), 'switchboard-app');
  assert.equal(packageNameFor('ok.name_1~x'), 'ok.name_1~x');
});

test('a generated project with an added plug typechecks under its own strict tsconfig', { timeout: 120_000 }, async () => {
  // Inside the repository (in a git-ignored .tmp folder), so that imports resolve to this workspace's
  // packages, as they would to installed ones in a real project.
  const base = fileURLToPath(new URL('../.tmp/', import.meta.url));
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, 'typecheck-'));
  try {
    await writeRendered(dir, await renderTemplates('project', { name: 'typecheck-app' }), { overwrite: false });
    await writeRendered(dir, await renderTemplates('plug', { name: 'rooms' }), { overwrite: false });
    const tsc = require.resolve('typescript/bin/tsc');
    const child = spawn(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    assert.equal(code, 0, output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
