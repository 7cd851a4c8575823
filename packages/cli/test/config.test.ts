// Settings precedence: flags over environment variables over switchboard.config.ts over defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveSettings } from '../src/config.ts';
import { startCli, tempDir } from './helpers.ts';

async function project(dir: string, config: string | undefined): Promise<void> {
  for (const folder of ['plugs', 'public', 'from-config', 'from-env', 'from-flag', 'conf/plugs2']) await mkdir(join(dir, folder), { recursive: true });
  if (config !== undefined) await writeFile(join(dir, 'switchboard.config.ts'), config);
}

test('defaults apply when nothing is set', async () => {
  await using dir = await tempDir();
  await project(dir.path, undefined);
  const settings = await resolveSettings({ flags: {}, env: {}, cwd: dir.path, watchByDefault: true });
  assert.equal(settings.port, 3000);
  assert.equal(settings.host, '127.0.0.1');
  assert.equal(settings.plugs, join(dir.path, 'plugs'));
  assert.equal(settings.public, join(dir.path, 'public'));
  assert.equal(settings.watch, true);
  assert.equal(settings.logLevel, 'info');
  assert.equal(settings.configFile, undefined);
});

test('each setting: flag beats environment beats config file beats default', async () => {
  await using dir = await tempDir();
  await project(dir.path, "export default { port: 4001, host: '127.0.0.2', plugs: './from-config', public: './from-config', logLevel: 'warn' };\n");
  const file = await resolveSettings({ flags: {}, env: {}, cwd: dir.path, watchByDefault: false });
  assert.deepEqual(
    [file.port, file.host, file.plugs, file.public, file.logLevel],
    [4001, '127.0.0.2', join(dir.path, 'from-config'), join(dir.path, 'from-config'), 'warn'],
  );
  assert.equal(file.configFile, join(dir.path, 'switchboard.config.ts'));

  const env = { PORT: '4002', HOST: '127.0.0.3', SWITCHBOARD_PLUGS: 'from-env', SWITCHBOARD_PUBLIC: 'from-env', SWITCHBOARD_LOG_LEVEL: 'debug', SWITCHBOARD_WATCH: 'on' };
  const fromEnv = await resolveSettings({ flags: {}, env, cwd: dir.path, watchByDefault: false });
  assert.deepEqual(
    [fromEnv.port, fromEnv.host, fromEnv.plugs, fromEnv.public, fromEnv.logLevel, fromEnv.watch],
    [4002, '127.0.0.3', join(dir.path, 'from-env'), join(dir.path, 'from-env'), 'debug', true],
  );

  const flags = { port: '4003', host: '127.0.0.4', plugs: 'from-flag', public: 'from-flag', 'log-level': 'error', 'no-watch': true };
  const fromFlags = await resolveSettings({ flags, env, cwd: dir.path, watchByDefault: true });
  assert.deepEqual(
    [fromFlags.port, fromFlags.host, fromFlags.plugs, fromFlags.public, fromFlags.logLevel, fromFlags.watch],
    [4003, '127.0.0.4', join(dir.path, 'from-flag'), join(dir.path, 'from-flag'), 'error', false],
  );
});

test('a setting that is overridden is not read, so a bad lower value does not matter', async () => {
  await using dir = await tempDir();
  await project(dir.path, "export default { port: 'eighty' };\n");
  const settings = await resolveSettings({ flags: {}, env: { PORT: '0' }, cwd: dir.path, watchByDefault: true });
  assert.equal(settings.port, 0);
  const flagged = await resolveSettings({ flags: { port: '0' }, env: { PORT: 'abc' }, cwd: dir.path, watchByDefault: true });
  assert.equal(flagged.port, 0);
});

test('paths in the config file are relative to it; --config and SWITCHBOARD_CONFIG pick the file', async () => {
  await using dir = await tempDir();
  await project(dir.path, undefined);
  await writeFile(join(dir.path, 'conf', 'app.config.ts'), "export default { plugs: './plugs2', public: false, port: 4100 };\n");
  const viaFlag = await resolveSettings({ flags: { config: 'conf/app.config.ts' }, env: {}, cwd: dir.path, watchByDefault: true });
  assert.equal(viaFlag.plugs, join(dir.path, 'conf', 'plugs2'));
  assert.equal(viaFlag.public, false);
  assert.equal(viaFlag.port, 4100);
  const viaEnv = await resolveSettings({ flags: {}, env: { SWITCHBOARD_CONFIG: 'conf/app.config.ts' }, cwd: dir.path, watchByDefault: true });
  assert.equal(viaEnv.plugs, join(dir.path, 'conf', 'plugs2'));
});

test('--no-public and SWITCHBOARD_PUBLIC=false turn static files off; a missing ./public is simply not served', async () => {
  await using dir = await tempDir();
  await mkdir(join(dir.path, 'plugs'));
  assert.equal((await resolveSettings({ flags: {}, env: {}, cwd: dir.path, watchByDefault: true })).public, false);
  await mkdir(join(dir.path, 'public'));
  assert.equal((await resolveSettings({ flags: { 'no-public': true }, env: {}, cwd: dir.path, watchByDefault: true })).public, false);
  assert.equal((await resolveSettings({ flags: {}, env: { SWITCHBOARD_PUBLIC: 'false' }, cwd: dir.path, watchByDefault: true })).public, false);
});

test('the admin token comes from SWITCHBOARD_ADMIN_TOKEN over the config file; other config keys reach the server', async () => {
  await using dir = await tempDir();
  await project(dir.path, "export default { adminToken: 'from-the-config-file', idleTimeoutMs: 5000 };\n");
  const file = await resolveSettings({ flags: {}, env: {}, cwd: dir.path, watchByDefault: true });
  assert.deepEqual(file.server, { adminToken: 'from-the-config-file', idleTimeoutMs: 5000 });
  const env = await resolveSettings({ flags: {}, env: { SWITCHBOARD_ADMIN_TOKEN: 'from-the-environment' }, cwd: dir.path, watchByDefault: true });
  assert.equal(env.server.adminToken, 'from-the-environment');
});

test('through the bin: the config file sets the public folder, the environment overrides it, a flag overrides both', async () => {
  await using dir = await tempDir();
  await project(dir.path, "import { defineConfig } from '@switchboard/cli';\nexport default defineConfig({ public: './from-config' });\n");
  for (const folder of ['from-config', 'from-env', 'from-flag']) await writeFile(join(dir.path, folder, 'which.txt'), folder);
  const which = async (url: string) => (await fetch(`${url}/which.txt`)).text();

  {
    await using cli = await startCli(['dev', '--port', '0'], { cwd: dir.path });
    assert.equal(await which(cli.url), 'from-config');
  }
  {
    await using cli = await startCli(['dev', '--port', '0'], { cwd: dir.path, env: { SWITCHBOARD_PUBLIC: 'from-env' } });
    assert.equal(await which(cli.url), 'from-env');
  }
  {
    await using cli = await startCli(['dev', '--port', '0', '--public', 'from-flag'], { cwd: dir.path, env: { SWITCHBOARD_PUBLIC: 'from-env' } });
    assert.equal(await which(cli.url), 'from-flag');
  }
  {
    // PORT from the environment: 0, so the printed URL carries the port the OS picked.
    await using cli = await startCli(['dev'], { cwd: dir.path, env: { PORT: '0' } });
    assert.match(cli.url, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
  }
});
