// Serves the app's public folder: content types, validators and caching, no path traversal.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { createHash } from 'node:crypto';
import type { Asset } from './options.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
  '.xml': 'application/xml',
  '.pdf': 'application/pdf',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mp3': 'audio/mpeg',
};

/** The content type for a file name (application/octet-stream when unknown). */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

function sendStatus(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * A handler for GET/HEAD requests under `root`. `index.html` answers for folders. HTML is revalidated on
 * every load (`no-cache`); other files may be cached for an hour and are revalidated with ETag and
 * Last-Modified. Resolves to false when the file does not exist, so the caller can answer 404.
 *
 * @example
 * const serve = createStaticHandler('./public');
 * if (!(await serve(req, res))) res.writeHead(404).end();
 */
export function createStaticHandler(root: string): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const base = resolve(root);
  return async (req, res) => {
    const rawPath = (req.url ?? '/').split('?', 1)[0] ?? '/';
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      sendStatus(res, 400, 'Bad Request: malformed URL encoding');
      return true;
    }
    if (path.includes('\0') || path.includes('\\')) {
      sendStatus(res, 400, 'Bad Request');
      return true;
    }
    let file = resolve(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      sendStatus(res, 403, 'Forbidden');
      return true;
    }
    let info = await stat(file).catch(() => undefined);
    if (info?.isDirectory()) {
      if (!rawPath.endsWith('/')) {
        res.writeHead(301, { Location: `${rawPath}/`, 'Content-Length': 0 });
        res.end();
        return true;
      }
      file = join(file, 'index.html');
      info = await stat(file).catch(() => undefined);
    }
    if (!info?.isFile()) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendStatus(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
      return true;
    }
    const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const lastModified = info.mtime.toUTCString();
    const type = contentTypeOf(file);
    const headers: Record<string, string | number> = {
      'Content-Type': type,
      ETag: etag,
      'Last-Modified': lastModified,
      'Cache-Control': type.startsWith('text/html') ? 'no-cache' : 'public, max-age=3600, must-revalidate',
      'X-Content-Type-Options': 'nosniff',
    };
    const ifNoneMatch = req.headers['if-none-match'];
    const ifModifiedSince = req.headers['if-modified-since'];
    const fresh =
      ifNoneMatch !== undefined
        ? ifNoneMatch.split(',').some((tag) => tag.trim() === etag)
        : ifModifiedSince !== undefined && Date.parse(ifModifiedSince) >= Math.floor(info.mtimeMs / 1000) * 1000;
    if (fresh) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    headers['Content-Length'] = info.size;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
    return true;
  };
}

/**
 * A handler for generated assets at fixed paths, built on first request and then served from memory
 * with an ETag. Resolves to false for paths it does not own.
 *
 * @example
 * const serveAssets = createAssetHandler({ '/switchboard.js': { contentType: 'text/javascript', load } });
 */
export function createAssetHandler(assets: Record<string, Asset>): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const built = new Map<string, Promise<{ body: Buffer; etag: string }>>();
  return async (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const asset = assets[path];
    if (!asset) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendStatus(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
      return true;
    }
    let entry = built.get(path);
    if (!entry) {
      entry = asset.load().then((content) => {
        const body = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content);
        return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
      });
      built.set(path, entry);
      entry.catch(() => built.delete(path));
    }
    const { body, etag } = await entry;
    const headers = { 'Content-Type': asset.contentType, ETag: etag, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
