// `switchboard rooms` against a real server with a room plug, the CLI run as a child process: list, create,
// inspect and close (text and --json), the admin token, where the URL comes from, unknown rooms, a server that
// cannot be reached, and wrong command lines (exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type RoomSession } from '@switchboard/client';
import { definePlug, defineRoom, z } from '@switchboard/server';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { resolveServerTarget } from '../src/config.ts';
import { runCli, tempDir, type CliResult } from './helpers.ts';

interface Counter {
  count: number;
  title: string;
}

const counter = defineRoom({
  access: 'public',
  options: z.object({ start: z.number().int().optional(), title: z.string().max(20).optional() }).optional(),
  create: (options): Counter => {
    const given = options as { start?: number; title?: string } | undefined;
    return { count: given?.start ?? 0, title: given?.title ?? 'counter' };
  },
  messages: {
    add: {
      input: z.object({ by: z.number().int() }),
      handler({ by }, ctx) {
        ctx.state.count += by;
        return ctx.state.count;
      },
    },
  },
});
const lobby = defineRoom({ access: 'public', create: () => ({}), messages: {} });
const plug = definePlug({ name: 'games', rooms: { counter, lobby }, messages: {} });

const ADMIN_TOKEN = 'a-test-admin-token-of-some-length';

function start(options: { adminToken?: string } = {}): Promise<TestServer> {
  // A dropped member keeps its seat longer than the test's CLI runs take on a loaded machine (the default 10 s
  // ran out in CI between the drop and `rooms inspect`, so the away member was gone).
  return startTestServer({ plugs: [plug], rooms: { seatHoldMs: 300_000 }, ...options });
}

/** `switchboard rooms <args>` in `cwd` (a folder without a config file unless the test writes one). */
function rooms(args: string[], cwd: string, env?: Record<string, string>): Promise<CliResult> {
  return runCli(['rooms', ...args], { cwd, env });
}

/** The run succeeded: exit 0, nothing on stderr. */
function ok(result: CliResult, label: string): string {
  assert.equal(result.code, 0, `${label}: exit code (stderr: ${result.stderr})`);
  assert.equal(result.stderr, '', `${label}: stderr`);
  return result.stdout;
}

/** A port nothing listens on: one the OS just gave out, and took back. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('where the server is: --url, else the host and port the project serves on; the token and the admin path', async () => {
  await using dir = await tempDir();
  const none = await resolveServerTarget({}, {}, dir.path);
  assert.deepEqual(none, { url: 'http://127.0.0.1:3000', adminPath: '/admin', adminToken: undefined, urlFromFlag: false });
  // A server on every interface is reached on loopback; an IPv6 host gets its brackets.
  assert.equal((await resolveServerTarget({}, { HOST: '0.0.0.0', PORT: '4000' }, dir.path)).url, 'http://127.0.0.1:4000');
  assert.equal((await resolveServerTarget({}, { HOST: '::', PORT: '4000' }, dir.path)).url, 'http://[::1]:4000');
  assert.equal((await resolveServerTarget({}, { HOST: '::1' }, dir.path)).url, 'http://[::1]:3000');
  // A config file: its port, host, admin path and token; the environment beats it; --url beats both.
  await writeFile(join(dir.path, 'switchboard.config.ts'), "export default { port: 4100, host: 'localhost', adminPath: '/ops/', adminToken: 'from-the-config-file' };\n");
  assert.deepEqual(await resolveServerTarget({}, {}, dir.path), { url: 'http://localhost:4100', adminPath: '/ops', adminToken: 'from-the-config-file', urlFromFlag: false });
  const env = { PORT: '4200', SWITCHBOARD_ADMIN_TOKEN: 'from-the-environment' };
  assert.deepEqual(await resolveServerTarget({}, env, dir.path), { url: 'http://localhost:4200', adminPath: '/ops', adminToken: 'from-the-environment', urlFromFlag: false });
  const flagged = await resolveServerTarget({ url: 'https://games.example.com/sb/', 'admin-token': 'from-the-flag' }, env, dir.path);
  assert.deepEqual(flagged, { url: 'https://games.example.com/sb', adminPath: '/ops', adminToken: 'from-the-flag', urlFromFlag: true });
});

test('list, create, inspect and close, as text and as --json', async () => {
  await using t = await start();
  await using dir = await tempDir();
  const url = ['--url', t.url];

  assert.equal(ok(await rooms(['list', ...url], dir.path), 'list (none)'), 'No rooms.\n');
  assert.deepEqual(JSON.parse(ok(await rooms(['list', '--json', ...url], dir.path), 'list --json (none)')), []);

  // create prints the id alone; --id names it; --options reach the room's create.
  const made = ok(await rooms(['create', 'counter', ...url], dir.path), 'create').trim();
  assert.match(made, /^[A-Za-z0-9_-]{1,64}$/);
  assert.equal(ok(await rooms(['create', 'counter', '--id', 'final', '--options', '{"start":40,"title":"Final"}', ...url], dir.path), 'create --id'), 'final\n');
  const created = JSON.parse(ok(await rooms(['create', 'lobby', '--json', ...url], dir.path), 'create --json')) as { id: string; kind: string; members: unknown[] };
  assert.equal(created.kind, 'lobby');
  assert.deepEqual(created.members, []);
  assert.deepEqual(t.server.rooms().map((room) => room.id).sort(), [made, 'final', created.id].sort());

  // Two members in "final", one of them away (its socket dropped, its seat held).
  using a = connect(t.wsUrl);
  using b = connect(t.wsUrl, { reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
  const seated: RoomSession<Counter> = a.join<Counter>({ room: 'final' });
  await seated.ready;
  await b.join({ room: 'final' }).ready;
  assert.equal(await seated.send('add', { by: 2 }), 42);
  t.dropConnections((connection) => connection.id === b.connectionId);
  const deadline = Date.now() + 5000;
  while (t.server.rooms().find((room) => room.id === 'final')?.members.some((member) => !member.present) !== true) {
    assert.ok(Date.now() < deadline, 'the server sees the member away');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }

  // list: a table with every room; --kind filters.
  const listed = ok(await rooms(['list', ...url], dir.path), 'list');
  const lines = listed.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+KIND\s+MEMBERS\s+RESTARTS\s+CREATED$/);
  assert.equal(lines.length, 4);
  const final = lines.find((line) => line.startsWith('final '));
  assert.match(final ?? '', /^final\s+counter\s+1\/2\s+0\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  const counters = ok(await rooms(['list', '--kind', 'counter', ...url], dir.path), 'list --kind');
  assert.equal(counters.trimEnd().split('\n').length, 3, 'the header and the two counters');
  assert.ok(!counters.includes('lobby'));
  assert.equal(ok(await rooms(['list', '--kind', 'nothing', ...url], dir.path), 'list --kind nothing'), 'No nothing rooms.\n');
  const asJson = JSON.parse(ok(await rooms(['list', '--kind', 'counter', '--json', ...url], dir.path), 'list --json')) as { id: string }[];
  assert.deepEqual(asJson.map((room) => room.id).sort(), [made, 'final'].sort());

  // inspect: the details, the members, and the state as JSON.
  const inspected = ok(await rooms(['inspect', 'final', ...url], dir.path), 'inspect');
  assert.match(inspected, /^Room final \(counter\)\n/);
  assert.match(inspected, /^ {2}plug {7}games \S+$/m);
  assert.match(inspected, /^ {2}members {4}2 \(1 present\)$/m);
  assert.match(inspected, new RegExp(`^ {4}${seated.member} {2}present$`, 'm'));
  assert.match(inspected, /away \(seat held\)/);
  const state = inspected.slice(inspected.indexOf('State:\n') + 'State:\n'.length);
  assert.deepEqual(JSON.parse(state), { count: 42, title: 'Final' });
  const detail = JSON.parse(ok(await rooms(['inspect', 'final', '--json', ...url], dir.path), 'inspect --json')) as { id: string; state: Counter; restarts: number };
  assert.deepEqual([detail.id, detail.state, detail.restarts], ['final', { count: 42, title: 'Final' }, 0]);

  // close: the members are told, with the message; the room is gone.
  const closed = new Promise<{ reason: string; message?: string }>((resolve) => seated.on('closed', resolve));
  assert.equal(
    ok(await rooms(['close', 'final', '--message', 'the tournament is over', ...url], dir.path), 'close'),
    'Closed room final; its members were told ("the tournament is over").\n',
  );
  assert.deepEqual(await closed, { reason: 'closed', message: 'the tournament is over' });
  assert.deepEqual(JSON.parse(ok(await rooms(['close', made, '--json', ...url], dir.path), 'close --json')), { closed: made });
  // An id that starts with "-" (one a plug or the admin API chose: generated ones never do) goes after "--".
  await t.server.createRoom('counter', undefined, '-dash');
  assert.deepEqual(JSON.parse(ok(await rooms(['close', '--json', ...url, '--', '-dash'], dir.path), 'close -- -dash')), { closed: '-dash' });
  assert.deepEqual(t.server.rooms().map((room) => room.id), [created.id]);
});

test('an unknown room, an unknown kind, bad options and an id taken: exit 1 with the server\'s code and message', async () => {
  await using t = await start();
  await using dir = await tempDir();
  await t.server.createRoom('counter', undefined, 'taken');
  const url = ['--url', t.url];
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['inspect', 'nope'], message: /^switchboard: the server refused: unknown_room: no room nope \(HTTP 404\)\n$/ },
    { args: ['close', 'nope'], message: /^switchboard: the server refused: unknown_room: no room nope \(HTTP 404\)\n$/ },
    { args: ['create', 'nothing'], message: /the server refused: unknown_room: no room kind "nothing" \(HTTP 404\)/ },
    { args: ['create', 'counter', '--options', '{"start":"ten"}'], message: /the server refused: invalid_payload: invalid options for a counter room \(HTTP 400\)/ },
    { args: ['create', 'counter', '--id', 'taken'], message: /the server refused: conflict: room taken exists \(HTTP 409\)/ },
    { args: ['create', 'counter', '--id', 'has space'], message: /the server refused: invalid_payload: a room id is 1 to 64/ },
  ];
  for (let first = 0; first < cases.length; first += 3) {
    const batch = cases.slice(first, first + 3);
    const results = await Promise.all(batch.map(({ args }) => rooms([...args, ...url], dir.path)));
    batch.forEach(({ args, message }, index) => {
      const result = results[index]!;
      assert.equal(result.code, 1, `rooms ${args.join(' ')}: exit code (stderr: ${result.stderr})`);
      assert.match(result.stderr, message, `rooms ${args.join(' ')}`);
      assert.equal(result.stdout, '');
    });
  }
  assert.deepEqual(t.server.rooms().map((room) => room.id), ['taken'], 'nothing was created');
});

test('a server that cannot be reached, or is not a Switchboard server: exit 1, saying so', async () => {
  await using dir = await tempDir();
  const port = await closedPort();
  const refused = await rooms(['list', '--url', `http://127.0.0.1:${port}`], dir.path);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`^switchboard: cannot reach a server at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): is it running\\? Check --url\\.\n$`));
  // The default address, when nothing names another: the hint says how to start one.
  const byDefault = await rooms(['list'], dir.path, { PORT: String(port) });
  assert.equal(byDefault.code, 1);
  assert.match(byDefault.stderr, /cannot reach a server at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): is it running\? Start it with "switchboard dev", or pass --url/);

  // Something answers, but not with the admin API: a server with no such route.
  await using t = await start();
  const elsewhere = await rooms(['list', '--url', `${t.url}/not-here`], dir.path);
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stderr, /^switchboard: GET http:\/\/127\.0\.0\.1:\d+\/not-here\/admin\/rooms answered HTTP 404, not as the Switchboard admin API does: is a Switchboard server there\? Check --url\.\n$/);
});

test('the admin token: refused without it, taken from --admin-token, SWITCHBOARD_ADMIN_TOKEN or the config file', async () => {
  await using t = await start({ adminToken: ADMIN_TOKEN });
  await using dir = await tempDir();
  await t.server.createRoom('counter', undefined, 'guarded');
  const url = ['--url', t.url];

  const refused = await rooms(['list', ...url], dir.path);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /the server refused: unauthorized: send "Authorization: Bearer <adminToken>" \(HTTP 401\)\n {2}The server has an admin token: set SWITCHBOARD_ADMIN_TOKEN \(or pass --admin-token\)\./);
  const wrong = await rooms(['list', ...url, '--admin-token', 'not-the-token-at-all'], dir.path);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /unauthorized.*\n {2}The admin token given is not the server's\./);

  assert.match(ok(await rooms(['list', ...url, '--admin-token', ADMIN_TOKEN], dir.path), '--admin-token'), /^guarded\s+counter/m);
  assert.match(ok(await rooms(['list', ...url], dir.path, { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN }), 'SWITCHBOARD_ADMIN_TOKEN'), /^guarded\s+counter/m);
  // The flag beats the variable.
  assert.equal((await rooms(['list', ...url, '--admin-token', 'not-the-token-at-all'], dir.path, { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN })).code, 1);

  // The project's config file: its port (no --url needed) and its adminToken.
  await writeFile(join(dir.path, 'switchboard.config.ts'), `export default { port: ${t.port}, adminToken: ${JSON.stringify(ADMIN_TOKEN)} };\n`);
  assert.match(ok(await rooms(['inspect', 'guarded'], dir.path), 'config file'), /^Room guarded \(counter\)/);
  // PORT beats the config file's port (and points at nothing here).
  const port = await closedPort();
  const overridden = await rooms(['list'], dir.path, { PORT: String(port) });
  assert.equal(overridden.code, 1);
  assert.match(overridden.stderr, new RegExp(`cannot reach a server at http://127\\.0\\.0\\.1:${port} `));
});

test('wrong command lines exit with 2 and say what is wrong', async () => {
  await using dir = await tempDir();
  const zero = join(dir.path, 'zero');
  const cases: { args: string[]; env?: Record<string, string>; message: RegExp }[] = [
    { args: [], message: /say what to do: list, create, inspect, close, as in "switchboard rooms list"/ },
    { args: ['lst'], message: /unknown subcommand "lst" for "rooms"; use one of list, create, inspect, close/ },
    { args: ['list', 'extra'], message: /unexpected argument "extra" for "rooms list"/ },
    { args: ['create'], message: /name the room kind, as in "switchboard rooms create tictactoe"/ },
    { args: ['inspect'], message: /name the room id, as in "switchboard rooms inspect / },
    { args: ['close', 'a', 'b'], message: /unexpected argument "b" for "rooms close"/ },
    { args: ['create', 'counter', '--options', '{bad'], message: /--options: expected JSON, as in --options '\{"title":"Retro"\}'/ },
    { args: ['list', '--options', '{}'], message: /--options is for "rooms create", not "rooms list"/ },
    { args: ['inspect', 'x', '--kind', 'counter'], message: /--kind is for "rooms list", not "rooms inspect"/ },
    { args: ['create', 'counter', '--message', 'hi'], message: /--message is for "rooms close", not "rooms create"/ },
    { args: ['list', '--url', 'ws://127.0.0.1:3000/ws'], message: /--url: expected an http:\/\/ or https:\/\/ URL/ },
    { args: ['list', '--url', 'localhost'], message: /--url: expected the server's URL, as in http:\/\/127\.0\.0\.1:3000, got "localhost"/ },
    { args: ['list', '--url'], message: /--url needs a value/ },
    { args: ['list', '--admin-token', ''], message: /--admin-token: expected a non-empty value/ },
    { args: ['list', '--frob'], message: /unknown flag --frob for "rooms"/ },
    { args: ['list'], env: { PORT: 'abc' }, message: /SB_CONFIG_INVALID: PORT: expected an integer from 0 to 65535/ },
    { args: ['list', '--config', join(zero, 'switchboard.config.ts')], message: /switchboard\.config\.ts: port is 0 \(a free port, picked when the server starts\): pass --url/ },
  ];
  await mkdir(zero);
  await writeFile(join(zero, 'switchboard.config.ts'), 'export default { port: 0 };\n');
  for (let first = 0; first < cases.length; first += 4) {
    const batch = cases.slice(first, first + 4);
    const results = await Promise.all(batch.map(({ args, env }) => rooms(args, dir.path, env)));
    batch.forEach(({ args, env, message }, index) => {
      const result = results[index]!;
      const label = `${env ? `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} ` : ''}switchboard rooms ${args.join(' ')}`;
      assert.equal(result.code, 2, `${label}: exit code (stderr: ${result.stderr})`);
      assert.match(result.stderr, message, label);
      assert.match(result.stderr, /See "switchboard rooms --help"\.|SB_CONFIG_INVALID/, `${label} points to help`);
      assert.equal(result.stdout, '', `${label} prints nothing on stdout`);
    });
  }
});
