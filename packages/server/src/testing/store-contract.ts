// The contract every store must honour; each implementation's test runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEntry, ConnectionClose, ConnectionOpen, GrantRecord, Store } from '../index.ts';

function opened(id: string, fields: Partial<ConnectionOpen> = {}): ConnectionOpen {
  return {
    id,
    node: 'n1',
    pid: 4242,
    remoteAddress: '127.0.0.1',
    identityId: 'ada',
    userAgent: 'test/1.0',
    protocol: 'switchboard.v1',
    codec: 'json',
    connectedAt: 1_000,
    ...fields,
  };
}

function closed(fields: Partial<ConnectionClose> = {}): ConnectionClose {
  return { code: 1000, reason: 'bye', bytesIn: 10, bytesOut: 20, messagesIn: 1, messagesOut: 2, closedAt: 2_000, ...fields };
}

function entry(type: string, at: number, fields: Partial<AuditEntry> = {}): AuditEntry {
  return { at, type, node: 'n1', ...fields };
}

/** `value` with every U+0000 in its text as U+FFFD: what a store that cannot keep one (PostgreSQL) returns. */
function withoutNul(value: unknown): unknown {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value).replaceAll('\\u0000', '\\ufffd')) as unknown);
}

/**
 * Registers the store contract tests. `create` returns a new store over empty data, not yet migrated.
 * `reopen`, when the store persists, closes `store` and returns a new store over the same data (the suite
 * then checks that what was written survives).
 */
export function storeContract(name: string, create: () => Promise<Store>, reopen?: (store: Store) => Promise<Store>): void {
  async function withStore(body: (store: Store) => Promise<Store | void>): Promise<void> {
    let store = await create();
    try {
      await store.migrate();
      store = (await body(store)) ?? store;
    } finally {
      await store.close();
    }
  }

  test(`${name}: migrate is idempotent and keeps the data`, () =>
    withStore(async (store) => {
      await store.connectionOpened(opened('c1'));
      await store.appendAudit([entry('t', 1)]);
      await store.migrate();
      assert.deepEqual(await store.connection('c1'), opened('c1'));
      assert.equal((await store.audit()).length, 1);
    }));

  test(`${name}: a connection is stored as it opened, then with how it closed, once`, () =>
    withStore(async (store) => {
      assert.equal(await store.connection('c1'), undefined);
      await store.connectionOpened(opened('c1'));
      const anonymous = opened('c2');
      delete anonymous.identityId;
      await store.connectionOpened(anonymous);
      assert.deepEqual(await store.connection('c1'), opened('c1'));
      assert.deepEqual(await store.connection('c2'), anonymous);
      assert.equal(await store.connectionClosed('c1', closed()), true);
      assert.deepEqual(await store.connection('c1'), { ...opened('c1'), close: closed() });
      assert.equal(await store.connectionClosed('c1', closed({ code: 4000, closedAt: 3_000 })), false);
      assert.deepEqual((await store.connection('c1'))!.close, closed());
      assert.equal(await store.connectionClosed('unknown', closed()), false);
      assert.equal(await store.connection('unknown'), undefined);
    }));

  test(`${name}: opening an id that is already stored rejects and keeps the first`, () =>
    withStore(async (store) => {
      await store.connectionOpened(opened('c1'));
      await assert.rejects(store.connectionOpened(opened('c1', { node: 'n2' })));
      assert.equal((await store.connection('c1'))!.node, 'n1');
      assert.equal((await store.connections()).length, 1);
    }));

  test(`${name}: connections match every given field, newest first, at most limit`, () =>
    withStore(async (store) => {
      await store.connectionOpened(opened('a', { node: 'n1', identityId: 'ada', connectedAt: 100 }));
      await store.connectionOpened(opened('b', { node: 'n2', identityId: 'bob', connectedAt: 200 }));
      await store.connectionOpened(opened('c', { node: 'n1', identityId: 'bob', connectedAt: 300 }));
      const anonymous = opened('d', { node: 'n2', connectedAt: 400 });
      delete anonymous.identityId;
      await store.connectionOpened(anonymous);
      await store.connectionClosed('b', closed());
      const ids = async (query?: Parameters<Store['connections']>[0]) => (await store.connections(query)).map((c) => c.id);
      assert.deepEqual(await ids(), ['d', 'c', 'b', 'a']);
      assert.deepEqual(await ids({ node: 'n1' }), ['c', 'a']);
      assert.deepEqual(await ids({ identityId: 'bob' }), ['c', 'b']);
      assert.deepEqual(await ids({ identityId: 'bob', node: 'n2' }), ['b']);
      assert.deepEqual(await ids({ open: true }), ['d', 'c', 'a']);
      assert.deepEqual(await ids({ open: false }), ['b']);
      assert.deepEqual(await ids({ since: 200, until: 400 }), ['c', 'b']);
      assert.deepEqual(await ids({ since: 401 }), []);
      assert.deepEqual(await ids({ limit: 2 }), ['d', 'c']);
      assert.deepEqual(await ids({ node: 'n1', limit: 1 }), ['c']);
      assert.deepEqual(await ids({ node: 'nowhere' }), []);
      for (const limit of [0, -1, 1.5]) await assert.rejects(store.connections({ limit }), RangeError);
    }));

  test(`${name}: queries return 100 records when no limit is given`, () =>
    withStore(async (store) => {
      for (let i = 0; i < 120; i++) await store.connectionOpened(opened(`c${i}`, { connectedAt: i }));
      await store.appendAudit(Array.from({ length: 120 }, (_, i) => entry('t', i)));
      const connections = await store.connections();
      assert.equal(connections.length, 100);
      assert.equal(connections[0]!.id, 'c119');
      const audit = await store.audit();
      assert.equal(audit.length, 100);
      assert.equal(audit[0]!.at, 119);
    }));

  test(`${name}: closeNode closes the node's open connections only`, () =>
    withStore(async (store) => {
      await store.connectionOpened(opened('a', { node: 'dead' }));
      await store.connectionOpened(opened('b', { node: 'dead' }));
      await store.connectionOpened(opened('c', { node: 'dead' }));
      await store.connectionOpened(opened('d', { node: 'alive' }));
      await store.connectionClosed('c', closed({ code: 1000 }));
      const crash = closed({ code: 1006, reason: 'node died', closedAt: 5_000, bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0 });
      assert.equal(await store.closeNode('dead', crash), 2);
      assert.deepEqual((await store.connection('a'))!.close, crash);
      assert.deepEqual((await store.connection('b'))!.close, crash);
      assert.equal((await store.connection('c'))!.close!.code, 1000);
      assert.equal((await store.connection('d'))!.close, undefined);
      assert.equal(await store.closeNode('dead', crash), 0);
      assert.equal(await store.closeNode('unknown', crash), 0);
    }));

  test(`${name}: text with a U+0000 is kept whole (a store may write U+FFFD in its place) and found by the queries that name it`, () =>
    withStore(async (store) => {
      // A WebSocket close reason or a token's subject may hold one; Node 22's node:sqlite cut a bound string at it.
      const odd = opened('c\u00001', { node: 'n\u0000x', identityId: 'ada\u0000lovelace', userAgent: 'agent\u0000tail', remoteAddress: '::1\u0000' });
      await store.connectionOpened(odd);
      const close = closed({ reason: 'bye\u0000now' });
      assert.equal(await store.connectionClosed('c\u00001', close), true);
      assert.deepEqual(withoutNul(await store.connection('c\u00001')), withoutNul({ ...odd, close }));
      assert.deepEqual(withoutNul(await store.connections({ node: 'n\u0000x' })), withoutNul([{ ...odd, close }]));
      assert.deepEqual((await store.connections({ identityId: 'ada\u0000lovelace' })).length, 1);
      await store.connectionOpened(opened('c2', { node: 'n\u0000x' }));
      assert.equal(await store.closeNode('n\u0000x', closed({ reason: 'died\u0000' })), 1);
      await store.appendAudit([entry('t', 1, { connectionId: 'c\u00001', identityId: 'ada\u0000lovelace' })]);
      assert.equal((await store.audit({ connectionId: 'c\u00001' })).length, 1);
      const grants: GrantRecord = { identityId: 'g\u0000', set: null, added: ['subscribe:a\u0000'], removed: [], updatedAt: 1 };
      await store.saveGrants(grants);
      await store.disableUser({ identityId: 'd\u0000', reason: 'why\u0000not', disabledAt: 2 });
      assert.deepEqual(withoutNul(await store.loadGrants()), withoutNul({ grants: [grants], disabled: [{ identityId: 'd\u0000', reason: 'why\u0000not', disabledAt: 2 }] }));
      assert.equal(await store.deleteGrants('g\u0000'), true);
      assert.equal(await store.enableUser('d\u0000'), true);
    }));

  test(`${name}: deleteClosedConnections deletes what closed before the time, never open ones`, () =>
    withStore(async (store) => {
      await store.connectionOpened(opened('early'));
      await store.connectionOpened(opened('boundary'));
      await store.connectionOpened(opened('late'));
      await store.connectionOpened(opened('open', { connectedAt: 0 }));
      await store.connectionClosed('early', closed({ closedAt: 1_999 }));
      await store.connectionClosed('boundary', closed({ closedAt: 2_000 }));
      await store.connectionClosed('late', closed({ closedAt: 2_001 }));
      assert.equal(await store.deleteClosedConnections(2_000), 1);
      assert.deepEqual((await store.connections()).map((c) => c.id).sort(), ['boundary', 'late', 'open']);
      assert.equal(await store.deleteClosedConnections(2_000), 0);
      assert.equal(await store.deleteClosedConnections(Number.MAX_SAFE_INTEGER), 2);
      assert.deepEqual((await store.connections()).map((c) => c.id), ['open']);
    }));

  test(`${name}: audit records come back as appended, with increasing ids`, () =>
    withStore(async (store) => {
      const entries = [
        entry('auth.failed', 10, { connectionId: 'c1', data: { why: 'expired', at: [1, 2], nested: { ok: false, none: null } } }),
        entry('grants.revoked', 20, { identityId: 'ada', data: { grants: ['broadcast'] } }),
        entry('channel.subscribe.refused', 30, { identityId: 'bob', connectionId: 'c2', channel: 'private-x' }),
        entry('message.out', 40, { messageType: '$room.state', room: 'r1', size: 120, outcome: 'ok', recipients: 3 }),
        entry('resource.op', 50, { resource: 'orders', messageType: '$live.op', size: 80, recipients: 1000, data: { op: 'patch' } }),
      ];
      await store.appendAudit(entries);
      await store.appendAudit([]);
      const records = await store.audit();
      assert.deepEqual(records.map(({ id: _id, ...rest }) => rest), [...entries].reverse());
      const ids = records.map((record) => record.id).reverse();
      assert.ok(ids.every((id, i) => Number.isSafeInteger(id) && (i === 0 || id > ids[i - 1]!)), `ids ${ids.join(',')}`);
      await store.appendAudit([entry('later', 5)]);
      const later = (await store.audit({ type: 'later' }))[0]!;
      assert.ok(later.id > ids[4]!, 'ids increase in append order, whatever the time');
      assert.deepEqual((await store.audit({ room: 'r1' })).map((r) => r.type), ['message.out']);
      assert.deepEqual((await store.audit({ resource: 'orders' })).map((r) => r.type), ['resource.op']);
      assert.deepEqual((await store.audit({ messageType: '$room.state' })).map((r) => r.type), ['message.out']);
    }));

  test(`${name}: a record appended with its message's frame (and its reply's) comes back with the payload and id read from it`, () =>
    withStore(async (store) => {
      await store.appendAudit([
        entry('message.in', 1, { messageType: 'chat.send', frame: '{"type":"chat.send","id":7,"data":{"text":"hi","nul":"\\u0000","deep":[{"a":1}]}}' }),
        entry('message.out', 2, { messageType: 'chat.send', outcome: 'forbidden', frame: '{"type":"chat.send","id":7,"error":{"code":"forbidden","message":"no"}}' }),
        entry('message.fanout', 3, { messageType: 'chat.said', recipients: 2, frame: '{"type":"chat.said","data":{"text":"hi"}}' }),
        entry('message.out', 4, { messageType: 'x', data: { note: 'kept' }, frame: '{"type":"x","id":"r1","data":null}' }),
        entry('message.in', 5, {
          messageType: 'chat.send',
          frame: '{"type":"chat.send","id":8,"data":{"text":"yo"}}',
          reply: { at: 6.5, size: 40, outcome: 'ok', frame: '{"type":"chat.send","id":8,"data":{"sent":true}}' },
        }),
        entry('message.in', 7, { messageType: 'chat.send', data: { id: 9 }, reply: { at: 8, size: 60, outcome: 'bad_input', data: { payload: { code: 'bad_input', nested: ['\u0000'] } } } }),
      ]);
      const records = (await store.audit()).reverse().map(({ id: _id, ...rest }) => rest);
      assert.deepEqual(records, [
        entry('message.in', 1, { messageType: 'chat.send', data: { payload: { text: 'hi', nul: '\u0000', deep: [{ a: 1 }] }, id: 7 } }),
        entry('message.out', 2, { messageType: 'chat.send', outcome: 'forbidden', data: { payload: { code: 'forbidden', message: 'no' }, id: 7 } }),
        entry('message.fanout', 3, { messageType: 'chat.said', recipients: 2, data: { payload: { text: 'hi' } } }),
        entry('message.out', 4, { messageType: 'x', data: { note: 'kept', payload: null, id: 'r1' } }),
        { ...entry('message.in', 5, { messageType: 'chat.send', data: { payload: { text: 'yo' }, id: 8 } }), reply: { at: 6.5, size: 40, outcome: 'ok', data: { payload: { sent: true } } } },
        { ...entry('message.in', 7, { messageType: 'chat.send', data: { id: 9 } }), reply: { at: 8, size: 60, outcome: 'bad_input', data: { payload: { code: 'bad_input', nested: ['\u0000'] } } } },
      ]);
      assert.ok(records.every((record) => !('frame' in record) && !('frame' in (record.reply ?? {}))), 'a record has no frame of its own');
    }));

  test(`${name}: large batches come back whole and in order, whatever their records share or do not`, () =>
    withStore(async (store) => {
      // Runs of records alike (the same types, node and outcomes, the same NULLs) and mixed ones, names a
      // statement could not spell as they are (a quote, a space, a NUL, a long one) or an array literal would
      // take for its own syntax (a backslash, double quotes, a comma, braces, the word NULL), in batches of many
      // sizes: more different shapes than a store would keep prepared statements for.
      const odd = ["it's", 'two words', 'nul\u0000here', 'x'.repeat(100), 'ünïcödé', '', 'back\\slash "quoted"', 'NULL', '{a,b}', '\\'];
      const made: AuditEntry[] = [];
      let at = 0;
      for (let batch = 0; batch < 90; batch++) {
        const entries: AuditEntry[] = [];
        const size = 1 + ((batch * 37) % 70);
        for (let i = 0; i < size; i++) {
          const alike = batch % 3 !== 2;
          const record = entry(alike ? 'message.in' : `type.${i % 4}`, ++at, {
            node: batch % 5 === 0 ? (odd[batch % odd.length] || 'n1') : 'n1',
            messageType: alike ? `kind.${batch % 7}` : odd[i % odd.length]!,
            outcome: i % 9 === 0 && !alike ? 'bad_input' : 'ok',
            size: 10 + (i % 3),
          });
          if (i % 4 === 0 || !alike) record.connectionId = `c${i % 5}`;
          if (batch % 4 === 1) record.reply = { at: at + 0.5, size: 20, outcome: odd[batch % odd.length] || 'ok' };
          if (batch % 6 === 3 && i % 2 === 0) record.data = { i, text: odd[i % odd.length] };
          entries.push(record);
        }
        await store.appendAudit(entries);
        made.push(...entries);
      }
      const records = (await store.audit({ limit: made.length + 1 })).reverse();
      assert.equal(records.length, made.length);
      // A store may not keep a NUL in text (PostgreSQL): the records are compared with it replaced.
      assert.deepEqual(withoutNul(records.map(({ id: _id, ...rest }) => rest)), withoutNul(made));
      const ids = records.map((record) => record.id);
      assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'ids increase in append order');
    }));

  test(`${name}: audit queries match every given field, newest first, ties by append order`, () =>
    withStore(async (store) => {
      await store.appendAudit([
        entry('a', 100, { identityId: 'ada', connectionId: 'c1', channel: 'x' }),
        entry('b', 200, { identityId: 'ada', connectionId: 'c2' }),
        entry('a', 200, { identityId: 'bob', connectionId: 'c3', channel: 'x' }),
        entry('b', 300, { identityId: 'bob' }),
      ]);
      await store.appendAudit([entry('c', 200)]);
      const summary = async (query?: Parameters<Store['audit']>[0]) => (await store.audit(query)).map((r) => `${r.type}@${r.at}`);
      assert.deepEqual(await summary(), ['b@300', 'c@200', 'a@200', 'b@200', 'a@100']);
      assert.deepEqual(await summary({ identityId: 'ada' }), ['b@200', 'a@100']);
      assert.deepEqual(await summary({ connectionId: 'c3' }), ['a@200']);
      assert.deepEqual(await summary({ type: 'a' }), ['a@200', 'a@100']);
      assert.deepEqual(await summary({ channel: 'x' }), ['a@200', 'a@100']);
      assert.deepEqual(await summary({ channel: 'x', identityId: 'ada' }), ['a@100']);
      assert.deepEqual(await summary({ since: 200 }), ['b@300', 'c@200', 'a@200', 'b@200']);
      assert.deepEqual(await summary({ until: 200 }), ['a@100']);
      assert.deepEqual(await summary({ since: 200, until: 300, limit: 2 }), ['c@200', 'a@200']);
      assert.deepEqual(await summary({ type: 'nothing' }), []);
      for (const limit of [0, -3, 2.5]) await assert.rejects(store.audit({ limit }), RangeError);
    }));

  test(`${name}: an audit batch with a bad entry is refused whole`, () =>
    withStore(async (store) => {
      await assert.rejects(store.appendAudit([entry('ok', 1), entry('', 2)]));
      await assert.rejects(store.appendAudit([entry('ok', 1), entry('bad time', Number.NaN)]));
      await assert.rejects(store.appendAudit([entry('ok', 1), { at: 3, node: 'n1' } as AuditEntry]));
      assert.deepEqual(await store.audit(), []);
    }));

  test(`${name}: deleteAuditBefore deletes records older than the time`, () =>
    withStore(async (store) => {
      await store.appendAudit([entry('t', 99), entry('t', 100), entry('t', 101)]);
      assert.equal(await store.deleteAuditBefore(100), 1);
      assert.deepEqual((await store.audit()).map((r) => r.at), [101, 100]);
      assert.equal(await store.deleteAuditBefore(100), 0);
      assert.equal(await store.deleteAuditBefore(1_000), 2);
      assert.deepEqual(await store.audit(), []);
    }));

  test(`${name}: grants and disabled users are saved, replaced, deleted and loaded`, () =>
    withStore(async (store) => {
      assert.deepEqual(await store.loadGrants(), { grants: [], disabled: [] });
      const ada: GrantRecord = { identityId: 'ada', set: null, added: ['subscribe:b', 'subscribe:a'], removed: ['broadcast'], updatedAt: 1 };
      const bob: GrantRecord = { identityId: 'bob', set: [], added: [], removed: [], updatedAt: 2 };
      const cyd: GrantRecord = { identityId: 'cyd', set: ['call:x.*'], added: [], removed: [], updatedAt: 3 };
      await store.saveGrants(ada);
      await store.saveGrants(bob);
      await store.saveGrants(cyd);
      const adaLater: GrantRecord = { ...ada, added: ['call:*'], updatedAt: 4 };
      await store.saveGrants(adaLater);
      await store.disableUser({ identityId: 'eve', reason: 'abuse', disabledAt: 5 });
      await store.disableUser({ identityId: 'eve', reason: 'abuse, again', disabledAt: 6 });
      await store.disableUser({ identityId: 'mal', reason: '', disabledAt: 7 });
      const load = async () => {
        const snapshot = await store.loadGrants();
        return {
          grants: [...snapshot.grants].sort((a, b) => a.identityId.localeCompare(b.identityId)),
          disabled: [...snapshot.disabled].sort((a, b) => a.identityId.localeCompare(b.identityId)),
        };
      };
      assert.deepEqual(await load(), {
        grants: [adaLater, bob, cyd],
        disabled: [
          { identityId: 'eve', reason: 'abuse, again', disabledAt: 6 },
          { identityId: 'mal', reason: '', disabledAt: 7 },
        ],
      });
      assert.equal(await store.deleteGrants('bob'), true);
      assert.equal(await store.deleteGrants('bob'), false);
      assert.equal(await store.enableUser('eve'), true);
      assert.equal(await store.enableUser('eve'), false);
      assert.equal(await store.enableUser('nobody'), false);
      assert.deepEqual(await load(), { grants: [adaLater, cyd], disabled: [{ identityId: 'mal', reason: '', disabledAt: 7 }] });
    }));

  test(`${name}: records are copies: changing what went in or came out changes nothing stored`, () =>
    withStore(async (store) => {
      const connection = opened('c1');
      await store.connectionOpened(connection);
      connection.node = 'changed';
      const close = closed();
      await store.connectionClosed('c1', close);
      close.code = 4999;
      const out = (await store.connection('c1'))!;
      out.node = 'changed';
      out.close!.code = 4998;
      (await store.connections())[0]!.remoteAddress = 'changed';
      assert.deepEqual(await store.connection('c1'), { ...opened('c1'), close: closed() });

      const data = { list: [1] };
      const audit = entry('t', 1, { data });
      await store.appendAudit([audit]);
      data.list.push(2);
      audit.type = 'changed';
      const record = (await store.audit())[0]!;
      (record.data!.list as number[]).push(3);
      assert.deepEqual((await store.audit()).map(({ id: _id, ...rest }) => rest), [entry('t', 1, { data: { list: [1] } })]);

      const grants: GrantRecord = { identityId: 'ada', set: ['a'], added: ['b'], removed: [], updatedAt: 1 };
      await store.saveGrants(grants);
      grants.set!.push('changed');
      grants.added.length = 0;
      const snapshot = await store.loadGrants();
      snapshot.grants[0]!.removed.push('changed');
      assert.deepEqual((await store.loadGrants()).grants, [{ identityId: 'ada', set: ['a'], added: ['b'], removed: [], updatedAt: 1 }]);
    }));

  test(`${name}: close is idempotent, and every method rejects after it`, async () => {
    const store = await create();
    await store.migrate();
    await store.close();
    await store.close();
    const calls: [string, () => Promise<unknown>][] = [
      ['migrate', () => store.migrate()],
      ['connectionOpened', () => store.connectionOpened(opened('c1'))],
      ['connectionClosed', () => store.connectionClosed('c1', closed())],
      ['closeNode', () => store.closeNode('n1', closed())],
      ['connection', () => store.connection('c1')],
      ['connections', () => store.connections()],
      ['deleteClosedConnections', () => store.deleteClosedConnections(1)],
      ['appendAudit', () => store.appendAudit([entry('t', 1)])],
      ['audit', () => store.audit()],
      ['deleteAuditBefore', () => store.deleteAuditBefore(1)],
      ['saveGrants', () => store.saveGrants({ identityId: 'a', set: null, added: [], removed: [], updatedAt: 1 })],
      ['deleteGrants', () => store.deleteGrants('a')],
      ['disableUser', () => store.disableUser({ identityId: 'a', reason: 'r', disabledAt: 1 })],
      ['enableUser', () => store.enableUser('a')],
      ['loadGrants', () => store.loadGrants()],
    ];
    for (const [method, call] of calls) await assert.rejects(call, `${method} after close`);
  });

  test(`${name}: what was written survives closing and reopening`, { skip: reopen === undefined && 'the store does not persist' }, () =>
    withStore(async (store) => {
      await store.connectionOpened(opened('c1'));
      await store.connectionClosed('c1', closed());
      await store.appendAudit([entry('t', 1, { data: { k: 'v' } })]);
      await store.saveGrants({ identityId: 'ada', set: [], added: ['a'], removed: ['b'], updatedAt: 1 });
      await store.disableUser({ identityId: 'eve', reason: 'r', disabledAt: 2 });
      const before = { connection: await store.connection('c1'), audit: await store.audit(), grants: await store.loadGrants() };
      const again = await reopen!(store);
      await again.migrate();
      assert.deepEqual({ connection: await again.connection('c1'), audit: await again.audit(), grants: await again.loadGrants() }, before);
      await again.appendAudit([entry('t', 2)]);
      const [newest, oldest] = await again.audit();
      assert.ok(newest!.id > oldest!.id, 'ids keep increasing after a reopen');
      return again;
    }));
}
