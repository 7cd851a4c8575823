// `switchboard add plug`: where it writes, what it refuses, and a name rule that matches the server's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { definePlug, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { PLUG_NAME_PATTERN } from '../src/commands/add.ts';
import { runCli, tempDir } from './helpers.ts';

test('the CLI accepts exactly the plug names the server accepts', async () => {
  await using t = await startTestServer({ plugs: [] });
  const names = ['a', 'Z', 'chat', 'chat-room', 'chat_room', 'x9', 'a'.repeat(64), 'a'.repeat(65), '9lives', '-x', '_x', 'has space', 'dot.ted', 'ünï', ''];
  for (const name of names) {
    const plug = definePlug({ name, messages: { 'probe.ping': { input: z.object({}), handler: () => ({}) } } });
    const serverAccepts = await t.server.loadPlug(plug).then(
      async () => (await t.server.unloadPlug(name), true),
      () => false,
    );
    assert.equal(PLUG_NAME_PATTERN.test(name), serverAccepts, `name ${JSON.stringify(name)}`);
  }
});

test('add plug creates the plugs folder when missing and never overwrites', async () => {
  await using dir = await tempDir();
  const first = await runCli(['add', 'plug', 'rooms'], { cwd: dir.path });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /Created the plugs folder \.\/plugs\./);
  const plug = await readFile(join(dir.path, 'plugs', 'rooms.ts'), 'utf8');
  assert.match(plug, /name: 'rooms'/);
  assert.match(plug, /'rooms\.hello': \{/);
  assert.match(await readFile(join(dir.path, 'plugs', 'rooms.test.ts'), 'utf8'), /import plug from '\.\/rooms\.ts';/);

  // Only the test file exists: still refused, and the test file is left as it was.
  await writeFile(join(dir.path, 'plugs', 'lobby.test.ts'), '// mine\n');
  const refused = await runCli(['add', 'plug', 'lobby'], { cwd: dir.path });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /\.\/plugs\/lobby\.test\.ts exists already; pick another name or delete it first/);
  assert.equal(existsSync(join(dir.path, 'plugs', 'lobby.ts')), false);
  assert.equal(await readFile(join(dir.path, 'plugs', 'lobby.test.ts'), 'utf8'), '// mine\n');
});

test('add plug writes into the plugs folder chosen by --plugs, SWITCHBOARD_PLUGS or the config file', async () => {
  await using dir = await tempDir();
  await mkdir(join(dir.path, 'src'));
  await writeFile(join(dir.path, 'switchboard.config.ts'), "export default { plugs: './src/plugs' };\n");
  assert.equal((await runCli(['add', 'plug', 'one'], { cwd: dir.path })).code, 0);
  assert.ok(existsSync(join(dir.path, 'src', 'plugs', 'one.ts')));
  assert.equal((await runCli(['add', 'plug', 'two'], { cwd: dir.path, env: { SWITCHBOARD_PLUGS: 'env-plugs' } })).code, 0);
  assert.ok(existsSync(join(dir.path, 'env-plugs', 'two.ts')));
  assert.equal((await runCli(['add', 'plug', 'three', '--plugs', 'flag-plugs'], { cwd: dir.path, env: { SWITCHBOARD_PLUGS: 'env-plugs' } })).code, 0);
  assert.ok(existsSync(join(dir.path, 'flag-plugs', 'three.ts')));
});
