// The staff-only ops room: who may subscribe and post, and ops.grant / ops.revoke taking effect on live connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GrantsChange, MessageMeta, UnsubscribedInfo } from '@switchboard/client';
import { OPS_CHANNEL, OPS_GRANTS } from '../auth.ts';
import type { AccessEvent } from '../plugs/ops.ts';
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

test('ops.revoke removes a subscribed user from the room at once and tells every one of their connections', async () => {
  await using server = await startExampleServer();
  using grace = await signIn(server, 'Grace', 'staff');
  using ada = await signIn(server, 'Ada', 'staff');
  using adaSecondTab = await signIn(server, 'Ada', 'staff');
  const graceOps = grace.subscribe(OPS_CHANNEL);
  const adaOps = ada.subscribe(OPS_CHANNEL);
  const adaSecondOps = adaSecondTab.subscribe(OPS_CHANNEL);
  await Promise.all([graceOps.ready, adaOps.ready, adaSecondOps.ready]);
  const afterRevoke: unknown[] = [];
  adaOps.on('message', (data) => afterRevoke.push(data));

  const removed = [adaOps, adaSecondOps].map((ops) => nextValue<UnsubscribedInfo>((callback) => ops.on('unsubscribed', callback)));
  const told = [ada, adaSecondTab].map((client) => nextValue<GrantsChange>((callback) => client.events.on('grants', callback)));
  const accessEvent = nextValue<Received>((callback) => graceOps.on('message', (data, meta) => callback({ data, meta })));

  const reply = await grace.request('ops.revoke', { userId: 'ada' });
  assert.equal(reply.userId, 'ada');
  for (const grant of OPS_GRANTS) assert.ok(!reply.grants.includes(grant), `${grant} is gone`);

  for (const info of await Promise.all(removed)) assert.deepEqual(info, { reason: 'grant_revoked', grant: `subscribe:${OPS_CHANNEL}` });
  for (const change of await Promise.all(told)) {
    assert.deepEqual([...change.removed].sort(), [...OPS_GRANTS].sort());
    assert.deepEqual(change.added, []);
    assert.equal(change.reason, 'ops access revoked by Grace');
  }
  assert.equal(adaOps.active, false);

  // The other ops members see the change as an operational event from the server (no `from`).
  const { data, meta } = await accessEvent;
  assert.deepEqual(data, { userId: 'ada', change: 'revoked', by: 'grace', byName: 'Grace' } satisfies AccessEvent);
  assert.equal(meta.from, undefined);

  // Nothing published after the revoke reaches Ada: a round trip on her connection comes after anything sent before it.
  const toGrace = nextValue<Received>((callback) => graceOps.on('message', (data, meta) => callback({ data, meta })));
  await grace.publish(OPS_CHANNEL, 'note', { text: 'Ada cannot read this' });
  await toGrace;
  await ada.request('chat.history', {});
  assert.deepEqual(afterRevoke, []);

  // Her rights are gone for real, including granting them back to herself.
  await assert.rejects(ada.subscribe(OPS_CHANNEL).ready, failsWith('forbidden', `subscribe:${OPS_CHANNEL}`));
  await assert.rejects(ada.publish(OPS_CHANNEL, 'note', {}), failsWith('forbidden', `publish:${OPS_CHANNEL}`));
  await assert.rejects(ada.request('ops.grant', { userId: 'ada' }), failsWith('forbidden', 'call:ops.grant'));
});

test('ops.grant lets a customer into the room without reconnecting; the revoke survives a new sign-in', async () => {
  await using server = await startExampleServer();
  using grace = await signIn(server, 'Grace', 'staff');
  using bob = await signIn(server, 'Bob', 'customer');
  await assert.rejects(bob.subscribe(OPS_CHANNEL).ready, failsWith('forbidden'));

  const told = nextValue<GrantsChange>((callback) => bob.events.on('grants', callback));
  await grace.request('ops.grant', { userId: 'bob' });
  const change = await told;
  assert.deepEqual([...change.added].sort(), [...OPS_GRANTS].sort());
  assert.equal(change.reason, 'ops access granted by Grace');
  const bobOps = bob.subscribe(OPS_CHANNEL);
  await bobOps.ready;
  const note = nextValue<Received>((callback) => bobOps.on('message', (data, meta) => callback({ data, meta })));
  await grace.publish(OPS_CHANNEL, 'note', { text: 'welcome, Bob' });
  assert.deepEqual((await note).data, { text: 'welcome, Bob' });

  // Runtime changes belong to the identity, not the token: a fresh staff token for a revoked user does not undo them.
  await grace.request('ops.revoke', { userId: 'grace' });
  using graceAgain = await signIn(server, 'Grace', 'staff');
  await assert.rejects(graceAgain.subscribe(OPS_CHANNEL).ready, failsWith('forbidden'));
  await bob.request('ops.grant', { userId: 'grace' });
  await graceAgain.subscribe(OPS_CHANNEL).ready;
});
