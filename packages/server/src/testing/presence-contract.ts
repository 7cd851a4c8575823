// The contract every presence back end must honour; each implementation's test runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Member, PresenceChange } from '@switchboard/protocol';
import type { PresenceMember, PresenceStore } from '../index.ts';

function member(connectionId: string, identityId: string, info: Record<string, unknown> = {}, node = 'n1'): PresenceMember {
  return { connectionId, node, identityId, info };
}

/** Lists and diffs in a fixed order: the contract leaves their order unspecified. */
function byId(members: Member[]): Member[] {
  return [...members].sort((a, b) => a.id.localeCompare(b.id));
}

function sorted(changes: PresenceChange[]): PresenceChange[] {
  return [...changes].sort((a, b) => a.channel.localeCompare(b.channel) || a.member.id.localeCompare(b.member.id));
}

/** What `presenceContract` hands `create`. */
export interface PresenceContractOptions {
  /** The clock a store with liveness (`alive`, `sweep`) must measure ttls by; the suite moves it by hand. */
  now: () => number;
}

/** A clock the tests move by hand. */
interface Clock {
  time: number;
  now: () => number;
}

function clock(start = 1_000_000): Clock {
  const c: Clock = { time: start, now: () => c.time };
  return c;
}

/** A store's liveness methods, or undefined when it has none (those tests then skip). */
function liveness(presence: PresenceStore): Required<Pick<PresenceStore, 'alive' | 'sweep'>> | undefined {
  const { alive, sweep } = presence;
  if (typeof alive !== 'function' || typeof sweep !== 'function') return undefined;
  return { alive: alive.bind(presence), sweep: sweep.bind(presence) };
}

/**
 * Registers the presence contract tests. `create` returns a new, empty presence store that measures
 * liveness by `options.now` (a store without `alive` and `sweep` may ignore it); the suite closes it. The
 * liveness tests skip for a store without `alive` and `sweep`.
 */
export function presenceContract(name: string, create: (options: PresenceContractOptions) => PresenceStore | Promise<PresenceStore>): void {
  async function withPresence(body: (presence: PresenceStore) => Promise<void>): Promise<void> {
    await withClock(clock(), body);
  }

  async function withClock(c: Clock, body: (presence: PresenceStore) => Promise<void>): Promise<void> {
    const presence = await create({ now: c.now });
    try {
      await body(presence);
    } finally {
      await presence.close();
    }
  }

  /** A liveness test: skipped for a store without `alive` and `sweep`. */
  function live(title: string, body: (presence: PresenceStore, methods: NonNullable<ReturnType<typeof liveness>>, c: Clock) => Promise<void>): void {
    test(`${name}: ${title}`, (t) => {
      const c = clock();
      return withClock(c, async (presence) => {
        const methods = liveness(presence);
        if (methods === undefined) {
          t.skip('no liveness (alive, sweep)');
          return;
        }
        await body(presence, methods, c);
      });
    });
  }

  test(`${name}: an identity joins with its first connection and leaves with its last`, () =>
    withPresence(async (presence) => {
      assert.deepEqual(await presence.add('room', member('c1', 'ada', { name: 'Ada' })), [
        { channel: 'room', action: 'join', member: { id: 'ada', info: { name: 'Ada' } } },
      ]);
      assert.deepEqual(await presence.add('room', member('c2', 'ada', { name: 'Ada' })), []);
      assert.deepEqual(await presence.list('room'), [{ id: 'ada', info: { name: 'Ada' } }]);
      assert.deepEqual(await presence.remove('room', 'c1'), []);
      assert.deepEqual(await presence.list('room'), [{ id: 'ada', info: { name: 'Ada' } }]);
      assert.deepEqual(await presence.remove('room', 'c2'), [
        { channel: 'room', action: 'leave', member: { id: 'ada', info: { name: 'Ada' } } },
      ]);
      assert.deepEqual(await presence.list('room'), []);
      assert.deepEqual(await presence.channels(), []);
    }));

  test(`${name}: list has one member per identity, its info merged over its connections in the order added`, () =>
    withPresence(async (presence) => {
      await presence.add('room', member('c1', 'ada', { name: 'Ada', color: 'red' }));
      await presence.add('room', member('c2', 'bob', { name: 'Bob' }));
      await presence.add('room', member('c3', 'ada', { color: 'blue', device: 'phone' }, 'n2'));
      assert.deepEqual(byId(await presence.list('room')), [
        { id: 'ada', info: { name: 'Ada', color: 'blue', device: 'phone' } },
        { id: 'bob', info: { name: 'Bob' } },
      ]);
      // The leave of an identity carries its last connection's info.
      assert.deepEqual(await presence.remove('room', 'c3'), []);
      assert.deepEqual(byId(await presence.list('room')), [
        { id: 'ada', info: { name: 'Ada', color: 'red' } },
        { id: 'bob', info: { name: 'Bob' } },
      ]);
      assert.deepEqual(await presence.remove('room', 'c1'), [
        { channel: 'room', action: 'leave', member: { id: 'ada', info: { name: 'Ada', color: 'red' } } },
      ]);
    }));

  test(`${name}: channels are independent`, () =>
    withPresence(async (presence) => {
      assert.equal((await presence.add('a', member('c1', 'ada'))).length, 1);
      assert.equal((await presence.add('b', member('c1', 'ada'))).length, 1);
      await presence.add('b', member('c2', 'bob'));
      assert.deepEqual([...(await presence.channels())].sort(), ['a', 'b']);
      assert.deepEqual(await presence.remove('a', 'c1'), [{ channel: 'a', action: 'leave', member: { id: 'ada', info: {} } }]);
      assert.deepEqual(await presence.channels(), ['b']);
      assert.deepEqual(byId(await presence.list('b')), [{ id: 'ada', info: {} }, { id: 'bob', info: {} }]);
      assert.deepEqual(await presence.list('a'), []);
    }));

  test(`${name}: removing what is not there changes nothing and does not throw`, () =>
    withPresence(async (presence) => {
      assert.deepEqual(await presence.remove('nowhere', 'c1'), []);
      await presence.add('room', member('c1', 'ada'));
      assert.deepEqual(await presence.remove('room', 'c-unknown'), []);
      assert.deepEqual(await presence.remove('other', 'c1'), []);
      assert.equal((await presence.remove('room', 'c1')).length, 1);
      assert.deepEqual(await presence.remove('room', 'c1'), []);
      assert.deepEqual(await presence.list('nowhere'), []);
      assert.deepEqual(await presence.removeNode('no-such-node'), []);
    }));

  test(`${name}: adding a connection again replaces it; with another identity it leaves and joins`, () =>
    withPresence(async (presence) => {
      await presence.add('room', member('c1', 'ada', { v: 1 }));
      assert.deepEqual(await presence.add('room', member('c1', 'ada', { v: 2 })), []);
      assert.deepEqual(await presence.list('room'), [{ id: 'ada', info: { v: 2 } }]);
      // Still one connection: removing it once is the leave.
      assert.deepEqual(await presence.add('room', member('c1', 'bob', { v: 3 })), [
        { channel: 'room', action: 'leave', member: { id: 'ada', info: { v: 2 } } },
        { channel: 'room', action: 'join', member: { id: 'bob', info: { v: 3 } } },
      ]);
      assert.deepEqual(await presence.list('room'), [{ id: 'bob', info: { v: 3 } }]);
      assert.deepEqual(await presence.remove('room', 'c1'), [{ channel: 'room', action: 'leave', member: { id: 'bob', info: { v: 3 } } }]);
      assert.deepEqual(await presence.channels(), []);
    }));

  test(`${name}: removeNode removes what the node held and returns the leaves of identities left with nothing`, () =>
    withPresence(async (presence) => {
      await presence.add('a', member('c1', 'ada', { on: 'n1' }, 'n1'));
      await presence.add('a', member('c2', 'ada', { on: 'n2' }, 'n2'));
      await presence.add('a', member('c3', 'bob', {}, 'n1'));
      await presence.add('a', member('c4', 'bob', {}, 'n1'));
      await presence.add('b', member('c1', 'ada', {}, 'n1'));
      await presence.add('c', member('c5', 'cyd', {}, 'n2'));
      assert.deepEqual(sorted(await presence.removeNode('n1')), [
        { channel: 'a', action: 'leave', member: { id: 'bob', info: {} } },
        { channel: 'b', action: 'leave', member: { id: 'ada', info: {} } },
      ]);
      assert.deepEqual(await presence.list('a'), [{ id: 'ada', info: { on: 'n2' } }]);
      assert.deepEqual(await presence.list('b'), []);
      assert.deepEqual([...(await presence.channels())].sort(), ['a', 'c']);
      assert.deepEqual(await presence.removeNode('n1'), []);
      // A connection of the dead node is gone: removing it again is nothing.
      assert.deepEqual(await presence.remove('a', 'c3'), []);
      assert.deepEqual(sorted(await presence.removeNode('n2')), [
        { channel: 'a', action: 'leave', member: { id: 'ada', info: { on: 'n2' } } },
        { channel: 'c', action: 'leave', member: { id: 'cyd', info: {} } },
      ]);
      assert.deepEqual(await presence.channels(), []);
    }));

  test(`${name}: concurrent adds and removes of one identity give exactly one join and one leave`, () =>
    withPresence(async (presence) => {
      const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
      const joins = (await Promise.all(ids.map((id) => presence.add('room', member(id, 'ada'))))).flat();
      assert.deepEqual(joins, [{ channel: 'room', action: 'join', member: { id: 'ada', info: {} } }]);
      const leaves = (await Promise.all(ids.map((id) => presence.remove('room', id)))).flat();
      assert.deepEqual(leaves, [{ channel: 'room', action: 'leave', member: { id: 'ada', info: {} } }]);
    }));

  test(`${name}: many identities with many connections`, () =>
    withPresence(async (presence) => {
      for (let i = 0; i < 100; i++) {
        for (let c = 0; c < 3; c++) await presence.add('room', member(`u${i}-c${c}`, `u${i}`, { i }, `n${c}`));
      }
      const list = await presence.list('room');
      assert.equal(list.length, 100);
      assert.deepEqual(new Set(list.map((m) => m.id)).size, 100);
      assert.equal((await presence.removeNode('n0')).length, 0);
      assert.equal((await presence.removeNode('n1')).length, 0);
      assert.equal((await presence.removeNode('n2')).length, 100);
    }));

  test(`${name}: members are copies: changing what went in or came out changes nothing stored`, () =>
    withPresence(async (presence) => {
      const info: Record<string, unknown> = { name: 'Ada' };
      const [join] = await presence.add('room', member('c1', 'ada', info));
      info.name = 'changed';
      join!.member.info.name = 'changed too';
      const list = await presence.list('room');
      list[0]!.info.name = 'changed three';
      list.pop();
      assert.deepEqual(await presence.list('room'), [{ id: 'ada', info: { name: 'Ada' } }]);
      const [leave] = await presence.remove('room', 'c1');
      assert.deepEqual(leave, { channel: 'room', action: 'leave', member: { id: 'ada', info: { name: 'Ada' } } });
    }));

  live('a node that stops calling alive is swept once its ttl lapses, with the leaves of what it held', async (presence, { alive, sweep }, c) => {
    await alive('n1', 100);
    await alive('n2', 100);
    await presence.add('a', member('c1', 'ada', { on: 'n1' }, 'n1'));
    await presence.add('a', member('c2', 'ada', { on: 'n2' }, 'n2'));
    await presence.add('a', member('c3', 'bob', {}, 'n1'));
    await presence.add('b', member('c4', 'cyd', {}, 'n1'));
    c.time += 50;
    await alive('n2', 100);
    assert.deepEqual(await sweep(), []);
    c.time += 49; // n1 has 1 ms left
    assert.deepEqual(await sweep(), []);
    c.time += 1; // ttlMs since n1's last alive: lapsed
    assert.deepEqual(sorted(await sweep()), [
      { channel: 'a', action: 'leave', member: { id: 'bob', info: {} } },
      { channel: 'b', action: 'leave', member: { id: 'cyd', info: {} } },
    ]);
    assert.deepEqual(await presence.list('a'), [{ id: 'ada', info: { on: 'n2' } }]);
    assert.deepEqual(await presence.channels(), ['a']);
    assert.deepEqual(await sweep(), []);
    assert.deepEqual(await presence.remove('a', 'c1'), []);
    c.time += 50;
    assert.deepEqual(await sweep(), [{ channel: 'a', action: 'leave', member: { id: 'ada', info: { on: 'n2' } } }]);
    assert.deepEqual(await presence.channels(), []);
  });

  live('a node that keeps calling alive is never swept', async (presence, { alive, sweep }, c) => {
    await alive('n1', 100);
    await presence.add('room', member('c1', 'ada', {}, 'n1'));
    for (let i = 0; i < 30; i++) {
      c.time += 60;
      await alive('n1', 100);
      assert.deepEqual(await sweep(), []);
    }
    assert.deepEqual(await presence.list('room'), [{ id: 'ada', info: {} }]);
  });

  live('a lapsed node that calls alive before anyone sweeps is alive again', async (presence, { alive, sweep }, c) => {
    await alive('n1', 100);
    await presence.add('room', member('c1', 'ada', {}, 'n1'));
    c.time += 500;
    await alive('n1', 100);
    assert.deepEqual(await sweep(), []);
    assert.deepEqual(await presence.list('room'), [{ id: 'ada', info: {} }]);
  });

  live('only tracked nodes are swept: not one that never called alive, nor one removed since', async (presence, { alive, sweep }, c) => {
    await presence.add('room', member('c1', 'ada', {}, 'untracked'));
    await alive('n2', 100);
    await presence.add('room', member('c2', 'bob', {}, 'n2'));
    assert.equal((await presence.removeNode('n2')).length, 1);
    await presence.add('room', member('c3', 'bob', {}, 'n2'));
    // A tracked node that held nothing lapses: the sweep forgets it and has no leaves.
    await alive('n3', 100);
    c.time += 1_000_000;
    assert.deepEqual(await sweep(), []);
    await presence.add('room', member('c4', 'cyd', {}, 'n3'));
    c.time += 1_000_000;
    assert.deepEqual(await sweep(), []);
    assert.deepEqual(byId(await presence.list('room')), [
      { id: 'ada', info: {} },
      { id: 'bob', info: {} },
      { id: 'cyd', info: {} },
    ]);
  });

  live('concurrent sweeps return each leave exactly once', async (presence, { alive, sweep }, c) => {
    await alive('n1', 100);
    await alive('n2', 100);
    for (let i = 0; i < 10; i++) {
      await presence.add('room', member(`a${i}`, `u${i}`, {}, 'n1'));
      await presence.add('room', member(`b${i}`, `u${i}`, {}, 'n2'));
      await presence.add('other', member(`c${i}`, `v${i}`, {}, 'n2'));
    }
    c.time += 100;
    const leaves = (await Promise.all(Array.from({ length: 5 }, () => sweep()))).flat();
    const expected: PresenceChange[] = Array.from({ length: 10 }, (_, i): PresenceChange[] => [
      { channel: 'other', action: 'leave', member: { id: `v${i}`, info: {} } },
      { channel: 'room', action: 'leave', member: { id: `u${i}`, info: {} } },
    ]).flat();
    assert.deepEqual(sorted(leaves), sorted(expected));
    assert.deepEqual(await presence.channels(), []);
  });
}
