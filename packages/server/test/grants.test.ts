// Grants: every message is checked; grants change live (granted, revoked, disabled) and the client is told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { CloseCode, ErrorCode, type Envelope } from '@switchboard/protocol';
import { definePlug, DevErrorCode, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { grantSet, isGrant } from '../src/grants/grant-set.ts';
import { RawClient } from './helpers.ts';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';
const ADMIN_TOKEN = 'admin-token-for-the-grants-tests';

function token(sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

async function connectAs(url: string, sub: string, claims: Record<string, unknown> = {}): Promise<RawClient> {
  return RawClient.connect(url, { headers: { authorization: `Bearer ${await token(sub, claims)}` } });
}

async function admin(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Waits until every frame the server sent before now has arrived (replies keep their order on one socket). */
async function settle(client: RawClient): Promise<void> {
  await client.request('$ping');
}

const isMessage = (event: string) => (e: Envelope) => e.type === '$message' && (e.data as { event: string }).event === event;

const orders = definePlug({
  name: 'orders',
  messages: {
    'orders.list': { input: z.object({}), handler: () => ({ orders: [] }) },
    'orders.cancel': { input: z.object({}), handler: () => ({ cancelled: true }) },
    'chat.send': { input: z.object({}), handler: () => ({ sent: true }) },
  },
});

test('grant patterns: * matches any run of characters; strings that are not grants are dropped', () => {
  const grants = grantSet(['call:orders.*', 'subscribe:private-team-*', 'publish:a*z', 'subscribe:news', 'admin', 'broadcast']);
  assert.deepEqual(grants.list, ['broadcast', 'call:orders.*', 'publish:a*z', 'subscribe:news', 'subscribe:private-team-*']);
  assert.ok(grants.allows('call', 'orders.list'));
  assert.ok(grants.allows('call', 'orders.eu.list'));
  assert.ok(!grants.allows('call', 'ordersX'));
  assert.ok(grants.allows('subscribe', 'private-team-a'));
  assert.ok(!grants.allows('subscribe', 'private-other'));
  assert.ok(grants.allows('subscribe', 'news'));
  assert.ok(!grants.allows('subscribe', 'news2'));
  assert.ok(grants.allows('publish', 'a.b.z'));
  assert.ok(!grants.allows('publish', 'a.b.y'));
  assert.ok(grants.allows('broadcast', ''));
  assert.ok(grantSet(['call:*']).allows('call', 'anything.at.all'));
  assert.equal(grantSet(['call:*']), grantSet(['call:*']), 'equal grant lists share one compiled set');
  for (const good of ['call:*', 'subscribe:presence-x', 'broadcast']) assert.ok(isGrant(good), good);
  for (const bad of ['call:', 'subscribe', 'kick:*', 'call:has space', 'broadcast:x']) assert.ok(!isGrant(bad), bad);
});

test('every plug message needs a call grant; a refusal names the missing grant', async () => {
  await using t = await startTestServer({ plugs: [orders], auth: { secret: SECRET, defaultGrants: [] } });
  await using client = await connectAs(t.wsUrl, 'ada', { grants: ['call:orders.*'] });
  assert.deepEqual((await client.request('orders.list', {})).data, { orders: [] });
  const refused = await client.request('chat.send', {});
  assert.equal(refused.error?.code, ErrorCode.forbidden);
  assert.equal(refused.error?.grant, 'call:chat.send');
  // Fire-and-forget messages are refused with a $error push.
  client.ws.send(JSON.stringify({ type: 'chat.send', data: {} }));
  const pushed = await client.next((e) => e.type === '$error');
  assert.equal(pushed.error?.code, ErrorCode.forbidden);
  assert.equal(pushed.error?.type, 'chat.send');
  await using anonymous = await RawClient.connect(t.wsUrl);
  assert.equal((await anonymous.request('orders.list', {})).error?.grant, 'call:orders.list');
});

test('the authorize hook is asked when no grant matches', async () => {
  const asked: string[] = [];
  await using t = await startTestServer({
    plugs: [orders],
    auth: {
      secret: SECRET,
      defaultGrants: ['call:orders.list'],
      authorize: async (identity, { action, target }) => {
        asked.push(`${identity.id} ${action} ${target}`);
        return identity.id === 'boss';
      },
    },
  });
  await using boss = await connectAs(t.wsUrl, 'boss');
  await using clerk = await connectAs(t.wsUrl, 'clerk');
  assert.deepEqual((await boss.request('orders.cancel', {})).data, { cancelled: true });
  assert.equal((await clerk.request('orders.cancel', {})).error?.grant, 'call:orders.cancel');
  assert.deepEqual((await clerk.request('orders.list', {})).data, { orders: [] });
  assert.deepEqual(asked, ['boss call orders.cancel', 'clerk call orders.cancel']);
});

test('a grant added while connected applies at once: the client is told and can now subscribe', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  await using client = await connectAs(t.wsUrl, 'ada');
  const refused = await client.request('$subscribe', { channel: 'private-team-a' });
  assert.equal(refused.error?.code, ErrorCode.forbidden);
  assert.equal(refused.error?.grant, 'subscribe:private-team-a');

  assert.deepEqual(t.server.grant('ada', ['subscribe:private-team-*']), ['call:*', 'subscribe:private-team-*']);
  const change = await client.next((e) => e.type === '$grants');
  assert.deepEqual(change.data, { grants: ['call:*', 'subscribe:private-team-*'], added: ['subscribe:private-team-*'], removed: [], reason: 'grant_changed' });
  assert.deepEqual((await client.request('$subscribe', { channel: 'private-team-a' })).data, { channel: 'private-team-a' });
});

test('a revocation while subscribed stops delivery at once, on every connection of the user, and tells the client', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  const claims = { grants: ['subscribe:private-team-*'] };
  await using phone = await connectAs(t.wsUrl, 'ada', claims);
  await using laptop = await connectAs(t.wsUrl, 'ada', claims);
  await using colleague = await connectAs(t.wsUrl, 'bob', claims);
  for (const client of [phone, laptop, colleague]) {
    assert.equal((await client.request('$subscribe', { channel: 'private-team-a' })).error, undefined);
  }
  assert.equal((await phone.request('$subscribe', { channel: 'news' })).error, undefined);

  t.server.revoke('ada', ['subscribe:private-team-*'], { reason: 'left the team' });
  t.server.publish('private-team-a', 'secret', { plan: 'x' });

  for (const client of [phone, laptop]) {
    const notice = await client.next((e) => e.type === '$unsubscribed');
    assert.deepEqual(notice.data, { channel: 'private-team-a', reason: 'grant_revoked', grant: 'subscribe:private-team-a' });
    const change = await client.next((e) => e.type === '$grants');
    assert.deepEqual(change.data, { grants: ['call:*'], added: [], removed: ['subscribe:private-team-*'], reason: 'left the team' });
  }
  // Bob still receives; Ada's connections did not, and may not subscribe again.
  assert.deepEqual((await colleague.next(isMessage('secret'))).data, { channel: 'private-team-a', event: 'secret', data: { plan: 'x' } });
  for (const client of [phone, laptop]) {
    await settle(client);
    assert.equal(client.received.filter(isMessage('secret')).length, 0);
    assert.equal((await client.request('$subscribe', { channel: 'private-team-a' })).error?.grant, 'subscribe:private-team-a');
  }
  // Public channels need no grant: that subscription stayed.
  t.server.publish('news', 'headline', 'still here');
  assert.equal(((await phone.next(isMessage('headline'))).data as { data: string }).data, 'still here');
  assert.deepEqual(t.server.channels().find((c) => c.name === 'private-team-a')?.subscribers, 1);
});

test('runtime grants persist across reconnects and can override the token; resetGrants goes back to the token', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  t.server.revoke('ada', ['call:*']);
  t.server.grant('ada', ['publish:orders.*']);
  await using first = await connectAs(t.wsUrl, 'ada', { grants: ['broadcast'] });
  assert.deepEqual(t.server.grantsOf('ada'), ['broadcast', 'publish:orders.*']);
  first.ws.terminate();
  await first.waitClose();
  await using second = await connectAs(t.wsUrl, 'ada', { grants: ['broadcast'] });
  assert.deepEqual(t.server.grantsOf('ada'), ['broadcast', 'publish:orders.*']);
  t.server.setGrants('ada', ['subscribe:private-a']);
  assert.deepEqual(((await second.next((e) => e.type === '$grants')).data as { grants: string[] }).grants, ['call:*', 'subscribe:private-a']);
  t.server.resetGrants('ada');
  assert.deepEqual(((await second.next((e) => e.type === '$grants')).data as { grants: string[] }).grants, ['broadcast', 'call:*']);
  assert.throws(() => t.server.grant('ada', ['kick:*']), (error: Error & { code?: string }) => error.code === DevErrorCode.badArgument);
});

test('the admin API reads and changes grants; one change is one $grants push', async () => {
  await using t = await startTestServer({ adminToken: ADMIN_TOKEN, auth: { secret: SECRET } });
  await using client = await connectAs(t.wsUrl, 'ada', { grants: ['subscribe:private-team-*'] });
  assert.equal((await client.request('$subscribe', { channel: 'private-team-a' })).error, undefined);

  const read = await admin(t.url, 'GET', '/grants?identity=ada');
  assert.equal(read.status, 200);
  assert.deepEqual(read.body, { identity: 'ada', grants: ['call:*', 'subscribe:private-team-*'], runtime: null, disabled: null, connections: 1 });

  const changed = await admin(t.url, 'POST', '/grants', { identity: 'ada', add: ['publish:private-team-a'], remove: ['subscribe:private-team-*'], reason: 'moved' });
  assert.equal(changed.status, 200);
  assert.deepEqual(changed.body.grants, ['call:*', 'publish:private-team-a']);
  assert.equal((await client.next((e) => e.type === '$unsubscribed')).error, undefined);
  const change = await client.next((e) => e.type === '$grants');
  assert.deepEqual(change.data, { grants: ['call:*', 'publish:private-team-a'], added: ['publish:private-team-a'], removed: ['subscribe:private-team-*'], reason: 'moved' });
  await settle(client);
  assert.equal(client.received.filter((e) => e.type === '$grants').length, 0);

  assert.equal((await admin(t.url, 'POST', '/grants', { identity: 'ada', add: ['nonsense'] })).status, 400);
  assert.equal((await admin(t.url, 'POST', '/grants', { add: ['broadcast'] })).status, 400);
  const unauthorized = await fetch(`${t.url}/admin/grants?identity=ada`);
  assert.equal(unauthorized.status, 401);
});

test('a disabled user is closed with 4004 everywhere and refused until enabled again', async () => {
  await using t = await startTestServer({ adminToken: ADMIN_TOKEN, auth: { secret: SECRET } });
  await using one = await connectAs(t.wsUrl, 'mallory');
  await using two = await connectAs(t.wsUrl, 'mallory');
  await using bystander = await connectAs(t.wsUrl, 'ada');
  assert.equal(t.server.disableUser('mallory', 'abuse'), 2);
  assert.equal(await one.waitClose(), CloseCode.kicked);
  assert.equal(await two.waitClose(), CloseCode.kicked);
  assert.equal(one.closeReason, 'abuse');

  const mallory = await token('mallory');
  const refused = await new Promise<{ status: number; code: unknown }>((resolve, reject) => {
    const ws = new WebSocket(t.wsUrl, { headers: { authorization: `Bearer ${mallory}` } });
    ws.once('error', reject);
    ws.once('unexpected-response', (request, response) => {
      request.destroy();
      resolve({ status: response.statusCode ?? 0, code: response.headers['x-switchboard-error'] });
    });
  });
  assert.deepEqual(refused, { status: 403, code: ErrorCode.userDisabled });
  await using anonymous = await RawClient.connect(t.wsUrl);
  assert.equal((await anonymous.request('$auth', { token: mallory })).error?.code, ErrorCode.userDisabled);

  assert.deepEqual((await admin(t.url, 'POST', '/users/enable', { identity: 'mallory' })).body, { identity: 'mallory', wasDisabled: true });
  assert.equal((await anonymous.request('$auth', { token: mallory })).error, undefined);
  assert.deepEqual((await admin(t.url, 'POST', '/users/disable', { identity: 'mallory', reason: 'again' })).body, { identity: 'mallory', disabled: true, closed: 1 });
  assert.equal(await anonymous.waitClose(), CloseCode.kicked);
  assert.deepEqual((await bystander.request('$ping')).data, {});
});
