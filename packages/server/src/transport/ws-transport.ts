// The `ws` transport: upgrades on one path and writes prepared frames, coalesced once per event-loop turn.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import type { PreparedFrame, Transport, TransportHandlers, TransportOptions, TransportSocket } from './transport.ts';

type AnyHandlers = TransportHandlers<unknown, unknown>;


const kSocket = Symbol('switchboard.socket');
type WsWithSocket = WebSocket & { [kSocket]: WsSocket; _socket?: Socket };

// Sockets with frames waiting; written out together in one `setImmediate`.
let dirty: WsSocket[] = [];
let flushScheduled = false;

function flushAll(): void {
  const sockets = dirty;
  dirty = [];
  flushScheduled = false;
  for (const socket of sockets) socket.flush();
}

class WsSocket implements TransportSocket {
  readonly ws: WsWithSocket;
  readonly handlers: AnyHandlers;
  connection: unknown = undefined;
  /** The close code ws sent after a protocol error (it reports the close as 1006 otherwise). */
  errorCloseCode: number | undefined = undefined;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private socketBytes = 0;
  private scheduled = false;

  constructor(ws: WsWithSocket, handlers: AnyHandlers) {
    this.ws = ws;
    this.handlers = handlers;
  }

  get protocol(): string {
    return this.ws.protocol;
  }

  get bufferedAmount(): number {
    // Within one event-loop turn the socket's own buffer cannot shrink (nothing is written until the flush),
    // so once a frame is queued the figure read then stays exact: fan-out reads it once per turn, not per frame.
    if (!this.scheduled) this.socketBytes = this.ws.bufferedAmount;
    return this.queuedBytes + this.socketBytes;
  }

  write(frame: PreparedFrame): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.queue.push(frame.bytes);
    this.queuedBytes += frame.bytes.length;
    if (!this.scheduled) {
      this.scheduled = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
    return true;
  }

  flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    this.queuedBytes = 0;
    const raw = this.ws._socket;
    if (this.ws.readyState !== WebSocket.OPEN || !raw || raw.destroyed) return;
    if (queue.length === 1) {
      raw.write(queue[0]!);
      return;
    }
    raw.cork();
    for (const bytes of queue) raw.write(bytes);
    raw.uncork();
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  close(code: number, reason: string): void {
    this.flush();
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.queue = [];
    this.queuedBytes = 0;
    this.ws.terminate();
  }
}

// Named listeners shared by every socket: no closures per connection.
function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const socket = (this as WsWithSocket)[kSocket];
  socket.handlers.message(socket.connection, data, isBinary);
}
function onPong(this: WebSocket): void {
  const socket = (this as WsWithSocket)[kSocket];
  socket.handlers.pong(socket.connection);
}
function onClose(this: WebSocket, code: number, reason: Buffer): void {
  const socket = (this as WsWithSocket)[kSocket];
  const closeCode = code === 1006 && socket.errorCloseCode !== undefined ? socket.errorCloseCode : code;
  socket.handlers.close(socket.connection, closeCode, reason.toString());
}
function onError(this: WebSocket, error: Error & { code?: string }): void {
  // ws closes the socket itself after a protocol error and 'close' follows; keep the code it sent.
  (this as WsWithSocket)[kSocket].errorCloseCode =
    error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 1009 : error.code === 'WS_ERR_INVALID_UTF8' ? 1007 : 1002;
}

function refuse(duplex: Duplex, status: number, message: string, code?: string): void {
  if (duplex.destroyed) return;
  // With a code the body has the admin API's error shape, and the header lets clients read it without the body.
  const body = JSON.stringify(code === undefined ? { error: message } : { error: { code, message } });
  const header = code === undefined ? '' : `X-Switchboard-Error: ${code}\r\n`;
  duplex.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nConnection: close\r\nContent-Type: application/json\r\n${header}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  const texts: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };
  return texts[status] ?? 'Error';
}

/**
 * Creates the transport backed by `ws`.
 *
 * @example
 * const transport = createWsTransport();
 * transport.attach(httpServer, { path: '/ws', maxPayload: 1 << 20 }, handlers);
 */
export function createWsTransport(): Transport {
  let wss: WebSocketServer | undefined;
  return {
    attach<C, A>(server: HttpServer, options: TransportOptions, handlers: TransportHandlers<C, A>) {
      const anyHandlers = handlers as unknown as AnyHandlers;
      wss = new WebSocketServer({
        noServer: true,
        maxPayload: options.maxPayload,
        perMessageDeflate: false,
        clientTracking: false,
        handleProtocols: (offered) => handlers.selectProtocol(offered),
      });
      const current = wss;
      server.on('upgrade', (request: IncomingMessage, duplex: Duplex, head: Buffer) => {
        const path = (request.url ?? '/').split('?', 1)[0];
        if (path !== options.path) return refuse(duplex, 404, `no WebSocket endpoint at ${path}; use ${options.path}`);
        duplex.on('error', ignoreError);
        Promise.resolve(handlers.upgrade(request)).then(
          (decision) => {
            if (!decision.ok) return refuse(duplex, decision.status, decision.message, decision.code);
            if (duplex.destroyed) return;
            current.handleUpgrade(request, duplex, head, (ws) => {
              const socketWs = ws as WsWithSocket;
              const socket = new WsSocket(socketWs, anyHandlers);
              socketWs[kSocket] = socket;
              socket.connection = handlers.open(socket, request, decision.context);
              socketWs.on('message', onMessage);
              socketWs.on('pong', onPong);
              socketWs.on('close', onClose);
              socketWs.on('error', onError);
            });
          },
          () => refuse(duplex, 500, 'the server failed to accept the connection'),
        );
      });
    },
    prepare(payload, binary) {
      return prepareFrame(payload, binary);
    },
    close() {
      wss?.close();
    },
  };
}

/**
 * One unmasked, final server frame (RFC 6455 §5.2) in a single buffer: header and payload written once,
 * with no intermediate copies, because a broadcast shares this buffer among all its recipients.
 */
export function prepareFrame(payload: string | Uint8Array, binary: boolean): PreparedFrame {
  const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const bytes = Buffer.allocUnsafe(headerLength + length);
  bytes[0] = 0x80 | (binary ? 0x2 : 0x1);
  if (headerLength === 2) {
    bytes[1] = length;
  } else if (headerLength === 4) {
    bytes[1] = 126;
    bytes.writeUInt16BE(length, 2);
  } else {
    bytes[1] = 127;
    bytes.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    bytes.writeUInt32BE(length >>> 0, 6);
  }
  if (typeof payload === 'string') bytes.write(payload, headerLength, 'utf8');
  else bytes.set(payload, headerLength);
  return { bytes, payloadLength: length };
}

function ignoreError(): void {
  // A client that vanishes mid-handshake: nothing to do, the socket is gone.
}
