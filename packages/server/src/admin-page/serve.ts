// The admin web page: an HTML shell at `<adminPath>/` and its static files under `<adminPath>/ui/`, served
// without the admin check (they hold no data: the page's script asks for the token and reads the JSON API
// with it), plus the bounded plug history the page shows (`GET <adminPath>/plugs/history`, checked).
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdminApi } from '../admin.ts';
import type { ServerEvents } from '../api.ts';

/**
 * The folder of index.html, app.js and style.css: next to this module (src/admin-page, or dist/admin-page once
 * the build copied them there: scripts/pack.ts does), else the sources' folder when running from a bare `tsc -b` dist.
 */
function assetFolder(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'index.html'))) return here;
  const source = join(here, '..', '..', 'src', 'admin-page');
  return existsSync(join(source, 'index.html')) ? source : here;
}

interface UiFile {
  contentType: string;
  /** Where the bytes come from, resolved on first request (uPlot from node_modules, the rest from this folder). */
  path: () => string;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const requireHere = createRequire(import.meta.url);

/** Every file the page uses, by its path below `<adminPath>/ui/`. Nothing else is served. */
const UI_FILES: Record<string, UiFile> = {
  'app.js': { contentType: JS, path: () => join(assetFolder(), 'app.js') },
  'style.css': { contentType: CSS, path: () => join(assetFolder(), 'style.css') },
  'uplot.js': { contentType: JS, path: () => requireHere.resolve('uplot/dist/uPlot.iife.min.js') },
  'uplot.css': { contentType: CSS, path: () => requireHere.resolve('uplot/dist/uPlot.min.css') },
};

/** Headers of every page answer: no framing, no referrer, and only this origin's scripts, styles and API. */
const PAGE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
};

/**
 * A handler for the admin page's paths: `<adminPath>` (redirects to `<adminPath>/`), `<adminPath>/` and
 * `<adminPath>/ui/<file>`, GET and HEAD only. Returns false for every other request, which then goes to the
 * admin API. Files are read once and served from memory with an ETag (`no-cache`: revalidated each load).
 *
 * @example
 * const page = createAdminPageHandler('/admin');
 * if (page(req, res)) return; // answered
 */
export function createAdminPageHandler(adminPath: string): (req: IncomingMessage, res: ServerResponse) => boolean {
  const prefix = adminPath.endsWith('/') ? adminPath.slice(0, -1) : adminPath;
  const loaded = new Map<string, Promise<{ body: Buffer; etag: string }>>();
  const load = (key: string, path: () => string): Promise<{ body: Buffer; etag: string }> => {
    let entry = loaded.get(key);
    if (entry === undefined) {
      entry = Promise.resolve()
        .then(() => readFile(path()))
        .then((body) => ({ body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` }));
      loaded.set(key, entry);
      entry.catch(() => loaded.delete(key));
    }
    return entry;
  };
  const send = (req: IncomingMessage, res: ServerResponse, key: string, contentType: string, path: () => string): void => {
    load(key, path).then(
      ({ body, etag }) => {
        const headers = { ...PAGE_HEADERS, 'Content-Type': contentType, ETag: etag, 'Cache-Control': 'no-cache' };
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, headers).end();
        res.writeHead(200, { ...headers, 'Content-Length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        const text = `admin page file missing: ${(error as Error).message}`;
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      },
    );
  };
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const pathname = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (pathname === prefix) {
      // The page's links are relative (ui/app.js), so it lives at the folder URL.
      res.writeHead(301, { Location: `${prefix}/`, 'Content-Length': 0 });
      res.end();
      return true;
    }
    if (pathname === `${prefix}/`) {
      send(req, res, 'index.html', 'text/html; charset=utf-8', () => join(assetFolder(), 'index.html'));
      return true;
    }
    if (!pathname.startsWith(`${prefix}/ui/`)) return false;
    const name = pathname.slice(prefix.length + 4);
    const file = Object.hasOwn(UI_FILES, name) ? UI_FILES[name] : undefined;
    if (file === undefined) {
      const text = 'Not Found';
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': text.length });
      res.end(text);
      return true;
    }
    send(req, res, name, file.contentType, file.path);
    return true;
  };
}

/** One plug event in the admin page's hot-swap history. */
export interface PlugHistoryEntry {
  /** ISO 8601 time. */
  at: string;
  event: 'loaded' | 'swapped' | 'removed' | 'rejected';
  name?: string;
  version?: string;
  previousVersion?: string;
  file?: string;
  /** Why a plug file was rejected (its previous version, if any, keeps serving). */
  error?: string;
}

/** Entries `GET /plugs/history` keeps by default; older ones are dropped. */
export const PLUG_HISTORY_LIMIT = 200;

/**
 * Records plug loads, swaps, removals and rejections from `events` in memory (the newest `limit`), and
 * registers `GET /plugs/history` (newest first) on the admin API.
 *
 * @example
 * registerPlugHistory(admin, server.events);
 * // curl -H 'Authorization: Bearer …' localhost:3000/admin/plugs/history
 */
export function registerPlugHistory(admin: AdminApi, events: EventEmitter<ServerEvents>, limit = PLUG_HISTORY_LIMIT): PlugHistoryEntry[] {
  const entries: PlugHistoryEntry[] = [];
  const add = (entry: Omit<PlugHistoryEntry, 'at'>): void => {
    entries.push({ at: new Date().toISOString(), ...entry });
    if (entries.length > limit) entries.splice(0, entries.length - limit);
  };
  const defined = <T extends object>(value: T): T => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  events.on('plug:loaded', ({ name, version, file, previousVersion }) =>
    add(defined({ event: previousVersion === undefined ? 'loaded' : 'swapped', name, version, previousVersion, file })),
  );
  events.on('plug:unloaded', ({ name, version, file }) => add(defined({ event: 'removed', name, version, file })));
  events.on('plug:rejected', ({ file, error }) => add(defined({ event: 'rejected', file, error: error.message })));
  admin.route('GET', '/plugs/history', () => ({ status: 200, body: { history: [...entries].reverse() } }));
  return entries;
}
