// The `ws` transport: upgrades on one path and writes prepared frames, coalesced once per event-loop turn.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import { WebSocketServer, WebSocket } from 'ws';
import { CloseCode } from '@switchboard/protocol';
import { DEFAULT_UPGRADE_TIMEOUT_MS } from './transport.ts';
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

// The close code ws sends with each of its receiver errors (ws 8.23); every other WS_ERR_* is a framing error, 1002.
const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.messageTooBig,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: CloseCode.messageTooBig,
  WS_ERR_INVALID_UTF8: CloseCode.invalidUtf8,
  // More fragments or buffered chunks in one message than ws allows (16384 / 262144 by default).
  WS_ERR_TOO_MANY_BUFFERED_PARTS: CloseCode.policyViolation,
};

function onError(this: WebSocket, error: Error & { code?: string }): void {
  // ws closes the socket itself after a protocol error and 'close' follows; keep the code it sent.
  (this as WsWithSocket)[kSocket].errorCloseCode = WS_ERROR_CLOSE_CODES[error.code ?? ''] ?? CloseCode.protocolError;
}

// ---------------------------------------------------------------- upgrade deadline
//
// A TCP connection that never sends a complete request head (or stalls its handshake) would otherwise hold a
// socket for as long as Node's own limits allow: `headersTimeout` (60 s) and `requestTimeout` (300 s) are
// enforced by a sweep every `connectionsCheckingInterval` (30 s), which is set when the HTTP server is
// constructed, before the transport sees it; and `server.timeout` is an idle timer that a peer defeats by
// trickling a byte at a time. So the transport arms its own absolute deadline per socket when it connects
// and clears it once a request head arrives ('request') or the WebSocket handshake completes; Node's limits
// stay the backstop for later requests on a kept-alive connection. One timer per socket, with shared named
// callbacks: Node keeps timers of one duration in one list, so this is cheap.

const kDeadline = Symbol('switchboard.upgradeDeadline');
/** Set on a socket the deadline answered with 408, so the upgrade it was waiting on is logged as such. */
const kTimedOut = Symbol('switchboard.upgradeTimedOut');
type DeadlineSocket = Duplex & { [kDeadline]?: NodeJS.Timeout; [kTimedOut]?: true };

function armDeadline(socket: DeadlineSocket, ms: number): void {
  socket[kDeadline] = setTimeout(onDeadline, ms, socket, ms).unref();
  socket.once('close', onDeadlineSocketClose);
}

function clearDeadline(socket: DeadlineSocket): void {
  const timer = socket[kDeadline];
  if (timer === undefined) return;
  clearTimeout(timer);
  socket[kDeadline] = undefined;
  socket.removeListener('close', onDeadlineSocketClose);
}

function onDeadline(socket: DeadlineSocket, ms: number): void {
  socket[kDeadline] = undefined;
  if (socket.destroyed) return;
  socket[kTimedOut] = true;
  // Written, then destroyed at once: a peer that never reads must not keep the socket half-closed.
  if (socket.writable) socket.write(responseText(408, `no complete request and WebSocket handshake within ${ms} ms`));
  socket.destroy();
}

function onDeadlineSocketClose(this: DeadlineSocket): void {
  clearDeadline(this);
}

function onRequestHead(request: IncomingMessage): void {
  // A plain HTTP request arrived in time: its body and response are the HTTP server's business.
  clearDeadline(request.socket);
}

/** How an upgrade request was answered, for `TransportOptions.upgradeAnswered`. */
type Answered = ((status: number, bodyBytes: number) => void) | undefined;
/** When an upgrade request arrived (`Date.now()`), kept on the request for `upgradeAnswered`. */
const kStarted = Symbol('switchboard.upgradeStarted');
type StartedRequest = IncomingMessage & { [kStarted]?: number };

function refuse(duplex: Duplex, status: number, message: string, code?: string, answered?: Answered, headers = ''): void {
  if (duplex.destroyed) {
    // Nothing can be sent: the deadline answered 408 already, or the client went away (499, as nginx logs it).
    answered?.((duplex as DeadlineSocket)[kTimedOut] ? 408 : 499, 0);
    return;
  }
  const body = errorBody(message, code);
  duplex.end(responseText(status, message, code, headers));
  answered?.(status, Buffer.byteLength(body));
}

function errorBody(message: string, code?: string): string {
  return JSON.stringify(code === undefined ? { error: message } : { error: { code, message } });
}

function responseText(status: number, message: string, code?: string, headers = ''): string {
  // With a code the body has the admin API's error shape, and the header lets clients read it without the body.
  const body = errorBody(message, code);
  const header = code === undefined ? '' : `X-Switchboard-Error: ${code}\r\n`;
  return (
    `HTTP/1.1 ${status} ${statusText(status)}\r\nConnection: close\r\nContent-Type: application/json\r\n${header}${headers}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    408: 'Request Timeout',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
  };
  return texts[status] ?? 'Error';
}

/**
 * Creates the transport backed by `ws`.
 *
 * @example
 * const transport = createWsTransport();
 * transport.attach(httpServer, { path: '/ws', maxPayload: 1 << 20, upgradeTimeoutMs: 5000 }, handlers);
 */
export function createWsTransport(): Transport {
  let wss: WebSocketServer | undefined;
  return {
    attach<C, A>(server: HttpServer, options: TransportOptions, handlers: TransportHandlers<C, A>) {
      const anyHandlers = handlers as unknown as AnyHandlers;
      const upgradeTimeoutMs = options.upgradeTimeoutMs ?? DEFAULT_UPGRADE_TIMEOUT_MS;
      if (!Number.isFinite(upgradeTimeoutMs) || upgradeTimeoutMs < 0) {
        throw new RangeError(`upgradeTimeoutMs must be a number of milliseconds >= 0 (0 = off), got ${upgradeTimeoutMs}`);
      }
      if (upgradeTimeoutMs > 0) {
        // Behind TLS the request's socket is the TLS socket, which 'secureConnection' hands out.
        const event = (server as unknown) instanceof TlsServer ? 'secureConnection' : 'connection';
        server.on(event, (socket: Duplex) => armDeadline(socket, upgradeTimeoutMs));
        server.on('request', onRequestHead);
      }
      wss = new WebSocketServer({
        noServer: true,
        maxPayload: options.maxPayload,
        perMessageDeflate: false,
        clientTracking: false,
        handleProtocols: (offered) => handlers.selectProtocol(offered),
      });
      const current = wss;
      // Reports how each upgrade request was answered, when the server asked (its access log).
      const upgradeAnswered = options.upgradeAnswered;
      const answeredFor = (request: StartedRequest): Answered => {
        if (upgradeAnswered === undefined) return undefined;
        const startedAt = request[kStarted] ?? Date.now();
        return (status, bodyBytes) => upgradeAnswered(request, status, bodyBytes, startedAt);
      };
      // A handshake ws refuses itself (a bad method or Sec-WebSocket-* header) is answered here, as every other
      // refusal is, so that it is reported too: 405 for another method than GET, 400 otherwise.
      current.on('wsClientError', (error: Error, duplex: Duplex, request: IncomingMessage) => {
        const status = request.method === 'GET' ? 400 : 405;
        refuse(duplex, status, error.message, undefined, answeredFor(request), 'Sec-WebSocket-Version: 13, 8\r\n');
      });
      server.on('upgrade', (request: StartedRequest, duplex: Duplex, head: Buffer) => {
        if (upgradeAnswered !== undefined) request[kStarted] = Date.now();
        const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
        if (path !== options.path && !options.prefixes?.some((prefix) => path.startsWith(prefix) && path.length > prefix.length)) {
          return refuse(duplex, 404, `no WebSocket endpoint at ${path}; use ${options.path}`, undefined, answeredFor(request));
        }
        duplex.on('error', ignoreError);
        Promise.resolve(handlers.upgrade(request)).then(
          (decision) => {
            if (!decision.ok) return refuse(duplex, decision.status, decision.message, decision.code, answeredFor(request));
            if (duplex.destroyed) return answeredFor(request)?.((duplex as DeadlineSocket)[kTimedOut] ? 408 : 499, 0);
            current.handleUpgrade(request, duplex, head, (ws) => {
              clearDeadline(duplex);
              answeredFor(request)?.(101, 0);
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
          () => refuse(duplex, 500, 'the server failed to accept the connection', undefined, answeredFor(request)),
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
