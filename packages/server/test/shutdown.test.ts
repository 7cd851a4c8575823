// Graceful shutdown: stop accepting, refuse new messages, finish running handlers, close 1001, respect the deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { CloseCode, ErrorCode } from '@switchboard/protocol';
import { definePlug, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

/** `gate.wait` pushes `gate.started`, then replies `{ released: true }` only once the test calls `open`. */
function gated() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const plug = definePlug({
    name: 'gate',
    messages: {
      'gate.wait': {
        input: z.object({}),
        async handler(_data, ctx) {
          ctx.send('gate.started');
          await gate;
          return { released: true };
        },
      },
    },
  });
  return { plug, open };
}

test('close(): running handlers finish and reply, new messages are refused, clients get 1001', async () => {
  const { plug, open } = gated();
  await using t = await startTestServer({ plugs: [plug] });
  try {
    await using client = await RawClient.connect(t.wsUrl);
    const inFlight = client.request('gate.wait', {});
    await client.next((e) => e.type === 'gate.started');
    const closing = t.server.close({ timeoutMs: 5000 });
    const refused = await client.request('gate.wait', {});
    assert.equal(refused.error?.code, ErrorCode.shuttingDown);
    // No new connections.
    const late = new WebSocket(t.wsUrl);
    late.on('unexpected-response', () => late.emit('error', new Error('refused')));
    await assert.rejects(once(late, 'open'));
    // The handler still runs, so the connection is still open (the refusal above was a round trip on it).
    assert.equal(client.closeCode, undefined);
    open();
    assert.deepEqual((await inFlight).data, { released: true });
    assert.equal(await client.waitClose(), CloseCode.goingAway);
    await closing;
  } finally {
    open();
  }
});

test('close() forces what is left when the deadline passes', async () => {
  const { plug, open } = gated();
  await using t = await startTestServer({ plugs: [plug] });
  try {
    await using client = await RawClient.connect(t.wsUrl);
    let answered = false;
    // A handler that never finishes on its own: close() must stop waiting for it at the deadline.
    client.request('gate.wait', {}).then(() => (answered = true), () => undefined);
    await client.next((e) => e.type === 'gate.started');
    const started = Date.now();
    await t.server.close({ timeoutMs: 300 });
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2000, `shutdown took ${took} ms with a 300 ms deadline`);
    // The close frame may or may not get out before the socket is destroyed.
    assert.ok([CloseCode.goingAway, 1006].includes((await client.waitClose()) as 1001 | 1006));
    assert.equal(answered, false);
  } finally {
    open();
  }
});

test('SIGTERM shuts a server process down gracefully and it exits 0', async () => {
  const script = fileURLToPath(new URL('./fixtures/signal-server.ts', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    const wsUrl = chunk.toString().trim();
    const client = await RawClient.connect(wsUrl);
    const inFlight = client.request('slow.wait', { ms: 200 });
    await client.next((e) => e.type === 'slow.started');
    child.kill('SIGTERM');
    assert.deepEqual((await inFlight).data, { waited: 200 });
    assert.equal(await client.waitClose(), CloseCode.goingAway);
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
