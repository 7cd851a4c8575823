// HTTP publish: back-end systems push to channels and broadcast without a WebSocket (admin token or JWT).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { ErrorCode, type Envelope } from '@switchboard/protocol';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';
const ADMIN_TOKEN = 'admin-token-for-http-publish-tests';

function token(sub: string, grants: string[], exp: number | string = '1h'): Promise<string> {
  return new SignJWT({ grants }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));
}

async function post(url: string, path: string, body: unknown, bearer?: string): Promise<{ status: number; body: { error?: { code: string; grant?: string } } & Record<string, unknown> }> {
  const response = await fetch(`${url}/admin${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
}

const isMessage = (event: string) => (e: Envelope) => e.type === '$message' && (e.data as { event: string }).event === event;

test('POST /admin/publish with the admin token reaches the subscribers, without from', async () => {
  await using t = await startTestServer({ adminToken: ADMIN_TOKEN });
  await using subscriber = await RawClient.connect(t.wsUrl);
  await subscriber.request('$subscribe', { channel: 'orders.eu' });
  const published = await post(t.url, '/publish', { channel: 'orders.eu', event: 'created', data: { id: 7 } }, ADMIN_TOKEN);
  assert.equal(published.status, 200);
  assert.deepEqual(await subscriber.next(isMessage('created')), { type: '$message', data: { channel: 'orders.eu', event: 'created', data: { id: 7 } } });

  const channels = await fetch(`${t.url}/admin/channels`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.deepEqual(await channels.json(), { channels: [{ name: 'orders.eu', kind: 'public', subscribers: 1 }] });

  assert.equal((await post(t.url, '/publish', { channel: 'orders.eu', event: 'x' })).status, 401);
  assert.equal((await post(t.url, '/publish', { channel: 'orders.eu', event: 'x' }, 'wrong-token-of-some-length')).status, 401);
  const badName = await post(t.url, '/publish', { channel: 'bad name', event: 'x' }, ADMIN_TOKEN);
  assert.deepEqual([badName.status, badName.body.error?.code], [400, ErrorCode.badChannel]);
  const badEvent = await post(t.url, '/publish', { channel: 'orders.eu' }, ADMIN_TOKEN);
  assert.deepEqual([badEvent.status, badEvent.body.error?.code], [400, ErrorCode.invalidPayload]);
  const tooBig = await post(t.url, '/publish', { channel: 'orders.eu', event: 'x', data: 'y'.repeat(70_000) }, ADMIN_TOKEN);
  assert.deepEqual([tooBig.status, tooBig.body.error?.code], [413, ErrorCode.limitExceeded]);
});

test('POST /admin/publish accepts a JWT with the publish grant; from is its identity', async () => {
  await using t = await startTestServer({ adminToken: ADMIN_TOKEN, auth: { secret: SECRET } });
  await using subscriber = await RawClient.connect(t.wsUrl);
  await subscriber.request('$subscribe', { channel: 'orders.eu' });

  const legacy = await token('legacy-erp', ['publish:orders.*']);
  assert.equal((await post(t.url, '/publish', { channel: 'orders.eu', event: 'shipped', data: { id: 8 } }, legacy)).status, 200);
  assert.deepEqual((await subscriber.next(isMessage('shipped'))).data, { channel: 'orders.eu', event: 'shipped', data: { id: 8 }, from: 'legacy-erp' });

  const wrongChannel = await post(t.url, '/publish', { channel: 'billing', event: 'x' }, legacy);
  assert.deepEqual([wrongChannel.status, wrongChannel.body.error?.code, wrongChannel.body.error?.grant], [403, ErrorCode.forbidden, 'publish:billing']);
  const expired = await post(t.url, '/publish', { channel: 'orders.eu', event: 'x' }, await token('legacy-erp', ['publish:*'], Math.floor(Date.now() / 1000) - 10));
  assert.deepEqual([expired.status, expired.body.error?.code], [401, ErrorCode.tokenExpired]);
  // A revoked grant applies to HTTP publishes too; a JWT does not open the other admin routes.
  t.server.revoke('legacy-erp', ['publish:orders.*']);
  assert.equal((await post(t.url, '/publish', { channel: 'orders.eu', event: 'x' }, legacy)).status, 403);
  assert.equal((await post(t.url, '/broadcast', { event: 'x' }, await token('root', ['broadcast']))).status, 401);
});

test('POST /admin/broadcast reaches every connection as a $message with channel null', async () => {
  await using t = await startTestServer({ adminToken: ADMIN_TOKEN });
  await using one = await RawClient.connect(t.wsUrl);
  await using two = await RawClient.connect(t.wsUrl);
  assert.equal((await post(t.url, '/broadcast', { event: 'deploy', data: { version: '1.2' } }, ADMIN_TOKEN)).status, 200);
  for (const client of [one, two]) {
    assert.deepEqual((await client.next(isMessage('deploy'))).data, { channel: null, event: 'deploy', data: { version: '1.2' } });
  }
});
