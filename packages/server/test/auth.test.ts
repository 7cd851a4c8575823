// Authentication: tokens by header, query and $auth; every refused token's code; hooks, refresh and expiry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import WebSocket from 'ws';
import { CloseCode, ErrorCode } from '@switchboard/protocol';
import { createServer, definePlug, DevErrorCode, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';
const key = new TextEncoder().encode(SECRET);

/** An HS256 token for `sub`; `exp` is epoch seconds or a jose duration such as '1h'. */
function token(sub: string, claims: Record<string, unknown> = {}, exp: number | string = '1h', secret = key): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(exp).sign(secret);
}

/** An unsigned token, built by hand: `alg: none` with an empty signature. */
function unsignedToken(sub: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
}

const whoami = definePlug({
  name: 'whoami',
  messages: {
    'whoami.get': {
      input: z.object({}).optional(),
      handler: (_data, ctx) => ({ id: ctx.connection.identity?.id ?? null, grants: ctx.connection.grants }),
    },
  },
});

/** Connects expecting the upgrade to be refused; resolves with the status, the error header and the body. */
function refusedUpgrade(url: string, headers?: Record<string, string>): Promise<{ status: number; header: unknown; body: { error: { code: string } } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        request.destroy();
        resolve({ status: response.statusCode ?? 0, header: response.headers['x-switchboard-error'], body: JSON.parse(body) as { error: { code: string } } });
      });
    });
  });
}

test('a token authenticates by header, by query and with $auth', async () => {
  await using t = await startTestServer({ plugs: [whoami], auth: { secret: SECRET } });
  const ada = await token('ada', { info: { name: 'Ada' }, grants: ['subscribe:private-team-*'] });

  await using byHeader = await RawClient.connect(t.wsUrl, { headers: { authorization: `Bearer ${ada}` } });
  await using byQuery = await RawClient.connect(`${t.wsUrl}?token=${ada}`);
  for (const client of [byHeader, byQuery]) {
    assert.deepEqual((await client.request('whoami.get', {})).data, { id: 'ada', grants: ['call:*', 'subscribe:private-team-*'] });
  }

  await using anonymous = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await anonymous.request('whoami.get', {})).data, { id: null, grants: ['call:*'] });
  const reply = await anonymous.request('$auth', { token: ada });
  assert.equal(reply.error, undefined);
  const data = reply.data as { identity: unknown; grants: string[]; expiresAt: number };
  assert.deepEqual(data.identity, { id: 'ada', info: { name: 'Ada' } });
  assert.deepEqual(data.grants, ['call:*', 'subscribe:private-team-*']);
  assert.ok(data.expiresAt > Date.now());
  const grants = await anonymous.next((e) => e.type === '$grants');
  assert.deepEqual(grants.data, { grants: ['call:*', 'subscribe:private-team-*'], added: ['subscribe:private-team-*'], removed: [], reason: 'authenticated' });
  assert.deepEqual((await anonymous.request('whoami.get', {})).data, { id: 'ada', grants: ['call:*', 'subscribe:private-team-*'] });
});

test('$welcome carries the identity and grants', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  const ws = new WebSocket(t.wsUrl, { headers: { authorization: `Bearer ${await token('ada', { info: { name: 'Ada' } })}` } });
  const welcome = await new Promise<{ data: Record<string, unknown> }>((resolve, reject) => {
    ws.once('message', (frame) => resolve(JSON.parse(String(frame)) as { data: Record<string, unknown> }));
    ws.once('error', reject);
  });
  ws.terminate();
  assert.deepEqual(welcome.data.identity, { id: 'ada', info: { name: 'Ada' } });
  assert.deepEqual(welcome.data.grants, ['call:*']);
  assert.equal(typeof welcome.data.expiresAt, 'number');
});

test('expired, forged, malformed and unsigned tokens are refused with their own codes, and nothing else happens', async () => {
  await using t = await startTestServer({ plugs: [whoami], auth: { secret: SECRET } });
  const cases: [string, string][] = [
    [await token('ada', {}, Math.floor(Date.now() / 1000) - 60), ErrorCode.tokenExpired],
    [await token('ada', {}, '1h', new TextEncoder().encode('another-secret-of-at-least-32-characters')), ErrorCode.tokenInvalid],
    ['not-a-jwt', ErrorCode.tokenMalformed],
    ['a.b.c', ErrorCode.tokenMalformed],
    [unsignedToken('ada'), ErrorCode.tokenAlgorithm],
  ];
  for (const [bad, code] of cases) {
    const refused = await refusedUpgrade(t.wsUrl, { authorization: `Bearer ${bad}` });
    assert.equal(refused.status, 401, code);
    assert.equal(refused.header, code);
    assert.equal(refused.body.error.code, code);
    assert.equal((await refusedUpgrade(`${t.wsUrl}?token=${encodeURIComponent(bad)}`)).body.error.code, code);
  }
  assert.equal(t.server.connectionCount, 0);

  await using client = await RawClient.connect(t.wsUrl);
  for (const [bad, code] of cases) {
    assert.equal((await client.request('$auth', { token: bad })).error?.code, code);
  }
  assert.equal((await client.request('$auth', {})).error?.code, ErrorCode.invalidPayload);
  // Still the anonymous connection it was: no identity, no grant change pushed.
  assert.deepEqual((await client.request('whoami.get', {})).data, { id: null, grants: ['call:*'] });
  assert.equal(client.received.filter((e) => e.type === '$grants').length, 0);
});

test('tokens with the wrong issuer or audience are invalid; algorithms outside the list are refused', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET, issuer: 'https://id.example', audience: 'switchboard' } });
  await using client = await RawClient.connect(t.wsUrl);
  const good = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setIssuer('https://id.example').setAudience('switchboard').setExpirationTime('1h').sign(key);
  assert.equal((await client.request('$auth', { token: good })).error, undefined);
  const wrongAudience = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setIssuer('https://id.example').setAudience('other').sign(key);
  await using other = await RawClient.connect(t.wsUrl);
  assert.equal((await other.request('$auth', { token: wrongAudience })).error?.code, ErrorCode.tokenInvalid);
  const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('ada').sign(key);
  assert.equal((await other.request('$auth', { token: hs512 })).error?.code, ErrorCode.tokenAlgorithm);
  const notYet = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setIssuer('https://id.example').setAudience('switchboard').setNotBefore('1h').sign(key);
  assert.equal((await other.request('$auth', { token: notYet })).error?.code, ErrorCode.tokenExpired);
});

test('RS256, ES256, ES384 and EdDSA tokens verify with public keys given as PEM, JWK, KeyObject and CryptoKey', async () => {
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const ed = await generateKeyPair('EdDSA', { extractable: true });
  const ec384 = await generateKeyPair('ES384', { extractable: true });
  await using t = await startTestServer({
    plugs: [whoami],
    auth: { publicKeys: [await exportSPKI(rsa.publicKey), await exportJWK(ec.publicKey), KeyObject.from(ed.publicKey), ec384.publicKey] },
  });
  const sign = (alg: string, privateKey: CryptoKey, sub: string) => new SignJWT({}).setProtectedHeader({ alg }).setSubject(sub).setExpirationTime('1h').sign(privateKey);
  await using a = await RawClient.connect(t.wsUrl, { headers: { authorization: `Bearer ${await sign('RS256', rsa.privateKey, 'rsa-user')}` } });
  assert.equal(((await a.request('whoami.get', {})).data as { id: string }).id, 'rsa-user');
  await using b = await RawClient.connect(t.wsUrl);
  assert.equal((await b.request('$auth', { token: await sign('ES256', ec.privateKey, 'ec-user') })).error, undefined);
  assert.equal(((await b.request('whoami.get', {})).data as { id: string }).id, 'ec-user');
  await using c = await RawClient.connect(t.wsUrl);
  assert.equal((await c.request('$auth', { token: await sign('EdDSA', ed.privateKey, 'ed-user') })).error, undefined);
  await using d = await RawClient.connect(`${t.wsUrl}?token=${await sign('ES384', ec384.privateKey, 'ec384-user')}`);
  assert.equal(((await d.request('whoami.get', {})).data as { id: string }).id, 'ec384-user');

  // A key of the right kind that did not sign it; an HS256 token on a server without a secret.
  const stranger = await generateKeyPair('ES256');
  assert.equal((await c.request('$auth', { token: await sign('ES256', stranger.privateKey, 'ec-user') })).error?.code, ErrorCode.tokenInvalid);
  assert.equal((await c.request('$auth', { token: await token('ada') })).error?.code, ErrorCode.tokenAlgorithm);
});

test('tokens verify against a JWKS endpoint', async () => {
  const signing = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' };
  let fetches = 0;
  const jwks = createHttpServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = jwks.address() as AddressInfo;
    await using t = await startTestServer({ plugs: [whoami], auth: { jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json` } });
    const signed = await new SignJWT({ grants: ['broadcast'] }).setProtectedHeader({ alg: 'ES256', kid: 'key-1' }).setSubject('jwks-user').setExpirationTime('1h').sign(signing.privateKey);
    await using client = await RawClient.connect(t.wsUrl, { headers: { authorization: `Bearer ${signed}` } });
    assert.deepEqual((await client.request('whoami.get', {})).data, { id: 'jwks-user', grants: ['broadcast', 'call:*'] });
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'key-1' }).setSubject('x').sign((await generateKeyPair('ES256')).privateKey);
    assert.equal((await client.request('$auth', { token: forged })).error?.code, ErrorCode.tokenInvalid);
    assert.ok(fetches >= 1);
  } finally {
    jwks.closeAllConnections();
    await new Promise((resolve) => jwks.close(resolve));
  }
});

test('anonymous connections can be refused: only $auth and $ping until authenticated, closed 4003 after the deadline', async () => {
  await using t = await startTestServer({ plugs: [whoami], auth: { secret: SECRET, anonymous: false, authTimeoutMs: 300 } });
  await using client = await RawClient.connect(t.wsUrl);
  assert.equal((await client.request('whoami.get', {})).error?.code, ErrorCode.unauthenticated);
  assert.equal((await client.request('$subscribe', { channel: 'news' })).error?.code, ErrorCode.unauthenticated);
  assert.equal((await client.request('$manifest')).error?.code, ErrorCode.unauthenticated);
  assert.deepEqual((await client.request('$ping')).data, {});
  assert.equal((await client.request('$auth', { token: await token('ada') })).error, undefined);
  assert.equal(((await client.request('whoami.get', {})).data as { id: string }).id, 'ada');

  await using late = await RawClient.connect(t.wsUrl);
  assert.equal(await late.waitClose(), CloseCode.unauthorized);
  // The authenticated one outlived the deadline.
  assert.deepEqual((await client.request('$ping')).data, {});
});

test('the authenticate hook replaces JWT verification (an API key header, or a token)', async () => {
  const keys = new Map([['key-ada', { id: 'ada', info: { name: 'Ada' }, grants: ['broadcast'] }]]);
  await using t = await startTestServer({
    plugs: [whoami],
    auth: {
      anonymous: false,
      authenticate: async ({ token: given, request }) => {
        const apiKey = given ?? (request.headers['x-api-key'] as string | undefined);
        return apiKey === undefined ? null : (keys.get(apiKey) ?? null);
      },
    },
  });
  await using byHeader = await RawClient.connect(t.wsUrl, { headers: { 'x-api-key': 'key-ada' } });
  assert.deepEqual((await byHeader.request('whoami.get', {})).data, { id: 'ada', grants: ['broadcast', 'call:*'] });
  const refused = await refusedUpgrade(t.wsUrl, { authorization: 'Bearer wrong-key' });
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, ErrorCode.authFailed);
  await using later = await RawClient.connect(t.wsUrl);
  assert.equal((await later.request('$auth', { token: 'wrong-key' })).error?.code, ErrorCode.authFailed);
  assert.deepEqual((await later.request('$auth', { token: 'key-ada' })).data, { identity: { id: 'ada', info: { name: 'Ada' } }, grants: ['broadcast', 'call:*'], expiresAt: null });
});

test('refresh: a new token for the same identity replaces the grants; another identity is forbidden', async () => {
  await using t = await startTestServer({ plugs: [whoami], auth: { secret: SECRET } });
  await using client = await RawClient.connect(t.wsUrl, { headers: { authorization: `Bearer ${await token('ada', { grants: ['publish:a'] })}` } });
  const refreshed = await client.request('$auth', { token: await token('ada', { grants: ['publish:b'] }, '2h') });
  assert.deepEqual((refreshed.data as { grants: string[] }).grants, ['call:*', 'publish:b']);
  const change = await client.next((e) => e.type === '$grants');
  assert.deepEqual(change.data, { grants: ['call:*', 'publish:b'], added: ['publish:b'], removed: ['publish:a'], reason: 'token_refreshed' });
  assert.equal((await client.request('$auth', { token: await token('bob') })).error?.code, ErrorCode.forbidden);
  assert.equal(((await client.request('whoami.get', {})).data as { id: string }).id, 'ada');
});

test('an expiring token is warned about, then the connection is closed with 4003', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET, expiryWarningMs: 1000 } });
  const exp = Math.floor(Date.now() / 1000) + 2;
  await using client = await RawClient.connect(t.wsUrl, { headers: { authorization: `Bearer ${await token('ada', {}, exp)}` } });
  const warning = await client.next((e) => e.type === '$auth.expiring');
  const data = warning.data as { expiresAt: number; inMs: number };
  assert.equal(data.expiresAt, exp * 1000);
  assert.ok(data.inMs > 0 && data.inMs <= 1000);
  assert.equal(await client.waitClose(), CloseCode.unauthorized);
  assert.equal(client.closeReason, 'token_expired');
});

test('a refresh before expiry keeps the connection open', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET, expiryWarningMs: 1000 } });
  await using client = await RawClient.connect(t.wsUrl, { headers: { authorization: `Bearer ${await token('ada', {}, Math.floor(Date.now() / 1000) + 2)}` } });
  await client.next((e) => e.type === '$auth.expiring');
  assert.equal((await client.request('$auth', { token: await token('ada', {}, '1h') })).error, undefined);
  // Past the first token's expiry, still open.
  const second = await RawClient.connect(t.wsUrl, { headers: { authorization: `Bearer ${await token('bob', {}, Math.floor(Date.now() / 1000) + 2)}` } });
  assert.equal(await second.waitClose(), CloseCode.unauthorized);
  assert.deepEqual((await client.request('$ping')).data, {});
  assert.equal(client.closeCode, undefined);
});

test('with onExpiry downgrade an expired connection becomes anonymous and loses what its grants allowed', async () => {
  await using t = await startTestServer({ plugs: [whoami], auth: { secret: SECRET, expiryWarningMs: 1000, onExpiry: 'downgrade' } });
  const exp = Math.floor(Date.now() / 1000) + 2;
  await using client = await RawClient.connect(t.wsUrl, {
    headers: { authorization: `Bearer ${await token('ada', { grants: ['subscribe:private-team-*'] }, exp)}` },
  });
  assert.equal((await client.request('$subscribe', { channel: 'private-team-a' })).error, undefined);
  assert.equal((await client.request('$subscribe', { channel: 'news' })).error, undefined);
  await client.next((e) => e.type === '$auth.expiring');
  const unsubscribed = await client.next((e) => e.type === '$unsubscribed');
  assert.deepEqual(unsubscribed.data, { channel: 'private-team-a', reason: 'token_expired', grant: 'subscribe:private-team-a' });
  const change = await client.next((e) => e.type === '$grants');
  assert.deepEqual(change.data, { grants: ['call:*'], added: [], removed: ['subscribe:private-team-*'], reason: 'token_expired' });
  assert.deepEqual((await client.request('whoami.get', {})).data, { id: null, grants: ['call:*'] });
  assert.deepEqual(t.server.channels().map((c) => c.name), ['news']);
});

test('bad auth options fail fast with SB_CONFIG_INVALID', () => {
  const invalid = [
    { secret: 'short' },
    { secret: SECRET, algorithms: ['none'] },
    { anonymous: false },
    { secret: SECRET, defaultGrants: ['call:*', 'admin'] },
    { publicKeys: ['not a pem'] },
    { secret: SECRET, onExpiry: 'ignore' as 'close' },
  ];
  for (const auth of invalid) {
    assert.throws(() => createServer({ auth }), (error: Error & { code?: string }) => error.code === DevErrorCode.configInvalid, JSON.stringify(auth));
  }
});
