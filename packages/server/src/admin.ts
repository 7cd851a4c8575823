// The admin HTTP API: metrics, connections and plugs as JSON; subsystems add their own routes.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '@switchboard/protocol';
import { MessageError } from './errors.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** Limits on admin request bodies. */
export interface AdminApiOptions {
  /**
   * Milliseconds a request has, once its head arrived, to send its whole body; a slower one gets 408
   * `request_timeout` and the connection is closed. Default 10000.
   */
  bodyTimeoutMs?: number;
  /** Largest body in bytes; a larger one gets 413 `payload_too_large` (before reading when Content-Length says so). Default 1 MiB. */
  maxBodyBytes?: number;
}

/** Body limits applied when `AdminApiOptions` leaves them out. */
export const ADMIN_BODY_DEFAULTS = { bodyTimeoutMs: 10_000, maxBodyBytes: 1024 * 1024 } as const;

/** A parsed admin request. */
export interface AdminRequest {
  method: string;
  /** The path below the admin prefix, e.g. `/metrics`. */
  path: string;
  query: URLSearchParams;
  /** The JSON body of POST/PUT/PATCH/DELETE requests (undefined when empty). */
  body: unknown;
  request: IncomingMessage;
  /** Whether the admin check passed; false only on routes registered with `{ ownAuth: true }`. */
  admin: boolean;
}

/** Options of an admin route. */
export interface AdminRouteOptions {
  /**
   * The route also answers requests that fail the admin check, with `request.admin` false, and checks
   * them itself (HTTP publish accepts a JWT with a `publish:` grant this way).
   */
  ownAuth?: boolean;
  /**
   * HTTP statuses of this route's `MessageError`s by code, over `MESSAGE_ERROR_STATUS` (rooms answer a full
   * server's `limit_exceeded` with 429: too many rooms, not too large a body).
   */
  errorStatus?: Readonly<Record<string, number>>;
}

/**
 * The HTTP status of a `MessageError` a route throws, by its code; any other code is the client's to fix: 400.
 * `limit_exceeded` is 413: a body over a size limit (`channels.maxMessageBytes`) or a resource at its
 * `maxRecords`, which the request made too large.
 */
export const MESSAGE_ERROR_STATUS: Readonly<Record<string, number>> = {
  [ErrorCode.unauthenticated]: 401,
  [ErrorCode.authFailed]: 401,
  [ErrorCode.tokenMalformed]: 401,
  [ErrorCode.tokenInvalid]: 401,
  [ErrorCode.tokenExpired]: 401,
  [ErrorCode.tokenAlgorithm]: 401,
  [ErrorCode.forbidden]: 403,
  [ErrorCode.userDisabled]: 403,
  [ErrorCode.unknownType]: 404,
  [ErrorCode.unknownResource]: 404,
  [ErrorCode.unknownRoom]: 404,
  [ErrorCode.notFound]: 404,
  [ErrorCode.conflict]: 409,
  [ErrorCode.roomFull]: 409,
  [ErrorCode.limitExceeded]: 413,
  [ErrorCode.rateLimited]: 429,
  [ErrorCode.handlerError]: 500,
  [ErrorCode.shuttingDown]: 503,
  [ErrorCode.timeout]: 504,
};

/** An answered admin request, as `AdminApi.onRequest` is told of it. */
export interface AdminRequestDone {
  method: string;
  path: string;
  status: number;
  /** Whether the admin check passed. */
  admin: boolean;
  remoteAddress: string;
  /** The JSON body it sent, when one was read (not for a request the token check or a missing route refused). */
  body?: unknown;
}

/** What a route returns: a status and a JSON body. */
export interface AdminResponse {
  status: number;
  body: unknown;
}

export type AdminRoute = (request: AdminRequest) => AdminResponse | Promise<AdminResponse>;

/** An error answer in the admin API's one shape. */
export function adminError(status: number, code: string, message: string): AdminResponse {
  return { status, body: { error: { code, message } } };
}

/**
 * The answer to a `MessageError` a route threw: its status by code (`statuses`, then `MESSAGE_ERROR_STATUS`,
 * else 400), and its code, message and details (`issues`, `limit`, `current`…) — what a WebSocket client
 * would get in `$error`, over HTTP.
 */
export function messageErrorResponse(error: MessageError, statuses?: Readonly<Record<string, number>>): AdminResponse {
  const status = statuses?.[error.code] ?? MESSAGE_ERROR_STATUS[error.code] ?? 400;
  return { status, body: { error: { code: error.code, message: error.message, ...(error.details ?? {}) } } };
}

function internalError(error: unknown): AdminResponse {
  return adminError(500, 'internal', error instanceof Error ? error.message : String(error));
}

function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    // After a refused body the connection takes no further request: the rest of that body may still be coming.
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(text);
}

type BodyResult = { ok: true; body: unknown } | { ok: false; response: AdminResponse };

/** Reads a JSON body within the size and time limits; a refusal leaves the rest unread. */
function readBody(req: IncomingMessage, limits: Required<AdminApiOptions>): Promise<BodyResult> {
  const { bodyTimeoutMs, maxBodyBytes } = limits;
  const tooLarge: BodyResult = { ok: false, response: adminError(413, 'payload_too_large', `request body over ${maxBodyBytes} bytes`) };
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBodyBytes) return Promise.resolve(tooLarge);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: BodyResult): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBodyBytes) return finish(tooLarge);
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (size === 0) return finish({ ok: true, body: undefined });
      try {
        finish({ ok: true, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      } catch (error) {
        finish({ ok: false, response: adminError(400, 'bad_json', `malformed JSON body: ${(error as Error).message}`) });
      }
    };
    const onError = (): void => finish({ ok: false, response: adminError(400, 'bad_request', 'the request body was cut off') });
    const timer = setTimeout(
      () => finish({ ok: false, response: adminError(408, 'request_timeout', `request body not received within ${bodyTimeoutMs} ms`) }),
      bodyTimeoutMs,
    );
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/**
 * Routes requests under the admin prefix. Every request must carry `Authorization: Bearer <adminToken>`;
 * without a configured token only loopback clients are answered. Bodies are limited in size and in time
 * (`AdminApiOptions`), so a client cannot hold a request open by sending its body slowly.
 *
 * @example
 * const admin = new AdminApi('/admin', token, { bodyTimeoutMs: 5000 });
 * admin.route('GET', '/metrics', () => ({ status: 200, body: metrics.snapshot() }));
 */
export class AdminApi {
  private readonly routes = new Map<string, AdminRoute>();
  private readonly ownAuth = new Set<string>();
  private readonly errorStatus = new Map<string, Readonly<Record<string, number>>>();
  private readonly prefix: string;
  private readonly token: Buffer | undefined;
  private readonly bodyLimits: Required<AdminApiOptions>;
  /** Told of every answered admin request (the audit records admin actions). */
  onRequest: ((request: AdminRequestDone) => void) | undefined = undefined;

  constructor(prefix: string, token: string | undefined, options: AdminApiOptions = {}) {
    this.prefix = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    this.token = token === undefined ? undefined : Buffer.from(token);
    this.bodyLimits = {
      bodyTimeoutMs: options.bodyTimeoutMs ?? ADMIN_BODY_DEFAULTS.bodyTimeoutMs,
      maxBodyBytes: options.maxBodyBytes ?? ADMIN_BODY_DEFAULTS.maxBodyBytes,
    };
  }

  /** Adds a route. A path ending in `/*` answers every path below it (`request.path` is the full path). */
  route(method: string, path: string, handler: AdminRoute, options?: AdminRouteOptions): void {
    this.routes.set(`${method} ${path}`, handler);
    if (options?.ownAuth) this.ownAuth.add(`${method} ${path}`);
    if (options?.errorStatus) this.errorStatus.set(`${method} ${path}`, options.errorStatus);
  }

  /** Whether a request URL belongs to the admin API. */
  matches(url: string): boolean {
    return url === this.prefix || url.startsWith(`${this.prefix}/`) || url.startsWith(`${this.prefix}?`);
  }

  /** The wildcard route a path falls under: `/resources/orders/o-1` → `/resources/*`. */
  private wildcard(path: string): string {
    const second = path.indexOf('/', 1);
    return second < 0 ? path : `${path.slice(0, second)}/*`;
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.token === undefined) return LOOPBACK.has(req.socket.remoteAddress ?? '');
    const header = req.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  /** The answer to a request that failed the admin check: 401 with a token configured, 403 without. */
  private refusal(): AdminResponse {
    return this.token
      ? adminError(401, 'unauthorized', 'send "Authorization: Bearer <adminToken>"')
      : adminError(403, 'forbidden', 'the admin API answers loopback clients only unless adminToken is set');
  }

  /**
   * The admin check for endpoints outside the prefix that share its protection (`/metrics`): true when
   * `req` passes it; otherwise the client has been answered 401 or 403, as the admin API answers.
   *
   * @example
   * if (url === '/metrics' && admin.guard(req, res)) prometheus.handle(req, res);
   */
  guard(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.authorized(req)) return true;
    const response = this.refusal();
    sendJson(res, response.status, response.body);
    return false;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const path = url.pathname.slice(this.prefix.length) || '/';
    const method = req.method ?? 'GET';
    const admin = this.authorized(req);
    const answer = await this.answer(req, url, path, method, admin);
    let response = answer.response;
    try {
      sendJson(res, response.status, response.body, answer.close);
    } catch (error) {
      // A body JSON cannot hold (a BigInt, a cycle).
      response = internalError(error);
      sendJson(res, response.status, response.body);
    }
    // Every request is told, whatever answered it: the token check, a missing route, a bad body or the route.
    const request: AdminRequestDone = { method, path, status: response.status, admin, remoteAddress: req.socket.remoteAddress ?? '' };
    if (answer.body !== undefined) request.body = answer.body;
    this.onRequest?.(request);
  }

  /** The answer to a request, the body it sent (when one was read), and whether to close the connection after it. */
  private async answer(req: IncomingMessage, url: URL, path: string, method: string, admin: boolean): Promise<{ response: AdminResponse; body?: unknown; close?: boolean }> {
    if (!admin && !this.ownAuth.has(`${method} ${path}`)) return { response: this.refusal() };
    const key = this.routes.has(`${method} ${path}`) ? `${method} ${path}` : `${method} ${this.wildcard(path)}`;
    const handler = this.routes.get(key);
    if (!handler) {
      const known = [...this.routes.keys()].filter((key) => key.endsWith(` ${path}`) || key.endsWith(` ${this.wildcard(path)}`));
      const response =
        known.length > 0
          ? adminError(405, 'method_not_allowed', `use ${known.map((key) => key.split(' ')[0]).join(' or ')} for ${path}`)
          : adminError(404, 'not_found', `no admin route ${path}`);
      return { response };
    }
    let body: unknown;
    if (method !== 'GET' && method !== 'HEAD') {
      const read = await readBody(req, this.bodyLimits);
      if (!read.ok) return { response: read.response, close: true };
      body = read.body;
    }
    try {
      return { response: await handler({ method, path, query: url.searchParams, body, request: req, admin }), body };
    } catch (error) {
      // A route's MessageError is an answer (a refusal, a conflict, a limit), whichever route threw it.
      return { response: error instanceof MessageError ? messageErrorResponse(error, this.errorStatus.get(key)) : internalError(error), body };
    }
  }
}
