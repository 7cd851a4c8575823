// Attacks on the HTTP side: sockets that never finish an upgrade are closed, admin bodies that never arrive get 408.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { CloseCode } from '@switchboard/protocol';
import { createWsTransport, type TransportHandlers, type TransportSocket } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { AdminApi } from '../src/admin.ts';
import { RawClient } from './helpers.ts';

const TIMEOUT_MS = 300;

/** A plain HTTP server on 127.0.0.1:0, closed with `await using`. */
async function listen(http: HttpServer): Promise<{ port: number } & AsyncDisposable> {
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return {
    port: (http.address() as AddressInfo).port,
    async [Symbol.asyncDispose]() {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/** The ws transport on a bare HTTP server, with handlers that echo text frames; `upgrade` may be replaced. */
async function transportServer(upgradeTimeoutMs: number | undefined, upgrade: TransportHandlers<TransportSocket, undefined>['upgrade'] = () => ({ ok: true, context: undefined })) {
  const http = createHttpServer((_req, res) => res.end('plain http'));
  const transport = createWsTransport();
  const opened: TransportSocket[] = [];
  /** Emits 'close' with the code the transport reported for each WebSocket. */
  const closes = new EventEmitter<{ close: [number] }>();
  const handlers: TransportHandlers<TransportSocket, undefined> = {
    upgrade,
    selectProtocol: () => false,
    open: (socket) => {
      opened.push(socket);
      return socket;
    },
    message: (socket, data, isBinary) => {
      socket.write(transport.prepare(data.toString(), isBinary));
    },
    pong: () => {},
    close: (_socket, code) => {
      closes.emit('close', code);
    },
  };
  transport.attach(http, { path: '/ws', maxPayload: 1 << 20, upgradeTimeoutMs }, handlers);
  const server = await listen(http);
  return Object.assign(server, { opened, closes });
}

/** Opens a raw TCP connection; resolves with everything the server sent and how long until it closed the socket. */
async function rawSocket(port: number): Promise<{ socket: Socket; closed: Promise<{ text: string; ms: number }> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = performance.now();
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  // A reset (the server closed while this side still wrote) is how some of these end: not a failure.
  socket.on('error', () => {});
  const closed = new Promise<{ text: string; ms: number }>((resolve) => socket.once('close', () => resolve({ text, ms: performance.now() - started })));
  return { socket, closed };
}

// ---------------------------------------------------------------- the transport's upgrade deadline

test('a socket that sends nothing is answered 408 and closed after upgradeTimeoutMs', async () => {
  await using server = await transportServer(TIMEOUT_MS);
  const { closed } = await rawSocket(server.port);
  const { text, ms } = await closed;
  assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.ok(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + 2000, `closed after ${Math.round(ms)} ms`);
});

test('half a request head, or one trickled a byte at a time, is closed at the deadline', async () => {
  await using server = await transportServer(TIMEOUT_MS);
  const half = await rawSocket(server.port);
  half.socket.write('GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n');
  // A valid head that never ends: one more character of a header value every 20 ms defeats any idle timer.
  const trickle = await rawSocket(server.port);
  trickle.socket.write('GET /ws HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
  const timer = setInterval(() => trickle.socket.write('a'), 20);
  // The answer came: stop writing into a socket the server is closing.
  trickle.socket.once('data', () => clearInterval(timer));
  try {
    const [halfClosed, trickleClosed] = await Promise.all([half.closed, trickle.closed]);
    for (const [name, closed] of [['half request', halfClosed], ['trickled request', trickleClosed]] as const) {
      assert.match(closed.text, /^HTTP\/1\.1 408 /, name);
      assert.ok(closed.ms < TIMEOUT_MS + 2000, `${name} closed after ${Math.round(closed.ms)} ms`);
    }
  } finally {
    clearInterval(timer);
  }
  assert.equal(server.opened.length, 0);
});

test('a handshake stalled in the upgrade decision is closed at the deadline and never opens', async () => {
  let release: () => void = () => {};
  const decided = new Promise<void>((resolve) => (release = resolve));
  await using server = await transportServer(TIMEOUT_MS, async () => {
    await decided;
    return { ok: true, context: undefined };
  });
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
  const [error] = (await once(ws, 'error')) as [Error];
  assert.match(error.message, /408|socket hang up|closed/i);
  release();
  await sleep(10);
  assert.equal(server.opened.length, 0);
});

test('an upgraded WebSocket idle for three deadlines stays open', async () => {
  await using server = await transportServer(TIMEOUT_MS);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
  await once(ws, 'open');
  let closedEarly = false;
  ws.on('close', () => (closedEarly = true));
  await sleep(TIMEOUT_MS * 3);
  assert.equal(closedEarly, false);
  ws.send('still here');
  const [reply] = (await once(ws, 'message')) as [Buffer];
  assert.equal(reply.toString(), 'still here');
  ws.close();
  await once(ws, 'close');
});

test('a plain HTTP request that arrived in time is not cut off; its kept-alive socket takes another', async () => {
  await using server = await transportServer(TIMEOUT_MS);
  const raw = await rawSocket(server.port);
  raw.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await sleep(TIMEOUT_MS * 2);
  // Node's keepAliveTimeout (5 s) governs the idle kept-alive socket, not the upgrade deadline.
  raw.socket.end('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const { text } = await raw.closed;
  assert.equal(text.match(/HTTP\/1\.1 200 OK/g)?.length, 2, text);
  assert.doesNotMatch(text, /408/);
});

test('upgradeTimeoutMs 0 turns the deadline off', async () => {
  await using server = await transportServer(0);
  const raw = await rawSocket(server.port);
  let closed = false;
  void raw.closed.then(() => (closed = true));
  await sleep(TIMEOUT_MS * 2);
  assert.equal(closed, false);
  raw.socket.destroy();
});

test('a negative upgradeTimeoutMs is refused when the transport attaches', () => {
  const http = createHttpServer();
  const handlers = {} as TransportHandlers<unknown, unknown>;
  assert.throws(() => createWsTransport().attach(http, { path: '/ws', maxPayload: 1024, upgradeTimeoutMs: -1 }, handlers), RangeError);
});

/** Completes a WebSocket handshake by hand, writes `frame` raw, and resolves with the close code the server sent. */
async function closeCodeAfter(port: number, frame: Buffer): Promise<number> {
  const raw = await rawSocket(port);
  raw.socket.setEncoding('latin1');
  raw.socket.write(
    'GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  raw.socket.write(frame);
  const { text } = await raw.closed;
  const bytes = Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1');
  assert.equal(bytes[0], 0x88, 'a close frame');
  return bytes.readUInt16BE(2);
}

test('ws closes framing errors with 1002 and invalid UTF-8 with 1007, and the server is told the same code', async () => {
  await using server = await transportServer(TIMEOUT_MS);
  const cases = [
    { frame: [0x81, 0x02, 0x68, 0x69], code: CloseCode.protocolError }, // a client frame without a mask
    { frame: [0x81, 0x81, 0, 0, 0, 0, 0xff], code: CloseCode.invalidUtf8 }, // a masked (zero mask) text frame holding 0xff
  ];
  for (const { frame, code } of cases) {
    const reported = once(server.closes, 'close');
    assert.equal(await closeCodeAfter(server.port, Buffer.from(frame)), code);
    assert.deepEqual(await reported, [code]);
  }
});

// ---------------------------------------------------------------- the same through a real server

test('a real server closes a silent socket at the deadline and keeps its idle WebSockets', async () => {
  await using t = await startTestServer({ limits: { upgradeTimeoutMs: TIMEOUT_MS }, heartbeat: { intervalMs: 0 } });
  await using client = await RawClient.connect(t.wsUrl);
  const silent = await rawSocket(t.port);
  const { text, ms } = await silent.closed;
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.ok(ms < TIMEOUT_MS + 2000, `closed after ${Math.round(ms)} ms`);
  await sleep(TIMEOUT_MS * 2);
  assert.equal(client.closeCode, undefined);
  assert.deepEqual((await client.request('$ping')).data, {});
});

// ---------------------------------------------------------------- admin request bodies

/** An AdminApi with one POST route that echoes its body, on a bare HTTP server. */
async function adminServer(options: ConstructorParameters<typeof AdminApi>[2]) {
  const admin = new AdminApi('/admin', undefined, options);
  admin.route('POST', '/echo', (request) => ({ status: 200, body: { got: request.body } }));
  return listen(createHttpServer((req, res) => void admin.handle(req, res)));
}

/** Sends a raw request and resolves with the status, the parsed JSON body and whether the server closed the socket. */
async function rawRequest(port: number, head: string, body = ''): Promise<{ status: number; json: unknown; text: string }> {
  const raw = await rawSocket(port);
  raw.socket.write(head + body);
  const { text } = await raw.closed;
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  const json = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as unknown;
  return { status, json, text };
}

test('an admin body that never arrives gets 408 request_timeout and the connection is closed', async () => {
  await using server = await adminServer({ bodyTimeoutMs: TIMEOUT_MS });
  const started = performance.now();
  const head = 'POST /admin/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
  const { status, json, text } = await rawRequest(server.port, head, '{"partial":');
  assert.equal(status, 408);
  assert.equal((json as { error: { code: string } }).error.code, 'request_timeout');
  assert.match(text, /\r\nConnection: close\r\n/i);
  assert.ok(performance.now() - started < TIMEOUT_MS + 2000);
});

test('admin bodies over the limit get 413, whether Content-Length says so or the chunks do', async () => {
  await using server = await adminServer({ maxBodyBytes: 64 });
  const declared = await rawRequest(server.port, 'POST /admin/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n');
  assert.equal(declared.status, 413);
  assert.equal((declared.json as { error: { code: string } }).error.code, 'payload_too_large');
  const chunk = 'x'.repeat(100);
  const chunked = await rawRequest(
    server.port,
    'POST /admin/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n',
    `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
  );
  assert.equal(chunked.status, 413);
});

test('an admin body within the limits is read as before', async () => {
  await using server = await adminServer({ bodyTimeoutMs: TIMEOUT_MS, maxBodyBytes: 64 });
  const body = JSON.stringify({ a: 1 });
  const head = `POST /admin/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`;
  const { status, json } = await rawRequest(server.port, head, body);
  assert.equal(status, 200);
  assert.deepEqual(json, { got: { a: 1 } });
});
