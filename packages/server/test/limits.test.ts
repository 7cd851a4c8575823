// Limits with clear outcomes: frame size, rate limit, in-flight requests, slow consumers, dead and idle peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { CloseCode, ErrorCode } from '@switchboard/protocol';
import { definePlug, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { closeCodeOf, RawClient } from './helpers.ts';

const echo = definePlug({
  name: 'echo',
  messages: {
    'echo.say': { input: z.object({ text: z.string() }), handler: (data) => data },
    'echo.wait': {
      input: z.object({ ms: z.number().max(5000) }),
      handler: (data) => new Promise((resolve) => setTimeout(() => resolve({ waited: data.ms }), data.ms)),
    },
    'echo.flood': {
      input: z.object({ count: z.number().int().max(1000), size: z.number().int().max(1_000_000) }),
      async handler(data, ctx) {
        const blob = 'x'.repeat(data.size);
        // One message per event-loop turn: a reader that keeps up never has more than one queued.
        for (let i = 0; i < data.count; i++) {
          ctx.server.broadcast('echo.blob', { i, blob });
          await new Promise((resolve) => setImmediate(resolve));
        }
        return { sent: data.count };
      },
    },
  },
});


test('a frame over maxPayload closes the connection with 1009', async () => {
  await using t = await startTestServer({ plugs: [echo], limits: { maxPayload: 1024 } });
  await using client = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await client.request('echo.say', { text: 'x'.repeat(900) })).data, { text: 'x'.repeat(900) });
  const serverSawClose = closeCodeOf(t.server, [...t.server.connections()][0]!.id);
  client.sendRaw(JSON.stringify({ type: 'echo.say', id: 2, data: { text: 'x'.repeat(2000) } }));
  assert.equal(await client.waitClose(), CloseCode.messageTooBig);
  assert.equal(await serverSawClose, CloseCode.messageTooBig);
  assert.equal(t.server.connectionCount, 0);
});

test('over the rate limit: rate_limited per dropped message, then 1008 when it persists', async () => {
  await using t = await startTestServer({
    plugs: [echo],
    limits: { rateLimit: { messagesPerSecond: 5, burst: 5, closeAfter: 20, windowMs: 10_000 } },
  });
  await using client = await RawClient.connect(t.wsUrl);
  for (let id = 1; id <= 40; id++) client.sendRaw(JSON.stringify({ type: 'echo.say', id, data: { text: String(id) } }));
  assert.equal(await client.waitClose(), CloseCode.policyViolation);
  const replies = client.received.filter((e) => typeof e.id === 'number');
  const ok = replies.filter((e) => e.data !== undefined);
  const limited = replies.filter((e) => e.error?.code === ErrorCode.rateLimited);
  assert.ok(ok.length >= 5 && ok.length <= 7, `${ok.length} accepted`);
  assert.equal(limited.length, 20);
});

test('too many requests in flight are refused with rate_limited', async () => {
  await using t = await startTestServer({ plugs: [echo], limits: { maxInFlight: 2 } });
  await using client = await RawClient.connect(t.wsUrl);
  const replies = await Promise.all([1, 2, 3].map(() => client.request('echo.wait', { ms: 100 })));
  assert.deepEqual(
    replies.map((r) => r.error?.code ?? 'ok'),
    ['ok', 'ok', ErrorCode.rateLimited],
  );
});

test('a client that stops reading is closed as a slow consumer (4001) and the others keep receiving', async () => {
  await using t = await startTestServer({ plugs: [echo], limits: { maxBufferedBytes: 256 * 1024 } });
  await using slow = await RawClient.connect(t.wsUrl);
  await using fast = await RawClient.connect(t.wsUrl);
  const slowId = [...t.server.connections()].map((c) => c.id)[0]!;
  const serverSawClose = closeCodeOf(t.server, slowId);
  // Stop reading from the socket: the kernel buffers fill, then the server's send buffer.
  (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
  const reply = await fast.request('echo.flood', { count: 200, size: 100_000 });
  assert.deepEqual(reply.data, { sent: 200 });
  assert.equal(await serverSawClose, CloseCode.slowConsumer);
  (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
  assert.equal(await slow.waitClose(), CloseCode.slowConsumer);
  // Frames on one connection keep their order: every blob came before the reply that followed them.
  const blobs = fast.received.filter((e) => e.type === 'echo.blob').map((e) => (e.data as { i: number }).i);
  assert.deepEqual(blobs, Array.from({ length: 200 }, (_, i) => i));
  assert.equal(fast.closeCode, undefined);
});

test('a peer that stops answering pings is dropped', async () => {
  await using t = await startTestServer({ plugs: [echo], heartbeat: { intervalMs: 100 } });
  await using dead = await RawClient.connect(t.wsUrl);
  await using alive = await RawClient.connect(t.wsUrl);
  const [deadId] = [...t.server.connections()].map((c) => c.id);
  const closed = closeCodeOf(t.server, deadId!);
  (dead.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
  assert.equal(await closed, 1006);
  assert.equal(t.server.connectionCount, 1);
  assert.deepEqual((await alive.request('echo.say', { text: 'still here' })).data, { text: 'still here' });
});

test('an idle connection is closed with 4000; one that sends $ping stays', async () => {
  await using t = await startTestServer({ plugs: [echo], idleTimeoutMs: 300 });
  await using idle = await RawClient.connect(t.wsUrl);
  await using busy = await RawClient.connect(t.wsUrl);
  // Busy sends a $ping every 50 ms, well within the idle timeout, until idle has been closed.
  const pinging = setInterval(() => void busy.request('$ping').catch(() => undefined), 50);
  try {
    assert.equal(await idle.waitClose(), CloseCode.idleTimeout);
  } finally {
    clearInterval(pinging);
  }
  assert.deepEqual((await busy.request('$ping')).data, {});
  assert.equal(busy.closeCode, undefined);
});

test('over maxConnections the upgrade is refused with 503', async () => {
  await using t = await startTestServer({ plugs: [echo], limits: { maxConnections: 1 } });
  await using first = await RawClient.connect(t.wsUrl);
  const second = new WebSocket(t.wsUrl);
  const [, response] = (await once(second, 'unexpected-response')) as [unknown, { statusCode: number }];
  assert.equal(response.statusCode, 503);
  second.on('error', () => {});
  second.terminate();
  assert.deepEqual((await first.request('$ping')).data, {});
  assert.equal(first.closeCode, undefined);
});

test('a WebSocket upgrade on another path gets 404; unknown subprotocols get none', async () => {
  await using t = await startTestServer({ plugs: [echo] });
  const wrong = new WebSocket(t.wsUrl.replace('/ws', '/nope'));
  const [, response] = (await once(wrong, 'unexpected-response')) as [unknown, { statusCode: number }];
  assert.equal(response.statusCode, 404);
  wrong.on('error', () => {});
  wrong.terminate();

  await using json = await RawClient.connect(t.wsUrl, { protocols: ['switchboard.v1.json'] });
  assert.equal(json.ws.protocol, 'switchboard.v1.json');
  // Offered among unknown ones, the known subprotocol is picked.
  await using mixed = await RawClient.connect(t.wsUrl, { protocols: ['chat.v9', 'switchboard.v1.json'] });
  assert.equal(mixed.ws.protocol, 'switchboard.v1.json');
  // None offered: none agreed, and the connection speaks the default codec (JSON).
  await using plain = await RawClient.connect(t.wsUrl);
  assert.equal(plain.ws.protocol, '');
  assert.deepEqual((await plain.request('echo.say', { text: 'json' })).data, { text: 'json' });

  // Only unknown ones offered: the handshake answer names no subprotocol (so ws, like browsers, refuses it).
  const unknown = new WebSocket(t.wsUrl, ['chat.v9', 'mqtt']);
  const upgraded = once(unknown, 'upgrade');
  const opened = once(unknown, 'open');
  opened.catch(() => undefined);
  const [handshake] = (await upgraded) as [{ statusCode: number; headers: Record<string, string | undefined> }];
  assert.equal(handshake.statusCode, 101);
  assert.equal(handshake.headers['sec-websocket-protocol'], undefined);
  await assert.rejects(opened, /subprotocol/);
  assert.equal(unknown.protocol, '');
});

test('bad config values are refused with SB_CONFIG_INVALID naming the field', async () => {
  const { createServer } = await import('@switchboard/server');
  assert.throws(() => createServer({ port: 70000 }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'SB_CONFIG_INVALID');
    assert.match(error.message, /port/);
    return true;
  });
  assert.throws(() => createServer({ limits: { maxPayload: -1 } }), /limits\.maxPayload/);
});
