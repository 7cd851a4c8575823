// The admin HTTP API: metrics, connections and plugs as JSON; subsystems add their own routes.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

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
  private readonly prefix: string;
  private readonly token: Buffer | undefined;
  private readonly bodyLimits: Required<AdminApiOptions>;
  /** Told of every answered admin request (the audit records admin actions). */
  onRequest: ((request: { method: string; path: string; status: number; admin: boolean; remoteAddress: string }) => void) | undefined = undefined;

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
    if (!admin && !this.ownAuth.has(`${method} ${path}`)) {
      const response = this.refusal();
      return sendJson(res, response.status, response.body);
    }
    const handler = this.routes.get(`${method} ${path}`) ?? this.routes.get(`${method} ${this.wildcard(path)}`);
    if (!handler) {
      const known = [...this.routes.keys()].filter((key) => key.endsWith(` ${path}`) || key.endsWith(` ${this.wildcard(path)}`));
      const response =
        known.length > 0
          ? adminError(405, 'method_not_allowed', `use ${known.map((key) => key.split(' ')[0]).join(' or ')} for ${path}`)
          : adminError(404, 'not_found', `no admin route ${path}`);
      return sendJson(res, response.status, response.body);
    }
    let body: unknown;
    if (method !== 'GET' && method !== 'HEAD') {
      const read = await readBody(req, this.bodyLimits);
      if (!read.ok) return sendJson(res, read.response.status, read.response.body, true);
      body = read.body;
    }
    let status = 500;
    try {
      const response = await handler({ method, path, query: url.searchParams, body, request: req, admin });
      status = response.status;
      sendJson(res, response.status, response.body);
    } catch (error) {
      sendJson(res, 500, { error: { code: 'internal', message: (error as Error).message } });
    }
    this.onRequest?.({ method, path, status, admin, remoteAddress: req.socket.remoteAddress ?? '' });
  }
}
