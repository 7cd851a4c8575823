// A cluster of two worker processes behind one port (fixtures/cluster-app.ts): channel messages, broadcasts and
// presence cross workers through the agent; one order per channel, whichever worker publishes; the agent's
// registry and API (workers, connections, publishing from the agent), protected by the admin token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@switchboard/client';
import type { ChannelMessage, Envelope } from '@switchboard/protocol';
import { clientsOn, eventually, rawClientsOn, startCluster, tokenFor, type TestCluster } from './cluster-helpers.ts';
import { RawClient } from './helpers.ts';

const ADMIN_TOKEN = 'cluster-test-admin-token-0123456789';

let cluster: TestCluster;
let pids: number[];
const open: (Client | RawClient)[] = [];

before(async () => {
  cluster = await startCluster({ workers: 2, adminToken: ADMIN_TOKEN });
  pids = await cluster.workerPids();
  assert.equal(pids.length, 2);
});

after(async () => {
  try {
    for (const c of open) {
      if (c instanceof RawClient) await c[Symbol.asyncDispose]();
      else c.close();
    }
  } finally {
    await cluster.stop();
  }
});

/** SDK clients, one per worker (identities from `sub`), closed after the file. */
async function sdkPair(sub?: (i: number) => string): Promise<Client[]> {
  const clients = await clientsOn(cluster.wsUrl, pids, sub);
  open.push(...clients);
  return clients;
}

/** Plain ws clients, one per worker, closed after the file. */
async function rawPair(): Promise<RawClient[]> {
  const clients = await rawClientsOn(cluster.wsUrl, pids);
  open.push(...clients);
  return clients;
}

function messagesOf(client: RawClient, channel: string): ChannelMessage[] {
  return client.received.filter((e: Envelope) => e.type === '$message' && (e.data as ChannelMessage).channel === channel).map((e) => e.data as ChannelMessage);
}

test('a message published on one worker reaches the subscribers on every worker; exceptSelf and broadcasts too', async () => {
  const [a, b] = await sdkPair();
  const onA: unknown[] = [];
  const onB: unknown[] = [];
  await Promise.all([a!.subscribe('news', (data) => onA.push(data)).ready, b!.subscribe('news', (data) => onB.push(data)).ready]);
  await a!.publish('news', 'posted', { n: 1 });
  await b!.publish('news', 'posted', { n: 2 }, { exceptSelf: true });
  await eventually(() => onA.length === 2 && onB.length === 1, 10_000, 'both deliveries');
  assert.deepEqual(onA, [{ n: 1 }, { n: 2 }]);
  assert.deepEqual(onB, [{ n: 1 }], 'exceptSelf: not back to the publisher, though it is on another worker than the subscriber');

  const broadcasts: unknown[][] = [[], []];
  [a!, b!].forEach((c, i) => c.on<ChannelMessage>('$message', (message) => message.channel === null && broadcasts[i]!.push(message.data)));
  await b!.broadcast('announce', { text: 'to everyone' });
  await eventually(() => broadcasts[0]!.length === 1 && broadcasts[1]!.length === 1, 10_000, 'the broadcast on both workers');
  assert.deepEqual(broadcasts, [[{ text: 'to everyone' }], [{ text: 'to everyone' }]]);
});

test('publishers on two workers at once: every subscriber sees one order, the offsets one by one', async () => {
  const [subscriberA, subscriberB] = await rawPair();
  const [publisherA, publisherB] = await rawPair();
  for (const subscriber of [subscriberA!, subscriberB!]) assert.equal((await subscriber.request('$subscribe', { channel: 'h.race' })).error, undefined);
  const count = 150;
  const publish = (publisher: RawClient, who: string) =>
    (async () => {
      for (let n = 0; n < count; n++) {
        // Two in flight at a time per publisher, so the workers' appends interleave at the agent.
        const first = publisher.request('$publish', { channel: 'h.race', event: who, data: n });
        const second = n + 1 < count ? publisher.request('$publish', { channel: 'h.race', event: who, data: ++n }) : undefined;
        assert.equal((await first).error, undefined);
        assert.equal((await second)?.error, undefined);
      }
    })();
  await Promise.all([publish(publisherA!, 'a'), publish(publisherB!, 'b')]);
  await eventually(() => messagesOf(subscriberA!, 'h.race').length === 2 * count && messagesOf(subscriberB!, 'h.race').length === 2 * count, 15_000, 'every message');
  const seenA = messagesOf(subscriberA!, 'h.race');
  const seenB = messagesOf(subscriberB!, 'h.race');
  assert.deepEqual(seenA, seenB, 'both workers delivered the same messages in the same order');
  assert.deepEqual(seenA.map((message) => message.offset), Array.from({ length: 2 * count }, (_, i) => i + 1), 'offsets one by one, none out of order');
  assert.equal(new Set(seenA.map((message) => message.epoch)).size, 1);
  for (const who of ['a', 'b']) {
    assert.deepEqual(seenA.filter((message) => message.event === who).map((message) => message.data), Array.from({ length: count }, (_, n) => n), `${who}'s own order`);
  }
});

test('a channel without history keeps each publisher’s order on every worker', async () => {
  const [subscriberA, subscriberB] = await rawPair();
  const [publisherA, publisherB] = await rawPair();
  for (const subscriber of [subscriberA!, subscriberB!]) await subscriber.request('$subscribe', { channel: 'plain' });
  const count = 200;
  // Up to 32 requests in flight per publisher (the server allows 64).
  const publishAll = async (publisher: RawClient, event: string) => {
    const replies: Envelope[] = [];
    for (let n = 0; n < count; n += 32) {
      replies.push(...(await Promise.all(Array.from({ length: Math.min(32, count - n) }, (_, k) => publisher.request('$publish', { channel: 'plain', event, data: n + k })))));
    }
    return replies;
  };
  const replies = await Promise.all([publishAll(publisherA!, 'p0'), publishAll(publisherB!, 'p1')]);
  assert.deepEqual(replies.flat().filter((reply) => reply.error !== undefined), []);
  for (const subscriber of [subscriberA!, subscriberB!]) {
    await eventually(() => messagesOf(subscriber, 'plain').length === 2 * count, 15_000, 'every message');
    for (const event of ['p0', 'p1']) {
      assert.deepEqual(messagesOf(subscriber, 'plain').filter((m) => m.event === event).map((m) => m.data), Array.from({ length: count }, (_, n) => n));
    }
  }
});

test('presence is the cluster’s: one member list across workers, joins and leaves heard everywhere', async () => {
  const [ada, bob] = await sdkPair((i) => ['ada', 'bob'][i]!);
  const adaLobby = ada!.subscribe('presence-lobby');
  await adaLobby.ready;
  const bobLobby = bob!.subscribe('presence-lobby');
  await bobLobby.ready;
  assert.deepEqual([...bobLobby.members.keys()].sort(), ['ada', 'bob'], 'the list bob gets on his worker has ada, who is on the other');
  await eventually(() => adaLobby.members.has('bob'), 10_000, "ada hears bob's join");
  assert.equal(adaLobby.members.get('bob')?.name, 'bob');
  // The agent's registry knows where each is, and that it is in the lobby.
  const [where] = await eventually(async () => {
    const found = await cluster.connections('?user=bob');
    return found.length === 1 && found[0]!.channels.includes('presence-lobby') ? found : undefined;
  });
  assert.equal(where!.pid, pids[1]);
  await bobLobby.unsubscribe();
  await eventually(() => !adaLobby.members.has('bob'), 10_000, "ada hears bob's leave");
});

test('the registry: every worker with its state, and every connection with its worker, identity and channels', async () => {
  const [ada, bob] = await sdkPair((i) => ['ada-r', 'bob-r'][i]!);
  await Promise.all([ada!.subscribe('room.1').ready, bob!.subscribe('room.1').ready, bob!.subscribe('room.2').ready]);
  const status = await cluster.status();
  assert.equal(status.agent.workers, 2);
  assert.equal(status.url, cluster.url);
  assert.deepEqual(
    status.workers.map((worker) => ({ index: worker.index, pid: worker.pid, state: worker.state, restarts: worker.restarts, url: worker.url })),
    pids.map((pid, index) => ({ index, pid, state: 'listening', restarts: 0, url: cluster.url })),
  );
  for (const worker of status.workers) assert.match(worker.node, new RegExp(`/w${worker.index}-${worker.pid}$`));
  assert.equal(status.counts.connections, status.workers.reduce((n, worker) => n + worker.connections, 0));

  const mine = await eventually(async () => {
    const found = await cluster.connections();
    const entries = [ada!.connectionId, bob!.connectionId].map((id) => found.find((entry) => entry.id === id));
    return entries.every((entry) => entry?.channels.length) && entries[1]!.channels.length === 2 ? entries : undefined;
  });
  assert.deepEqual(
    mine.map((entry) => ({ worker: entry!.worker, pid: entry!.pid, identityId: entry!.identityId, channels: entry!.channels, remoteAddress: entry!.remoteAddress })),
    [
      { worker: 0, pid: pids[0], identityId: 'ada-r', channels: ['room.1'], remoteAddress: '127.0.0.1' },
      { worker: 1, pid: pids[1], identityId: 'bob-r', channels: ['room.1', 'room.2'], remoteAddress: '127.0.0.1' },
    ],
  );
  assert.deepEqual((await cluster.connections('?user=ada-r')).map((entry) => entry.id), [ada!.connectionId]);
  assert.ok((await cluster.connections('?worker=1')).every((entry) => entry.worker === 1 && entry.pid === pids[1]));
  assert.equal((await cluster.api('GET', '/cluster/connections?worker=x')).status, 400);

  // A connection that closes leaves the registry.
  const id = bob!.connectionId;
  bob!.close();
  await eventually(async () => !(await cluster.connections()).some((entry) => entry.id === id), 10_000, 'the closed connection gone');
});

test('the registry follows an identity that arrives after the connection opened ($auth)', async () => {
  const [anonymous] = await sdkPair();
  const id = anonymous!.connectionId;
  await eventually(async () => (await cluster.connections()).some((entry) => entry.id === id && entry.identityId === null), 10_000, 'listed as anonymous');
  await anonymous!.authenticate(await tokenFor('late-auth'));
  await eventually(async () => (await cluster.connections('?user=late-auth')).some((entry) => entry.id === id), 10_000, 'listed with its identity');
});

test('a grant revoked on whichever worker takes the request takes effect at once on every worker', async () => {
  const [one, two] = await sdkPair(() => 'eve-g');
  const subscriptions = [one!.subscribe('private-team'), two!.subscribe('private-team')];
  await Promise.all(subscriptions.map((subscription) => subscription.ready));
  const removed = subscriptions.map((subscription) => new Promise((resolve) => subscription.on('unsubscribed', resolve)));
  // The admin API is on the shared port: this lands on one of the two workers; the other hears it through the bus.
  const response = await fetch(`${cluster.url}/admin/grants`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ identity: 'eve-g', remove: ['subscribe:*'], reason: 'left the team' }),
  });
  assert.equal(response.status, 200);
  const infos = (await Promise.all(removed.map((promise) => eventually(() => Promise.race([promise, new Promise((resolve) => setTimeout(resolve, 50, false))]) as Promise<unknown>, 10_000, 'both unsubscribed')))) as { reason: string }[];
  assert.deepEqual(infos.map((info) => info.reason), ['grant_revoked', 'grant_revoked']);
  assert.deepEqual(subscriptions.map((subscription) => subscription.active), [false, false]);
});

test('a direct send to a connection on another worker reaches it', async () => {
  const [here, there] = await sdkPair();
  const note = new Promise<unknown>((resolve) => there!.on('note' as never, resolve as never));
  const reply = (await here!.request('where.tell' as never, { connectionId: there!.connectionId!, text: 'psst' } as never)) as { handed: boolean };
  assert.equal(reply.handed, true);
  assert.deepEqual(await eventually(() => Promise.race([note, new Promise((resolve) => setTimeout(resolve, 50, false))]) as Promise<unknown>, 10_000, 'the note'), { text: 'psst', from: pids[0] });
});

test('POST /cluster/publish: the agent publishes as a worker does, with the next history position', async () => {
  const [subscriberA, subscriberB] = await rawPair();
  const [publisher] = await rawPair();
  for (const subscriber of [subscriberA!, subscriberB!]) await subscriber.request('$subscribe', { channel: 'h.agent' });
  assert.equal((await publisher!.request('$publish', { channel: 'h.agent', event: 'from-a-worker', data: { n: 1 } })).error, undefined);
  const answer = await cluster.api('POST', '/cluster/publish', { channel: 'h.agent', event: 'from-the-agent', data: { n: 2 } });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.workers, 2, 'both workers have subscribers');
  for (const subscriber of [subscriberA!, subscriberB!]) {
    await eventually(() => messagesOf(subscriber, 'h.agent').length === 2, 10_000, 'both messages');
    const [fromWorker, fromAgent] = messagesOf(subscriber, 'h.agent');
    const { epoch } = fromWorker!;
    assert.deepEqual(fromWorker, { channel: 'h.agent', event: 'from-a-worker', data: { n: 1 }, epoch, offset: 1 });
    assert.deepEqual(fromAgent, { channel: 'h.agent', event: 'from-the-agent', data: { n: 2 }, epoch, offset: 2 });
    assert.deepEqual(answer.body.position, { epoch, offset: 2 });
  }
  // A late subscriber on either worker recovers the agent's message from the history.
  const late = await rawPair();
  const reply = await late[1]!.request('$subscribe', { channel: 'h.agent', last: 10 });
  assert.deepEqual(
    (reply.data as { publications: ChannelMessage[] }).publications.map((message) => message.event),
    ['from-a-worker', 'from-the-agent'],
  );
  // A channel without history: no position.
  const plain = await cluster.api('POST', '/cluster/publish', { channel: 'no-history', event: 'e', data: null });
  assert.deepEqual(plain, { status: 200, body: { channel: 'no-history', event: 'e', workers: 0 } });
});

test('the agent API refuses bad publications and requests without the admin token', async () => {
  const refusals = [
    [{ channel: 'bad name', event: 'e' }, 400, 'bad_channel'],
    [{ channel: 'ok', event: '' }, 400, 'invalid_payload'],
    [{ channel: 'ok', event: 'e', data: 'x'.repeat(70_000) }, 413, 'limit_exceeded'],
    [[1, 2], 400, 'bad_request'],
  ] as const;
  for (const [body, status, code] of refusals) {
    const answer = await cluster.api('POST', '/cluster/publish', body);
    assert.deepEqual([answer.status, answer.body.error.code], [status, code], JSON.stringify(body).slice(0, 40));
  }
  for (const authorization of [undefined, 'Bearer not-the-token']) {
    const response = await fetch(`${cluster.agent}/cluster`, { headers: authorization ? { authorization } : {} });
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'unauthorized');
  }
  assert.equal((await cluster.api('GET', '/nowhere')).status, 404);
});
