// The demo sign-in: what its tokens carry, and that the server accepts them with the example's auth settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { connect } from '@switchboard/client';
import { ANONYMOUS_GRANTS, grantsFor, jwtSecret, OPS_ACCESS_GRANTS, STAFF_GRANTS, userIdFor } from '../auth.ts';
import { TOKEN_TTL_SECONDS } from '../plugs/demo.ts';
import { failsWith, signIn, startExampleServer, type ChatApi } from './helpers.ts';

const key = new TextEncoder().encode(jwtSecret);

test('a staff token is a short-lived HS256 JWT: name-derived sub, public info, staff grants', async () => {
  await using server = await startExampleServer();
  using client = connect<ChatApi>(server.wsUrl);
  const before = Math.floor(Date.now() / 1000);
  const { token, expiresAt } = await client.request('demo.signIn', { name: '  Grace Hopper ', role: 'staff' });
  assert.equal(decodeProtectedHeader(token).alg, 'HS256');
  const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] });
  assert.equal(payload.sub, 'grace-hopper');
  assert.deepEqual(payload.info, { name: 'Grace Hopper', role: 'staff' });
  assert.deepEqual(payload.grants, ['call:chat.*', 'subscribe:presence-lobby', ...STAFF_GRANTS, ...OPS_ACCESS_GRANTS]);
  assert.ok(payload.iat !== undefined && payload.exp !== undefined);
  assert.equal(payload.exp - payload.iat, TOKEN_TTL_SECONDS);
  assert.ok(payload.iat >= before && payload.iat <= Math.ceil(Date.now() / 1000));
  assert.equal(expiresAt, payload.exp * 1000);
});

test('a customer token carries no ops grants, and every chat.* message', async () => {
  await using server = await startExampleServer();
  using client = connect<ChatApi>(server.wsUrl);
  const { token } = await client.request('demo.signIn', { name: 'Bob', role: 'customer' });
  const { payload } = await jwtVerify(token, key);
  assert.deepEqual(payload.grants, grantsFor('customer'));
  assert.deepEqual(payload.grants, ['call:chat.*', 'subscribe:presence-lobby']);
  assert.deepEqual(payload.info, { name: 'Bob', role: 'customer' });
});

test('authenticating with the token gives the connection its identity and grants', async () => {
  await using server = await startExampleServer();
  using client = connect<ChatApi>(server.wsUrl);
  const { token } = await client.request('demo.signIn', { name: 'Ada', role: 'staff' });
  const reply = await client.authenticate(token);
  assert.deepEqual(reply.identity, { id: 'ada', info: { name: 'Ada', role: 'staff' } });
  assert.deepEqual(new Set(reply.grants), new Set([...ANONYMOUS_GRANTS, ...grantsFor('staff')]));
  assert.ok(reply.expiresAt !== null && reply.expiresAt > Date.now());
  const [connection] = server.server.connections();
  assert.equal(connection?.identity?.id, 'ada');
});

test('before signing in, a connection may only sign in and read the chat', async () => {
  await using server = await startExampleServer();
  using anonymous = connect<ChatApi>(server.wsUrl);
  await anonymous.ready;
  await assert.rejects(anonymous.request('ops.grant', { userId: 'mallory' }), failsWith('forbidden', 'call:ops.grant'));
  // Presence members are identities, so the lobby asks for one before it looks at grants.
  await assert.rejects(anonymous.subscribe('presence-lobby').ready, failsWith('unauthenticated'));
  await assert.rejects(anonymous.subscribe('private-ops').ready, failsWith('forbidden', 'subscribe:private-ops'));
  assert.deepEqual((await anonymous.request('chat.history', {})).messages, []);
});

test('a bad name or an unknown role is refused with invalid_payload naming the field', async () => {
  await using server = await startExampleServer();
  using client = connect<ChatApi>(server.wsUrl);
  await assert.rejects(
    client.request('demo.signIn', { name: ' ', role: 'admin' as 'staff' }),
    (error: { code: string; issues?: { path: unknown[] }[] }) => {
      assert.equal(error.code, 'invalid_payload');
      assert.deepEqual(error.issues?.map((issue) => issue.path), [['name'], ['role']]);
      return true;
    },
  );
});

test('signing in again (a token refresh) keeps the same identity', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'customer');
  const { token } = await ada.request('demo.signIn', { name: 'Ada', role: 'customer' });
  const refreshed = await ada.authenticate(token);
  assert.equal(refreshed.identity.id, 'ada');
  // Another name is another user: a connection cannot switch users with a refresh.
  const { token: bobs } = await ada.request('demo.signIn', { name: 'Bob', role: 'customer' });
  await assert.rejects(ada.authenticate(bobs), failsWith('forbidden'));
});

test('user ids: the same name is the same user; names without latin letters still get distinct ids', () => {
  assert.equal(userIdFor(' Ada Lovelace '), 'ada-lovelace');
  assert.equal(userIdFor('ADA lovelace'), 'ada-lovelace');
  assert.equal(userIdFor('Zoë'), 'zoe');
  assert.notEqual(userIdFor('Иван'), userIdFor('Пётр'));
  assert.match(userIdFor('Иван'), /^u-[0-9a-f]+$/);
});
