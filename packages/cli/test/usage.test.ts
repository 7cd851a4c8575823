// Help for every command under both bin names; every wrong argument gets a message naming it and exit code 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, tempDir } from './helpers.ts';

test('--help, -h and "help <command>" for the program and every command', async () => {
  await using dir = await tempDir();
  const main = await runCli(['--help'], { cwd: dir.path });
  assert.equal(main.code, 0);
  for (const command of ['init', 'dev', 'start', 'add', 'test', 'rooms', 'audit', 'help']) assert.match(main.stdout, new RegExp(`^  ${command}\\b`, 'm'));
  assert.equal(main.stderr, '');

  await Promise.all(
    ['init', 'dev', 'start', 'add', 'test', 'rooms', 'audit'].map(async (command) => {
      const long = await runCli([command, '--help'], { cwd: dir.path });
      assert.equal(long.code, 0, `${command} --help`);
      assert.match(long.stdout, new RegExp(`^Usage: switchboard ${command}\\b`), `${command} --help`);
      const short = await runCli([command, '-h'], { cwd: dir.path });
      assert.equal(short.stdout, long.stdout);
      const viaHelp = await runCli(['help', command], { cwd: dir.path });
      assert.equal(viaHelp.stdout, long.stdout);
    }),
  );
  // The serving commands document every flag and variable they read.
  const dev = await runCli(['dev', '--help'], { cwd: dir.path });
  for (const word of ['--port', '--host', '--plugs', '--public', '--no-public', '--watch', '--no-watch', '--config', '--log-level']) {
    assert.ok(dev.stdout.includes(word), `dev --help mentions ${word}`);
  }
  for (const variable of ['PORT', 'HOST', 'SWITCHBOARD_PLUGS', 'SWITCHBOARD_PUBLIC', 'SWITCHBOARD_WATCH', 'SWITCHBOARD_CONFIG', 'SWITCHBOARD_LOG_LEVEL', 'SWITCHBOARD_ADMIN_TOKEN']) {
    assert.ok(dev.stdout.includes(variable), `dev --help mentions ${variable}`);
  }
  assert.match(dev.stdout, /Precedence: flags, then environment variables, then switchboard\.config\.ts, then defaults/);
});

test('the socket bin is the same program as switchboard, under its own name', async () => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string> };
  assert.deepEqual(Object.keys(pkg.bin).sort(), ['socket', 'switchboard']);
  assert.equal(pkg.bin.socket, pkg.bin.switchboard, 'both names run the same file');
  const target = fileURLToPath(new URL(`../${pkg.bin.switchboard}`, import.meta.url));
  assert.ok(existsSync(target), `${pkg.bin.switchboard} exists`);

  // Links named as npm names them on install: the program reads its name from the path it was started by.
  await using dir = await tempDir();
  const link = async (name: string) => {
    const path = join(dir.path, name);
    await symlink(target, path);
    return path;
  };
  const [switchboard, socket] = [await link('switchboard'), await link('socket')];
  const run = (bin: string, args: string[]) => runCli(args, { cwd: dir.path, bin, timeoutMs: 60_000 });

  const [help, socketHelp, devHelp, socketDevHelp, version, socketVersion, wrong] = await Promise.all([
    run(switchboard, ['--help']),
    run(socket, ['--help']),
    run(switchboard, ['dev', '--help']),
    run(socket, ['dev', '--help']),
    run(switchboard, ['--version']),
    run(socket, ['--version']),
    run(socket, ['frobnicate']),
  ]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: switchboard <command> \[flags\]$/m);
  assert.equal(socketHelp.code, 0, socketHelp.stderr);
  // The same text; only the program's name in it differs.
  assert.equal(socketHelp.stdout, help.stdout.replaceAll('switchboard ', 'socket '));
  assert.match(socketHelp.stdout, /^Usage: socket <command> \[flags\]$/m);
  assert.equal(socketDevHelp.stdout, devHelp.stdout.replaceAll('switchboard ', 'socket '));
  assert.match(socketDevHelp.stdout, /^Usage: socket dev\b/);
  assert.equal(socketVersion.stdout, version.stdout);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /^socket: unknown command "frobnicate"\nSee "socket --help"\.\n$/);
});

test('--version prints the package version', async () => {
  await using dir = await tempDir();
  const { code, stdout } = await runCli(['--version'], { cwd: dir.path });
  assert.equal(code, 0);
  assert.match(stdout, /^\d+\.\d+\.\d+\n$/);
});

test('bad command lines exit with 2 and say what is wrong', async () => {
  await using dir = await tempDir();
  await mkdir(join(dir.path, 'plugs'));
  const cases: { args: string[]; env?: Record<string, string>; message: RegExp }[] = [
    { args: ['frobnicate'], message: /unknown command "frobnicate"/ },
    { args: ['dve'], message: /unknown command "dve"; did you mean "dev"\?/ },
    { args: ['dev', '--port', 'abc'], message: /--port: expected an integer from 0 to 65535 .*got "abc"/ },
    { args: ['dev', '--port', '70000'], message: /--port: expected an integer from 0 to 65535/ },
    { args: ['dev', '--port'], message: /--port needs a value/ },
    { args: ['dev', '--frob'], message: /unknown flag --frob for "dev"/ },
    { args: ['dev', 'extra'], message: /unexpected argument "extra" for "dev"/ },
    { args: ['dev', '--watch=yes'], message: /--watch is a switch and takes no value/ },
    { args: ['dev', '--watch', '--no-watch'], message: /--watch and --no-watch contradict each other/ },
    { args: ['dev', '--public', 'www', '--no-public'], message: /--public and --no-public contradict each other/ },
    { args: ['dev', '--log-level', 'loud'], message: /--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"/ },
    { args: ['dev', '--config', 'missing.config.ts'], message: /--config: config file .*missing\.config\.ts does not exist/ },
    { args: ['start', '--host', ''], message: /--host: expected a non-empty value/ },
    { args: ['--port', 'abc'], message: /--port: expected an integer/ },
    { args: ['dev'], env: { PORT: 'abc' }, message: /SB_CONFIG_INVALID: PORT: expected an integer from 0 to 65535/ },
    { args: ['dev'], env: { SWITCHBOARD_WATCH: 'maybe' }, message: /SB_CONFIG_INVALID: SWITCHBOARD_WATCH: expected 1\/0, true\/false/ },
    { args: ['dev'], env: { SWITCHBOARD_LOG_LEVEL: 'loud' }, message: /SB_CONFIG_INVALID: SWITCHBOARD_LOG_LEVEL: expected one of/ },
    { args: ['init', 'a', 'b'], message: /unexpected argument "b" for "init"/ },
    { args: ['init', '--forse'], message: /unknown flag --forse for "init"/ },
    { args: ['add'], message: /say what to add, as in "switchboard add plug <name>"/ },
    { args: ['add', 'widget', 'x'], message: /cannot add "widget": only "plug" can be added/ },
    { args: ['add', 'plug'], message: /name the plug/ },
    { args: ['add', 'plug', '9lives'], message: /plug name "9lives" is not valid: start with a letter/ },
    { args: ['add', 'plug', 'has space'], message: /plug name "has space" is not valid/ },
    { args: ['add', 'plug', 'a'.repeat(65)], message: /is not valid: .*64 characters at most/ },
    { args: ['add', 'plug', 'x', 'y'], message: /unexpected argument "y" for "add"/ },
    { args: ['help', 'nope'], message: /unknown command "nope"/ },
    { args: ['test', '--frob'], message: /unknown flag --frob for "test"/ },
  ];
  // A few processes at a time: each case is its own short-lived CLI run.
  for (let start = 0; start < cases.length; start += 6) {
    const batch = cases.slice(start, start + 6);
    const results = await Promise.all(batch.map(({ args, env }) => runCli(args, { cwd: dir.path, env })));
    batch.forEach(({ args, env, message }, index) => {
      const result = results[index];
      const label = `${env ? `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} ` : ''}switchboard ${args.join(' ')}`;
      assert.ok(result);
      assert.equal(result.code, 2, `${label}: exit code (stderr: ${result.stderr})`);
      assert.match(result.stderr, message, label);
      assert.match(result.stderr, /See "switchboard( \w+)? --help"\.|SB_CONFIG_INVALID/, `${label} points to help`);
      assert.equal(result.stdout, '', `${label} prints nothing on stdout`);
    });
  }
});

test('a config file with a bad value or shape exits with 2 and names the file and the key', async () => {
  await using dir = await tempDir();
  await mkdir(join(dir.path, 'plugs'));
  const config = join(dir.path, 'switchboard.config.ts');

  await writeFile(config, "export default { port: 'eighty' };\n");
  let result = await runCli(['dev'], { cwd: dir.path });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /SB_CONFIG_INVALID: switchboard\.config\.ts: port: expected an integer/);

  await writeFile(config, 'export default { limits: { maxPayload: 1 } };\n');
  result = await runCli(['dev', '--port', '0'], { cwd: dir.path });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /SB_CONFIG_INVALID: .*limits\.maxPayload/);

  await writeFile(config, 'export default { watch: true };\n');
  result = await runCli(['dev'], { cwd: dir.path });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /"watch" is not a config setting/);

  await writeFile(config, 'export default 42;\n');
  result = await runCli(['start'], { cwd: dir.path });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /the default export must be a config object/);

  await writeFile(config, 'export default { port: ;\n');
  result = await runCli(['start'], { cwd: dir.path });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /SB_CONFIG_LOAD_FAILED: .*switchboard\.config\.ts/);
});
