// Static files: content types, caching validators, index files, 404s and no path traversal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer } from '@switchboard/server/testing';

/** A raw GET, so the path reaches the server exactly as written (fetch would normalise `..`). */
function get(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves public files with types and caching, refuses traversal, 404s the rest', async () => {
  const root = await mkdtemp(join(tmpdir(), 'switchboard-public-'));
  const secretDir = await mkdtemp(join(tmpdir(), 'switchboard-secret-'));
  try {
    await mkdir(join(root, 'public', 'css'), { recursive: true });
    await writeFile(join(root, 'public', 'index.html'), '<!doctype html><title>hi</title>');
    await writeFile(join(root, 'public', 'css', 'app.css'), 'body { color: red }');
    await writeFile(join(root, 'public', 'app.js'), 'console.log(1)');
    await writeFile(join(root, 'secret.txt'), 'do not serve');
    await using t = await startTestServer({ public: join(root, 'public') });

    const index = await get(t.url, '/');
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.match(index.body, /<title>hi<\/title>/);

    const css = await get(t.url, '/css/app.css?v=1');
    assert.equal(css.status, 200);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.match(String(css.headers['cache-control']), /max-age=3600/);
    const etag = String(css.headers.etag);
    assert.equal((await get(t.url, '/css/app.css', { 'If-None-Match': etag })).status, 304);
    assert.equal((await get(t.url, '/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');

    assert.equal((await get(t.url, '/css')).status, 301);
    assert.equal((await get(t.url, '/missing.png')).status, 404);
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/css/..%2f..%2fsecret.txt', '/..%5csecret.txt']) {
      const response = await get(t.url, path);
      assert.ok([400, 403, 404].includes(response.status), `${path} → ${response.status}`);
      assert.doesNotMatch(response.body, /do not serve/);
    }
    assert.equal((await get(t.url, '/%E0%A4%A')).status, 400);
    assert.equal((await get(t.url, '/a%00b')).status, 400);
  } finally {
    await rm(root, { recursive: true, force: true });
    await rm(secretDir, { recursive: true, force: true });
  }
});

test('without a public folder every path is 404; assets are served from memory', async () => {
  await using t = await startTestServer({
    assets: { '/sdk.js': { contentType: 'text/javascript; charset=utf-8', load: async () => 'export const x = 1;' } },
  });
  assert.equal((await get(t.url, '/index.html')).status, 404);
  const asset = await get(t.url, '/sdk.js');
  assert.equal(asset.status, 200);
  assert.equal(asset.body, 'export const x = 1;');
  assert.equal((await get(t.url, '/sdk.js', { 'If-None-Match': String(asset.headers.etag) })).status, 304);
});

test('the admin API answers loopback without a token, and requires the token when one is set', async () => {
  await using open = await startTestServer({});
  assert.equal((await fetch(`${open.url}/admin/metrics`)).status, 200);
  assert.equal((await fetch(`${open.url}/admin/nope`)).status, 404);
  await using locked = await startTestServer({ adminToken: 'a-long-admin-token-for-tests' });
  const refused = await fetch(`${locked.url}/admin/metrics`);
  assert.equal(refused.status, 401);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unauthorized');
  const allowed = await fetch(`${locked.url}/admin/plugs`, { headers: { Authorization: 'Bearer a-long-admin-token-for-tests' } });
  assert.equal(allowed.status, 200);
});
