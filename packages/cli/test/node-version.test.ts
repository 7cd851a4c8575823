// On a Node older than the supported minimum, every entry point says so in one line and exits 1: the CLI,
// and the repository's `npm start` and `npm test` (both start with scripts/check-node.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const launcher = fileURLToPath(new URL('../bin/switchboard.js', import.meta.url));
const gate = fileURLToPath(new URL('../../../scripts/check-node.js', import.meta.url));
const engines = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }).engines.node;
const minimum = /^>=(\d+)\.(\d+)$/.exec(engines)!.slice(1).map(Number) as [number, number];

/** An installed Node older than the minimum: SWITCHBOARD_OLD_NODE, or the machine's own /usr/bin/node. */
function oldNode(): { path: string; version: string } | undefined {
  for (const path of [process.env.SWITCHBOARD_OLD_NODE, '/usr/bin/node', '/usr/local/bin/node'].filter(Boolean) as string[]) {
    if (!existsSync(path)) continue;
    const version = execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    const [major, minor] = version.split('.').map(Number) as [number, number];
    if (major < minimum[0] || (major === minimum[0] && minor < minimum[1])) return { path, version };
  }
  return undefined;
}

test('the gates name the same minimum as "engines"', () => {
  for (const file of [launcher, gate]) {
    assert.match(readFileSync(file, 'utf8'), new RegExp(`const MINIMUM = \\[${minimum[0]}, ${minimum[1]}\\]`), file);
  }
  for (const file of ['package.json', 'packages/server/package.json', 'packages/client/package.json', 'packages/protocol/package.json', 'packages/postgres/package.json', 'packages/redis/package.json']) {
    assert.equal((JSON.parse(readFileSync(`${repo}${file}`, 'utf8')) as { engines: { node: string } }).engines.node, engines, file);
  }
  const scripts = (JSON.parse(readFileSync(`${repo}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts;
  for (const name of ['start', 'test']) assert.match(scripts[name]!, /^node scripts\/check-node\.js && /, `npm ${name} starts with the gate`);
});

test('on an old Node the CLI and the repository scripts print one line naming both versions and exit 1', (t) => {
  const old = oldNode();
  if (!old) {
    console.warn(`SKIPPED: no Node older than ${engines} found (set SWITCHBOARD_OLD_NODE to one) — the version gate is untested here`);
    t.skip(`no Node older than ${engines} on this machine`);
    return;
  }
  for (const [file, args] of [
    [launcher, ['--help']],
    [launcher, ['dev']],
    [gate, []],
  ] as const) {
    const result: SpawnSyncReturns<string> = spawnSync(old.path, [file, ...args], { encoding: 'utf8', cwd: repo });
    assert.equal(result.status, 1, `${file}: ${result.stderr}`);
    assert.equal(result.stdout, '');
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line, no stack trace:\n${result.stderr}`);
    assert.match(lines[0]!, new RegExp(`Node\\.js ${old.version.replaceAll('.', '\\.')} found; ${minimum.join('\\.')} or newer is needed`));
    assert.match(lines[0]!, /nodejs\.org|nvm install 24/);
  }
  // The current Node passes the gate silently.
  const current = spawnSync(process.execPath, [gate], { encoding: 'utf8' });
  assert.deepEqual([current.status, current.stderr], [0, '']);
});
