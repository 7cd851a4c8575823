// The ops room: who may read and post, staff changing a customer's access on live connections, and what is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GrantsChange, MessageMeta, UnsubscribedInfo } from '@switchboard/client';
import { OPS_ACCESS_GRANTS, OPS_CHANNEL, STAFF_GRANTS } from '../auth.ts';
import { OpsErrorCode, type AccessEvent } from '../plugs/ops.ts';
import { failsWith, nextValue, signIn, startExampleServer } from './helpers.ts';

interface Received {
  data: unknown;
  meta: MessageMeta;
}

test('staff subscribe and post to private-ops; customers get forbidden naming the grant', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'staff');
  using grace = await signIn(server, 'Grace', 'staff');
  using bob = await signIn(server, 'Bob', 'customer');
  const toGrace = grace.subscribe(OPS_CHANNEL);
  await Promise.all([ada.subscribe(OPS_CHANNEL).ready, toGrace.ready]);

  const received = nextValue<Received>((callback) => toGrace.on('message', (data, meta) => callback({ data, meta })));
  await ada.publish(OPS_CHANNEL, 'note', { text: 'deploy at five' });
  const { data, meta } = await received;
  assert.deepEqual(data, { text: 'deploy at five' });
  assert.deepEqual(meta, { event: 'note', channel: OPS_CHANNEL, from: 'ada' });

  await assert.rejects(bob.subscribe(OPS_CHANNEL).ready, failsWith('forbidden', `subscribe:${OPS_CHANNEL}`));
  await assert.rejects(bob.publish(OPS_CHANNEL, 'note', { text: 'let me in' }), failsWith('forbidden', `publish:${OPS_CHANNEL}`));
  await assert.rejects(bob.request('ops.grant', { userId: 'bob' }), failsWith('forbidden', 'call:ops.grant'));
});

test('ops.grant lets a customer into the room without reconnecting, to read and post but not to manage access', async () => {
  await using server = await startExampleServer();
  using grace = await signIn(server, 'Grace', 'staff');
  using bob = await signIn(server, 'Bob', 'customer');
  await assert.rejects(bob.subscribe(OPS_CHANNEL).ready, failsWith('forbidden'));
  const graceOps = grace.subscribe(OPS_CHANNEL);
  await graceOps.ready;

  const told = nextValue<GrantsChange>((callback) => bob.events.on('grants', callback));
  const announced = nextValue<Received>((callback) => graceOps.on('message', (data, meta) => callback({ data, meta })));
  const reply = await grace.request('ops.grant', { userId: 'bob' });
  assert.equal(reply.changed, true);
  const change = await told;
  assert.deepEqual([...change.added].sort(), [...OPS_ACCESS_GRANTS].sort());
  assert.equal(change.reason, 'ops access granted by Grace');
  assert.deepEqual((await announced).data, { userId: 'bob', userName: 'Bob', change: 'granted', by: 'grace', byName: 'Grace' } satisfies AccessEvent);

  const bobOps = bob.subscribe(OPS_CHANNEL);
  await bobOps.ready;
  const note = nextValue<Received>((callback) => bobOps.on('message', (data, meta) => callback({ data, meta })));
  await grace.publish(OPS_CHANNEL, 'note', { text: 'welcome, Bob' });
  assert.deepEqual((await note).data, { text: 'welcome, Bob' });
  await bob.publish(OPS_CHANNEL, 'note', { text: 'thanks' });

  // Ops access is the room, not the management of it: he cannot revoke the staff member who let him in.
  await assert.rejects(bob.request('ops.revoke', { userId: 'grace' }), failsWith('forbidden', 'call:ops.revoke'));
  await assert.rejects(bob.request('ops.grant', { userId: 'bob' }), failsWith('forbidden', 'call:ops.grant'));

  // Granting again changes nothing and announces nothing.
  assert.equal((await grace.request('ops.grant', { userId: 'bob' })).changed, false);

  // Runtime changes belong to the user, not the token: signing in again keeps the access.
  using bobAgain = await signIn(server, 'Bob', 'customer');
  await bobAgain.subscribe(OPS_CHANNEL).ready;
});

test('ops.revoke removes a customer from the room at once and tells every one of their connections', async () => {
  await using server = await startExampleServer();
  using grace = await signIn(server, 'Grace', 'staff');
  using bob = await signIn(server, 'Bob', 'customer');
  using bobSecondTab = await signIn(server, 'Bob', 'customer');
  await grace.request('ops.grant', { userId: 'bob' });
  const graceOps = grace.subscribe(OPS_CHANNEL);
  const bobOps = bob.subscribe(OPS_CHANNEL);
  const bobSecondOps = bobSecondTab.subscribe(OPS_CHANNEL);
  await Promise.all([graceOps.ready, bobOps.ready, bobSecondOps.ready]);
  const afterRevoke: unknown[] = [];
  bobOps.on('message', (data) => afterRevoke.push(data));

  const removed = [bobOps, bobSecondOps].map((ops) => nextValue<UnsubscribedInfo>((callback) => ops.on('unsubscribed', callback)));
  const told = [bob, bobSecondTab].map((client) => nextValue<GrantsChange>((callback) => client.events.on('grants', callback)));
  const accessEvent = nextValue<Received>((callback) => graceOps.on('message', (data, meta) => callback({ data, meta })));

  const reply = await grace.request('ops.revoke', { userId: 'bob' });
  assert.deepEqual({ userId: reply.userId, changed: reply.changed }, { userId: 'bob', changed: true });
  for (const grant of OPS_ACCESS_GRANTS) assert.ok(!reply.grants.includes(grant), `${grant} is gone`);

  for (const info of await Promise.all(removed)) assert.deepEqual(info, { reason: 'grant_revoked', grant: `subscribe:${OPS_CHANNEL}` });
  for (const change of await Promise.all(told)) {
    assert.deepEqual([...change.removed].sort(), [...OPS_ACCESS_GRANTS].sort());
    assert.deepEqual(change.added, []);
    assert.equal(change.reason, 'ops access revoked by Grace');
  }
  assert.equal(bobOps.active, false);

  // The other ops members see the change as an operational event from the server (no `from`).
  const { data, meta } = await accessEvent;
  assert.deepEqual(data, { userId: 'bob', userName: 'Bob', change: 'revoked', by: 'grace', byName: 'Grace' } satisfies AccessEvent);
  assert.equal(meta.from, undefined);

  // Nothing published after the revoke reaches Bob: a round trip on his connection comes after anything sent before it.
  const toGrace = nextValue<Received>((callback) => graceOps.on('message', (data, meta) => callback({ data, meta })));
  await grace.publish(OPS_CHANNEL, 'note', { text: 'Bob cannot read this' });
  await toGrace;
  await bob.request('chat.history', {});
  assert.deepEqual(afterRevoke, []);
  await assert.rejects(bob.subscribe(OPS_CHANNEL).ready, failsWith('forbidden', `subscribe:${OPS_CHANNEL}`));
  await assert.rejects(bob.publish(OPS_CHANNEL, 'note', {}), failsWith('forbidden', `publish:${OPS_CHANNEL}`));

  // Revoking what is already gone changes nothing.
  assert.equal((await grace.request('ops.revoke', { userId: 'bob' })).changed, false);
});

test("nobody changes their own access or a staff member's, and only for users who are online", async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'staff');
  using grace = await signIn(server, 'Grace', 'staff');
  const graceOps = grace.subscribe(OPS_CHANNEL);
  await graceOps.ready;

  await assert.rejects(ada.request('ops.revoke', { userId: 'ada' }), failsWith(OpsErrorCode.ownAccess));
  await assert.rejects(ada.request('ops.grant', { userId: 'ada' }), failsWith(OpsErrorCode.ownAccess));
  await assert.rejects(ada.request('ops.revoke', { userId: 'grace' }), failsWith(OpsErrorCode.staffMember));
  await assert.rejects(ada.request('ops.grant', { userId: 'grace' }), failsWith(OpsErrorCode.staffMember));
  // A role is only known from a live connection's token, so changes wait until the user is here.
  await assert.rejects(ada.request('ops.grant', { userId: 'nobody-here' }), failsWith(OpsErrorCode.userOffline));

  // Grace kept everything: still in the room, still staff.
  assert.equal(graceOps.active, true);
  for (const grant of [...STAFF_GRANTS, ...OPS_ACCESS_GRANTS]) assert.ok(server.server.grantsOf('grace').includes(grant), grant);
});

test('a customer given call:ops.* from outside the app still may not manage access: the role decides', async () => {
  await using server = await startExampleServer();
  using grace = await signIn(server, 'Grace', 'staff');
  using bob = await signIn(server, 'Bob', 'customer');
  using carol = await signIn(server, 'Carol', 'customer');
  // What a back office could do over the admin API (POST /admin/grants): the grant check then lets Bob through.
  server.server.grant('bob', STAFF_GRANTS);
  await assert.rejects(bob.request('ops.revoke', { userId: 'grace' }), failsWith(OpsErrorCode.staffOnly));
  await assert.rejects(bob.request('ops.grant', { userId: 'carol' }), failsWith(OpsErrorCode.staffOnly));
  await assert.rejects(carol.subscribe(OPS_CHANNEL).ready, failsWith('forbidden'));
  await grace.subscribe(OPS_CHANNEL).ready;
});
