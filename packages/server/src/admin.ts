// The admin HTTP API: metrics, connections and plugs as JSON; subsystems add their own routes.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const MAX_BODY = 1024 * 1024;

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

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<{ ok: true; body: unknown } | { ok: false; response: AdminResponse }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return { ok: false, response: adminError(413, 'payload_too_large', `request body over ${MAX_BODY} bytes`) };
    chunks.push(chunk);
  }
  if (size === 0) return { ok: true, body: undefined };
  try {
    return { ok: true, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown };
  } catch (error) {
    return { ok: false, response: adminError(400, 'bad_json', `malformed JSON body: ${(error as Error).message}`) };
  }
}

/**
 * Routes requests under the admin prefix. Every request must carry `Authorization: Bearer <adminToken>`;
 * without a configured token only loopback clients are answered.
 *
 * @example
 * admin.route('GET', '/metrics', () => ({ status: 200, body: metrics.snapshot() }));
 */
export class AdminApi {
  private readonly routes = new Map<string, AdminRoute>();
  private readonly ownAuth = new Set<string>();
  private readonly prefix: string;
  private readonly token: Buffer | undefined;

  constructor(prefix: string, token: string | undefined) {
    this.prefix = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    this.token = token === undefined ? undefined : Buffer.from(token);
  }

  route(method: string, path: string, handler: AdminRoute, options?: AdminRouteOptions): void {
    this.routes.set(`${method} ${path}`, handler);
    if (options?.ownAuth) this.ownAuth.add(`${method} ${path}`);
  }

  /** Whether a request URL belongs to the admin API. */
  matches(url: string): boolean {
    return url === this.prefix || url.startsWith(`${this.prefix}/`) || url.startsWith(`${this.prefix}?`);
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.token === undefined) return LOOPBACK.has(req.socket.remoteAddress ?? '');
    const header = req.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const path = url.pathname.slice(this.prefix.length) || '/';
    const method = req.method ?? 'GET';
    const admin = this.authorized(req);
    if (!admin && !this.ownAuth.has(`${method} ${path}`)) {
      const response = this.token
        ? adminError(401, 'unauthorized', 'send "Authorization: Bearer <adminToken>"')
        : adminError(403, 'forbidden', 'the admin API answers loopback clients only unless adminToken is set');
      return sendJson(res, response.status, response.body);
    }
    const handler = this.routes.get(`${method} ${path}`);
    if (!handler) {
      const known = [...this.routes.keys()].filter((key) => key.endsWith(` ${path}`));
      const response =
        known.length > 0
          ? adminError(405, 'method_not_allowed', `use ${known.map((key) => key.split(' ')[0]).join(' or ')} for ${path}`)
          : adminError(404, 'not_found', `no admin route ${path}`);
      return sendJson(res, response.status, response.body);
    }
    let body: unknown;
    if (method !== 'GET' && method !== 'HEAD') {
      const read = await readBody(req);
      if (!read.ok) return sendJson(res, read.response.status, read.response.body);
      body = read.body;
    }
    try {
      const response = await handler({ method, path, query: url.searchParams, body, request: req, admin });
      sendJson(res, response.status, response.body);
    } catch (error) {
      sendJson(res, 500, { error: { code: 'internal', message: (error as Error).message } });
    }
  }
}
