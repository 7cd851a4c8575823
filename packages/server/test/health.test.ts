// GET /healthz: 200 while serving, 503 from the moment shutdown begins, no token needed; it can be turned off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePlug, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

const slow = definePlug({
  name: 'slow',
  messages: { 'slow.wait': { input: z.object({ ms: z.number() }), handler: (data) => new Promise((resolve) => setTimeout(() => resolve({}), data.ms)) } },
});

test('the health check answers 200 while serving and 503 while shutting down', async () => {
  await using t = await startTestServer({ plugs: [slow], adminToken: 'a-long-admin-token-0123' });
  await using client = await RawClient.connect(t.wsUrl);
  const ok = await fetch(`${t.url}/healthz`);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('cache-control'), 'no-store');
  assert.deepEqual({ ...((await ok.json()) as object), uptimeSeconds: 0 }, { status: 'ok', uptimeSeconds: 0, connections: 1, plugs: 1 });
  // A handler still running keeps the server in its drain; meanwhile HTTP stays up and the check says 503.
  const agent = await import('node:http');
  const keepAlive = new agent.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      agent.get(`${t.url}/healthz`, { agent: keepAlive }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
  assert.equal((await get()).status, 200);
  const running = client.request('slow.wait', { ms: 300 });
  await t.server.plugsSettled();
  while (t.server.metrics()['slow.wait']?.inbound.count !== 1) await new Promise((resolve) => setImmediate(resolve));
  const closing = t.server.close({ timeoutMs: 5000 });
  const draining = await get();
  assert.equal(draining.status, 503);
  assert.equal((JSON.parse(draining.body) as { status: string }).status, 'shutting_down');
  assert.deepEqual((await running).data, {});
  await closing;
  keepAlive.destroy();
});

test('healthPath: false turns it off', async () => {
  await using t = await startTestServer({ healthPath: false });
  assert.equal((await fetch(`${t.url}/healthz`)).status, 404);
});
