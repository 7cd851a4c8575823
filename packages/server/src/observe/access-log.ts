// The access log: one line per HTTP request and per WebSocket upgrade, in nginx's `combined` format by default.
//
// The format is a template with nginx's variable names (`$remote_addr`, `${status}`, `$http_user_agent`, ...),
// compiled once into a list of functions. Lines go to a file or to stdout through `pino.destination` (SonicBoom,
// pino's writer) in its asynchronous mode: a line is appended to a buffer and written by libuv's thread pool,
// lines that arrive while a write is under way go out together in the next one, nothing ever waits for the
// disk on the event loop, and pino writes what is left if the process exits. `reopen()` (SIGUSR1 under `handleSignals()`) reopens the file by name, for logrotate.
//
// Upgrades are logged when the transport answers them: 101 once the handshake completed, or the status it
// refused with. A client that went away before it was answered is logged 499, as nginx does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { mkdir, open as openFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';

type Destination = ReturnType<typeof pino.destination>;

/** nginx's `combined` format, the default. */
export const COMBINED_FORMAT = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

/** `createServer({ accessLog })`. */
export interface AccessLogOptions {
  /** The file lines are appended to (created, with its folder, when missing). Default: stdout. */
  file?: string | undefined;
  /** The line template, with nginx variable names (`ACCESS_LOG_VARIABLES`). Default `COMBINED_FORMAT`. */
  format?: string | undefined;
}

/** One answered request, as the format's variables read it. */
export interface AccessEntry {
  request: IncomingMessage;
  status: number;
  /** Bytes of the response body (headers not included). */
  bodyBytes: number;
  /** `Date.now()` when the request head arrived. */
  startedAt: number;
  /** Milliseconds from the request head to the answer. */
  durationMs: number;
}

type Variable = (entry: AccessEntry) => string;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The local UTC offset as nginx writes it: `+0100` (`$time_local`), or `+01:00` (`$time_iso8601`). */
function offset(date: Date, colon: boolean): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes >= 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}${colon ? ':' : ''}${pad(abs % 60)}`;
}

// `$time_local` changes once a second: formatted once per second, not once per line.
let cachedSecond = -1;
let cachedLocal = '';
function timeLocal(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    cachedLocal = `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${offset(d, false)}`;
    cachedSecond = second;
  }
  return cachedLocal;
}

function timeIso(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${offset(d, true)}`;
}

/** The socket's address; an IPv4 client of a dual-stack socket (`::ffff:10.0.0.1`) is written as nginx writes it. */
function remoteAddr(request: IncomingMessage): string {
  const address = request.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The user name of `Authorization: Basic …`, as nginx's `$remote_user`; empty for any other scheme. */
function remoteUser(request: IncomingMessage): string {
  const header = request.headers.authorization;
  if (header === undefined || !/^basic /i.test(header)) return '';
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? decoded : decoded.slice(0, colon);
}

function header(request: IncomingMessage, name: string): string {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

const path = (request: IncomingMessage) => {
  const url = request.url ?? '';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
};
const args = (request: IncomingMessage) => {
  const url = request.url ?? '';
  const query = url.indexOf('?');
  return query < 0 ? '' : url.slice(query + 1);
};

/** The variables a format may use, besides `$http_<header>` (any request header, `-` written `_`). */
export const ACCESS_LOG_VARIABLES: Readonly<Record<string, Variable>> = {
  remote_addr: (e) => remoteAddr(e.request),
  remote_port: (e) => String(e.request.socket.remotePort ?? ''),
  remote_user: (e) => remoteUser(e.request),
  time_local: (e) => timeLocal(e.startedAt),
  time_iso8601: (e) => timeIso(e.startedAt),
  msec: (e) => ((e.startedAt + e.durationMs) / 1000).toFixed(3),
  request: (e) => `${e.request.method ?? ''} ${e.request.url ?? ''} HTTP/${e.request.httpVersion}`,
  request_method: (e) => e.request.method ?? '',
  request_uri: (e) => e.request.url ?? '',
  uri: (e) => path(e.request),
  args: (e) => args(e.request),
  query_string: (e) => args(e.request),
  server_protocol: (e) => `HTTP/${e.request.httpVersion}`,
  status: (e) => String(e.status),
  body_bytes_sent: (e) => String(e.bodyBytes),
  request_time: (e) => (e.durationMs / 1000).toFixed(3),
  host: (e) => header(e.request, 'host').replace(/:\d+$/, ''),
  pid: () => String(process.pid),
};

// Values are escaped as nginx escapes them (`escape=default`): `"`, `\`, control characters and bytes
// outside printable ASCII become \xHH, so a header cannot break a line or a quoted field. Empty is `-`.
const NEEDS_ESCAPE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;
function escapeValue(value: string): string {
  if (value === '') return '-';
  if (!NEEDS_ESCAPE.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Compiles a format into a function from an entry to its line (without the newline). Throws a RangeError
 * naming an unknown variable.
 *
 * @example
 * const line = compileFormat('$remote_addr "$request" $status')(entry); // 127.0.0.1 "GET / HTTP/1.1" 200
 */
export function compileFormat(format: string): (entry: AccessEntry) => string {
  const parts: (string | Variable)[] = [];
  const pattern = /\$(?:\{([a-z0-9_]+)\}|([a-z0-9_]+))/gi;
  let last = 0;
  for (let match = pattern.exec(format); match !== null; match = pattern.exec(format)) {
    if (match.index > last) parts.push(format.slice(last, match.index));
    const name = (match[1] ?? match[2]!).toLowerCase();
    const known = ACCESS_LOG_VARIABLES[name];
    if (known !== undefined) {
      parts.push((entry) => escapeValue(known(entry)));
    } else if (name.startsWith('http_') && name.length > 5) {
      const headerName = name.slice(5).replaceAll('_', '-');
      parts.push((entry) => escapeValue(header(entry.request, headerName)));
    } else {
      throw new RangeError(`unknown variable $${name}; the access log knows ${Object.keys(ACCESS_LOG_VARIABLES).map((key) => `$${key}`).join(', ')} and $http_<header>`);
    }
    last = pattern.lastIndex;
  }
  if (last < format.length) parts.push(format.slice(last));
  return (entry) => {
    let line = '';
    for (const part of parts) line += typeof part === 'string' ? part : part(entry);
    return line;
  };
}

// Bytes of the body handed to a response, counted by wrapping its write and end (only while logging).
const kBodyBytes = Symbol('switchboard.accessLog.bodyBytes');
type CountedResponse = ServerResponse & { [kBodyBytes]?: number };

function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/**
 * One server's access log. Lines are buffered and written asynchronously; `flush()` and `close()` wait for them.
 *
 * @example
 * const accessLog = new AccessLog({ file: '/var/log/switchboard/access.log' }, log);
 * await accessLog.open();
 * accessLog.track(req, res); // in the request handler, first
 */
export class AccessLog {
  private readonly line: (entry: AccessEntry) => string;
  private readonly file: string | undefined;
  private readonly log: Logger;
  private stream: Destination | undefined;
  private failed = false;

  constructor(options: AccessLogOptions, log: Logger) {
    this.line = compileFormat(options.format ?? COMBINED_FORMAT);
    this.file = options.file;
    this.log = log;
  }

  /** Opens the file (or stdout). Rejects when the file cannot be opened. */
  async open(): Promise<void> {
    if (this.stream !== undefined) return;
    if (this.file !== undefined) {
      // Tried here first, so that a path that cannot be written is an error of listen() and leaves no
      // half-opened stream behind (pino would try to flush it at exit).
      await mkdir(dirname(this.file), { recursive: true });
      await (await openFile(this.file, 'a')).close();
    }
    // minLength 1 writes every line at once as 0 would (a line is longer than one byte), but makes `flush(cb)`
    // wait until what is buffered has been written; with 0, SonicBoom calls back at once.
    const common = { sync: false, minLength: 1 } as const;
    const stream = this.file === undefined ? pino.destination({ ...common, dest: 1 }) : pino.destination({ ...common, dest: this.file, append: true, mkdir: true });
    if (this.file !== undefined) await once(stream, 'ready');
    // A write that fails later (disk full, file removed under a read-only folder) is logged once, not thrown.
    stream.on('error', (error: Error) => {
      if (this.failed) return;
      this.failed = true;
      this.log.error({ err: error, file: this.file }, 'access log write failed; lines are being dropped');
    });
    stream.on('ready', () => (this.failed = false));
    this.stream = stream;
  }

  /** Logs `res` once it is finished (or the client went away). Call first thing for every request. */
  track(req: IncomingMessage, res: ServerResponse): void {
    if (this.stream === undefined) return;
    const startedAt = Date.now();
    const started = performance.now();
    const counted = res as CountedResponse;
    counted[kBodyBytes] = 0;
    const write = res.write;
    const end = res.end;
    // Counted as handed to Node: what a stream piped before the client went away, too.
    res.write = function (this: CountedResponse, chunk: unknown, ...rest: unknown[]) {
      this[kBodyBytes]! += chunkBytes(chunk, rest[0]);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as ServerResponse['write'];
    res.end = function (this: CountedResponse, chunk?: unknown, ...rest: unknown[]) {
      if (typeof chunk !== 'function') this[kBodyBytes]! += chunkBytes(chunk, rest[0]);
      return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
    } as ServerResponse['end'];
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      // No body goes out for HEAD, 1xx, 204 and 304, whatever the handler passed.
      const status = res.writableFinished || res.headersSent ? res.statusCode : 499;
      const noBody = req.method === 'HEAD' || status < 200 || status === 204 || status === 304;
      this.write({ request: req, status, bodyBytes: noBody ? 0 : (counted[kBodyBytes] ?? 0), startedAt, durationMs: performance.now() - started });
    };
    res.once('finish', done);
    res.once('close', done);
  }

  /**
   * Logs an upgrade request the transport answered: 101 when the handshake completed, or the status it
   * refused with and its body's length.
   */
  upgrade(request: IncomingMessage, status: number, bodyBytes: number, startedAt: number): void {
    if (this.stream === undefined) return;
    this.write({ request, status, bodyBytes, startedAt, durationMs: Date.now() - startedAt });
  }

  private write(entry: AccessEntry): void {
    this.stream?.write(`${this.line(entry)}\n`);
  }

  /** Reopens the file by its name (after logrotate moved it); lines buffered meanwhile go to the new file. */
  reopen(): void {
    if (this.stream === undefined || this.file === undefined) return;
    this.stream.reopen();
  }

  /** Resolves once every line logged so far has been written. */
  flush(): Promise<void> {
    const stream = this.stream;
    if (stream === undefined) return Promise.resolve();
    return new Promise((resolve) => stream.flush(() => resolve()));
  }

  /** Writes what is buffered and closes the file (stdout is left open). */
  async close(): Promise<void> {
    const stream = this.stream;
    if (stream === undefined) return;
    this.stream = undefined;
    await new Promise<void>((resolve) => stream.flush(() => resolve()));
    if (this.file === undefined) return;
    const closed = once(stream, 'close').then(() => undefined, () => undefined);
    stream.end();
    await closed;
  }
}
