// `switchboard audit` against a real server recording into SQLite, the CLI run as a child process: filters,
// the table and --json, --follow picking up new records, a server without a store, and wrong flags (exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { definePlug, SqliteStore, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import WebSocket from 'ws';
import { runCli, tempDir } from './helpers.ts';

const echo = definePlug({ name: 'echo', messages: { 'echo.say': { input: z.object({ text: z.string() }), handler: (data) => data } } });
const BIN = fileURLToPath(new URL('../bin/switchboard.js', import.meta.url));

/** Sends `count` echo.say requests on a plain socket and waits for the replies. */
async function say(wsUrl: string, count: number): Promise<void> {
  const ws = new WebSocket(wsUrl, 'switchboard.v1.json');
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let replies = 0;
  const done = new Promise<void>((resolve) => ws.on('message', (raw) => JSON.parse(String(raw)).id !== undefined && ++replies === count && resolve()));
  for (let i = 0; i < count; i++) ws.send(JSON.stringify({ type: 'echo.say', id: i + 1, data: { text: `hello ${i}` } }));
  await done;
  ws.close();
}

async function settled(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 150));
}

test('audit: filters, table and JSON lines, oldest first', async () => {
  await using dir = await tempDir();
  await using t = await startTestServer({ plugs: [echo], store: new SqliteStore({ file: join(dir.path, 'db.sqlite') }), audit: { flushMs: 20 } });
  await say(t.wsUrl, 3);
  await settled();
  const lines = await runCli(['audit', '--url', t.url, '--type', 'message.in', '--message-type', 'echo.say', '--json'], { cwd: dir.path });
  assert.equal(lines.code, 0, lines.stderr);
  const records = lines.stdout.trim().split('\n').map((line) => JSON.parse(line) as { messageType: string; data: { payload: { text: string } } });
  assert.deepEqual(records.map((record) => record.data.payload.text), ['hello 0', 'hello 1', 'hello 2']);
  const table = await runCli(['audit', '--url', t.url, '--type', 'message.in', '--since', '1h'], { cwd: dir.path });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^TIME\s+TYPE\s+MESSAGE\s+USER\s+CONNECTION\s+WHERE\s+BYTES\s+OUTCOME\s+DETAIL/);
  // A request's row shows its reply: both sizes, both outcomes, how long it took, and both payloads.
  const says = table.stdout.trim().split('\n').filter((line) => / echo\.say /.test(line));
  assert.equal(says.length, 3, table.stdout);
  assert.ok(says.every((line) => /\d+ → \d+\s+ok → ok in [\d.]+ ms\s+\{"payload":\{"text":"hello \d"\},"id":\d,"reply":\{"payload":\{"text":"hello \d"\}\}\}/.test(line)), table.stdout);
  // An admin action: what was asked, what it got, from where.
  assert.equal((await fetch(`${t.url}/admin/rooms`, { method: 'POST', body: JSON.stringify({ kind: 'none' }) })).status, 404);
  await settled();
  const actions = await runCli(['audit', '--url', t.url, '--type', 'admin.request'], { cwd: dir.path });
  assert.match(actions.stdout, /admin\.request .* POST \/rooms → 404, from 127\.0\.0\.1: \{"kind":"none"\}/, actions.stdout);
  const none = await runCli(['audit', '--url', t.url, '--user', 'nobody'], { cwd: dir.path });
  assert.equal(none.stdout, 'no audit records match\n');
});

test('audit --follow prints records as they are written', async () => {
  await using dir = await tempDir();
  await using t = await startTestServer({ plugs: [echo], store: new SqliteStore({ file: join(dir.path, 'db.sqlite') }), audit: { flushMs: 20 } });
  const child = spawn(process.execPath, [BIN, 'audit', '--url', t.url, '--message-type', 'echo.say', '--type', 'message.in', '--json', '--follow'], { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await say(t.wsUrl, 2);
    const deadline = Date.now() + 8000;
    while (out.trim().split('\n').filter(Boolean).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(out.trim().split('\n').filter(Boolean).length, 2, `follow output: ${out}`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('audit: a server without a store, and wrong flags', async () => {
  await using dir = await tempDir();
  await using t = await startTestServer({ plugs: [echo] });
  const noStore = await runCli(['audit', '--url', t.url], { cwd: dir.path });
  assert.equal(noStore.code, 1);
  assert.match(noStore.stderr, /no_store/);
  for (const args of [['--since', 'yesterday-ish'], ['--limit', '0'], ['--user', ''], ['extra']]) {
    const result = await runCli(['audit', '--url', t.url, ...args], { cwd: dir.path });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
  }
});
