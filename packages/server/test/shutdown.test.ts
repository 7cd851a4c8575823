// Graceful shutdown: stop accepting, refuse new messages, finish running handlers, close 1001, respect the deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { CloseCode, ErrorCode } from '@switchboard/protocol';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';
import { slow } from './fixtures/slow-plug.ts';

test('close(): running handlers finish and reply, new messages are refused, clients get 1001', async () => {
  const t = await startTestServer({ plugs: [slow] });
  const client = await RawClient.connect(t.wsUrl);
  const inFlight = client.request('slow.wait', { ms: 300 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const closing = t.server.close({ timeoutMs: 5000 });
  const refused = await client.request('slow.wait', { ms: 1 });
  assert.equal(refused.error?.code, ErrorCode.shuttingDown);
  // No new connections.
  const late = new WebSocket(t.wsUrl);
  late.on('unexpected-response', () => late.emit('error', new Error('refused')));
  await assert.rejects(once(late, 'open'));
  assert.deepEqual((await inFlight).data, { waited: 300 });
  assert.equal(await client.waitClose(), CloseCode.goingAway);
  await closing;
});

test('close() forces what is left when the deadline passes', async () => {
  const t = await startTestServer({ plugs: [slow] });
  const client = await RawClient.connect(t.wsUrl);
  void client.request('slow.wait', { ms: 2_000 }).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = Date.now();
  await t.server.close({ timeoutMs: 300 });
  assert.ok(Date.now() - started < 3000, `shutdown took ${Date.now() - started} ms`);
  assert.ok([CloseCode.goingAway, 1006].includes((await client.waitClose()) as 1001 | 1006));
});

test('SIGTERM shuts a server process down gracefully and it exits 0', async () => {
  const script = fileURLToPath(new URL('./fixtures/signal-server.ts', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    const wsUrl = chunk.toString().trim();
    const client = await RawClient.connect(wsUrl);
    const inFlight = client.request('slow.wait', { ms: 200 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGTERM');
    assert.deepEqual((await inFlight).data, { waited: 200 });
    assert.equal(await client.waitClose(), CloseCode.goingAway);
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
