// The contract every history back end must honour; each implementation's test runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { History, HistoryOptions, StreamPage, StreamPosition, StreamReset } from '../index.ts';

/** A clock the tests move by hand. */
interface Clock {
  time: number;
  now: () => number;
}

function clock(start = 1_000_000): Clock {
  const c: Clock = { time: start, now: () => c.time };
  return c;
}

function offsets(page: StreamPage | StreamReset): number[] {
  assert.equal(page.reset, false, 'expected publications, got a reset');
  return (page as StreamPage).publications.map((publication) => publication.offset);
}

function assertReset(page: StreamPage | StreamReset, current: StreamPosition): void {
  assert.equal(page.reset, true, 'expected a reset');
  assert.deepEqual(page.position, current);
}

/**
 * Registers the history contract tests. `create` returns a new, empty history that honours `options`
 * (bounds and clock); the suite closes it.
 */
export function historyContract(name: string, create: (options: HistoryOptions) => History | Promise<History>): void {
  async function withHistory(options: HistoryOptions, body: (history: History) => Promise<void>): Promise<void> {
    const history = await create(options);
    try {
      await body(history);
    } finally {
      await history.close();
    }
  }

  test(`${name}: offsets start at 1 and grow by one per append, per stream, under one epoch`, () =>
    withHistory({ now: clock().now }, async (history) => {
      const a1 = await history.append('a', 'a1');
      const b1 = await history.append('b', 'b1');
      const a2 = await history.append('a', 'a2');
      const a3 = await history.append('a', 'a3');
      assert.deepEqual([a1.offset, a2.offset, a3.offset, b1.offset], [1, 2, 3, 1]);
      assert.equal(typeof a1.epoch, 'string');
      assert.ok(a1.epoch.length > 0);
      assert.equal(a2.epoch, a1.epoch);
      assert.equal(a3.epoch, a1.epoch);
      assert.deepEqual(await history.position('a'), a3);
      assert.deepEqual(await history.position('b'), b1);
    }));

  test(`${name}: concurrent appends to one stream get distinct consecutive offsets`, () =>
    withHistory({ maxPublications: 100, now: clock().now }, async (history) => {
      const positions = await Promise.all(Array.from({ length: 50 }, (_, i) => history.append('s', i)));
      assert.deepEqual(positions.map((p) => p.offset).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 1));
      assert.equal(new Set(positions.map((p) => p.epoch)).size, 1);
      const page = await history.since('s', { epoch: positions[0]!.epoch, offset: 0 });
      assert.deepEqual(offsets(page), Array.from({ length: 50 }, (_, i) => i + 1));
    }));

  test(`${name}: since returns what was missed, oldest first, with data and time as appended`, () => {
    const c = clock();
    return withHistory({ now: c.now }, async (history) => {
      const values = [{ event: 'created', data: { id: 7, tags: ['a', 'b'], nested: { ok: true } } }, 'text', 42, null, [1, [2]], false];
      const start = await history.position('s');
      const times: number[] = [];
      for (const value of values) {
        times.push(c.time);
        await history.append('s', value);
        c.time += 10;
      }
      const page = await history.since('s', start);
      assert.equal(page.reset, false);
      assert.deepEqual((page as StreamPage).publications, values.map((data, i) => ({ offset: i + 1, time: times[i], data })));
      assert.deepEqual(page.position, { epoch: start.epoch, offset: values.length });
      const later = await history.since('s', { epoch: start.epoch, offset: 4 });
      assert.deepEqual(offsets(later), [5, 6]);
    });
  });

  test(`${name}: a position taken from an empty stream stays valid across its first append`, () =>
    withHistory({ now: clock().now }, async (history) => {
      const empty = await history.position('fresh');
      assert.equal(empty.offset, 0);
      assert.deepEqual(await history.since('fresh', empty), { reset: false, publications: [], position: empty });
      const first = await history.append('fresh', 'one');
      assert.deepEqual(first, { epoch: empty.epoch, offset: 1 });
      assert.deepEqual(offsets(await history.since('fresh', empty)), [1]);
    }));

  test(`${name}: since the current position is an empty page, not a reset`, () =>
    withHistory({ now: clock().now }, async (history) => {
      await history.append('s', 1);
      const current = await history.append('s', 2);
      assert.deepEqual(await history.since('s', current), { reset: false, publications: [], position: current });
      assert.deepEqual(await history.since('s', current, { limit: 1 }), { reset: false, publications: [], position: current });
    }));

  test(`${name}: a position of another epoch, ahead of the stream, or malformed resets to the current position`, () =>
    withHistory({ now: clock().now }, async (history) => {
      await history.append('s', 1);
      const current = await history.append('s', 2);
      const { epoch } = current;
      for (const position of [
        { epoch: `${epoch}x`, offset: 1 },
        { epoch: '', offset: 0 },
        { epoch, offset: 3 },
        { epoch, offset: 1000 },
        { epoch, offset: -1 },
        { epoch, offset: 0.5 },
        { epoch, offset: Number.NaN },
        { epoch, offset: Number.POSITIVE_INFINITY },
      ]) {
        assertReset(await history.since('s', position), current);
      }
      // The position a reset hands back is one to continue from.
      const reset = await history.since('s', { epoch, offset: 99 });
      assert.deepEqual(await history.since('s', reset.position), { reset: false, publications: [], position: current });
    }));

  test(`${name}: a stream never appended to answers any earlier position with a reset`, () =>
    withHistory({ now: clock().now }, async (history) => {
      const page = await history.since('never', { epoch: 'made-up', offset: 3 });
      assert.equal(page.reset, true);
      assert.equal(page.position.offset, 0);
      assert.deepEqual(await history.position('never'), page.position);
    }));

  test(`${name}: at most maxPublications are kept; a position before the kept ones resets`, () =>
    withHistory({ maxPublications: 3, now: clock().now }, async (history) => {
      let current: StreamPosition | undefined;
      for (let i = 1; i <= 5; i++) current = await history.append('s', i);
      const { epoch } = current!;
      assertReset(await history.since('s', { epoch, offset: 0 }), current!);
      assertReset(await history.since('s', { epoch, offset: 1 }), current!);
      assert.deepEqual(offsets(await history.since('s', { epoch, offset: 2 })), [3, 4, 5]);
      assert.deepEqual(offsets(await history.since('s', { epoch, offset: 4 })), [5]);
      assert.deepEqual(offsets(await history.latest('s', 10)), [3, 4, 5]);
    }));

  test(`${name}: a publication expires when now reaches its time plus maxAgeMs`, () => {
    const c = clock(0);
    return withHistory({ maxAgeMs: 1000, now: c.now }, async (history) => {
      const start = await history.position('s');
      await history.append('s', 'at 0');
      c.time = 500;
      await history.append('s', 'at 500');
      c.time = 999;
      assert.deepEqual(offsets(await history.since('s', start)), [1, 2]);
      c.time = 1000;
      const current = await history.position('s');
      assert.deepEqual(current, { epoch: start.epoch, offset: 2 });
      assertReset(await history.since('s', start), current);
      assert.deepEqual(offsets(await history.since('s', { epoch: start.epoch, offset: 1 })), [2]);
      assert.deepEqual(offsets(await history.latest('s', 5)), [2]);
      // Appending while something is still held continues the epoch.
      c.time = 1200;
      assert.deepEqual(await history.append('s', 'at 1200'), { epoch: start.epoch, offset: 3 });
      c.time = 1600;
      assert.deepEqual(offsets(await history.since('s', { epoch: start.epoch, offset: 2 })), [3]);
      assert.equal((await history.since('s', { epoch: start.epoch, offset: 1 })).reset, true);
    });
  });

  test(`${name}: once every publication expired, a position from before them resets`, () => {
    const c = clock(0);
    return withHistory({ maxAgeMs: 1000, now: c.now }, async (history) => {
      const start = await history.position('s');
      await history.append('s', 1);
      await history.append('s', 2);
      c.time = 5000;
      const page = await history.since('s', start);
      assert.equal(page.reset, true);
      assert.deepEqual(offsets(await history.latest('s', 10)), []);
      // Whatever the back end did with the emptied stream, the next append is readable from its position.
      const before = await history.position('s');
      await history.append('s', 3);
      assert.deepEqual((await history.since('s', before)).reset, false);
    });
  });

  test(`${name}: limit returns the first missed publications and the position to continue from`, () =>
    withHistory({ now: clock().now }, async (history) => {
      let current: StreamPosition | undefined;
      for (let i = 1; i <= 10; i++) current = await history.append('s', i);
      const { epoch } = current!;
      const first = await history.since('s', { epoch, offset: 0 }, { limit: 4 });
      assert.deepEqual(offsets(first), [1, 2, 3, 4]);
      assert.deepEqual(first.position, { epoch, offset: 4 });
      const seen: number[] = [];
      let position: StreamPosition = { epoch, offset: 0 };
      let pages = 0;
      for (;;) {
        const page = await history.since('s', position, { limit: 3 });
        assert.equal(page.reset, false);
        const publications = (page as StreamPage).publications;
        seen.push(...publications.map((publication) => publication.data as number));
        position = page.position;
        pages++;
        if (publications.length < 3) break;
      }
      assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal(pages, 4);
      assert.deepEqual(position, current);
      assert.deepEqual(offsets(await history.since('s', { epoch, offset: 0 }, { limit: 100 })), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }));

  test(`${name}: continuing after a limit resets if the rest was trimmed in between`, () =>
    withHistory({ maxPublications: 5, now: clock().now }, async (history) => {
      let current: StreamPosition | undefined;
      for (let i = 1; i <= 5; i++) current = await history.append('s', i);
      const page = await history.since('s', { epoch: current!.epoch, offset: 0 }, { limit: 2 });
      assert.deepEqual(offsets(page), [1, 2]);
      for (let i = 6; i <= 8; i++) current = await history.append('s', i);
      assertReset(await history.since('s', page.position, { limit: 2 }), current!);
    }));

  test(`${name}: limit and n must be integers in range`, () =>
    withHistory({ now: clock().now }, async (history) => {
      const position = await history.append('s', 1);
      for (const limit of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(async () => history.since('s', position, { limit }), RangeError, `limit ${limit}`);
      }
      for (const n of [-1, 1.5, Number.NaN]) {
        await assert.rejects(async () => history.latest('s', n), RangeError, `n ${n}`);
      }
      for (const keep of [-1, 0.5]) {
        await assert.rejects(async () => history.trim('s', keep), RangeError, `keep ${keep}`);
      }
    }));

  test(`${name}: latest gives the newest n, oldest first, and the current position`, () =>
    withHistory({ now: clock().now }, async (history) => {
      assert.deepEqual(offsets(await history.latest('s', 3)), []);
      assert.equal((await history.latest('s', 3)).position.offset, 0);
      let current: StreamPosition | undefined;
      for (let i = 1; i <= 5; i++) current = await history.append('s', { n: i });
      const two = await history.latest('s', 2);
      assert.deepEqual(two, {
        reset: false,
        publications: [
          { offset: 4, time: (two as StreamPage).publications[0]!.time, data: { n: 4 } },
          { offset: 5, time: (two as StreamPage).publications[1]!.time, data: { n: 5 } },
        ],
        position: current,
      });
      assert.deepEqual(offsets(await history.latest('s', 100)), [1, 2, 3, 4, 5]);
      assert.deepEqual(await history.latest('s', 0), { reset: false, publications: [], position: current });
      // A late joiner continues from latest's position and misses nothing.
      const next = await history.append('s', { n: 6 });
      assert.deepEqual(offsets(await history.since('s', two.position)), [next.offset]);
    }));

  test(`${name}: trim keeps the newest publications; epoch and offsets go on`, () =>
    withHistory({ now: clock().now }, async (history) => {
      let current: StreamPosition | undefined;
      for (let i = 1; i <= 6; i++) current = await history.append('s', i);
      const { epoch } = current!;
      await history.trim('s', 2);
      assert.deepEqual(offsets(await history.latest('s', 10)), [5, 6]);
      assertReset(await history.since('s', { epoch, offset: 3 }), current!);
      assert.deepEqual(offsets(await history.since('s', { epoch, offset: 4 })), [5, 6]);
      await history.trim('s', 10);
      assert.deepEqual(offsets(await history.latest('s', 10)), [5, 6]);
      await history.trim('s', 0);
      assert.deepEqual(await history.position('s'), current);
      assert.deepEqual(await history.since('s', current!), { reset: false, publications: [], position: current });
      assertReset(await history.since('s', { epoch, offset: 5 }), current!);
      assert.deepEqual(await history.append('s', 7), { epoch, offset: 7 });
      await history.trim('unknown', 1);
    }));

  test(`${name}: remove ends the stream's epoch; the next append starts again at 1`, () =>
    withHistory({ now: clock().now }, async (history) => {
      await history.append('s', 1);
      const old = await history.append('s', 2);
      await history.append('other', 'x');
      assert.equal(await history.remove('s'), true);
      assert.equal(await history.remove('s'), false);
      assert.equal(await history.remove('never'), false);
      const fresh = await history.append('s', 'again');
      assert.equal(fresh.offset, 1);
      assert.notEqual(fresh.epoch, old.epoch);
      assertReset(await history.since('s', old), fresh);
      assertReset(await history.since('s', { epoch: old.epoch, offset: 0 }), fresh);
      // Other streams are untouched.
      assert.equal((await history.position('other')).offset, 1);
    }));

  test(`${name}: many streams keep their own offsets and publications`, () =>
    withHistory({ maxPublications: 10, now: clock().now }, async (history) => {
      const starts = new Map<string, StreamPosition>();
      for (let s = 0; s < 50; s++) starts.set(`s${s}`, await history.position(`s${s}`));
      for (let round = 1; round <= 5; round++) {
        for (let s = 0; s < 50; s++) {
          const position = await history.append(`s${s}`, `${s}:${round}`);
          assert.equal(position.offset, round);
        }
      }
      for (let s = 0; s < 50; s++) {
        const page = await history.since(`s${s}`, starts.get(`s${s}`)!);
        assert.equal(page.reset, false);
        assert.deepEqual((page as StreamPage).publications.map((p) => p.data), [1, 2, 3, 4, 5].map((r) => `${s}:${r}`));
      }
    }));

  test(`${name}: changing a returned page changes nothing held`, () =>
    withHistory({ now: clock().now }, async (history) => {
      await history.append('s', 'a');
      const current = await history.append('s', 'b');
      const start = { epoch: current.epoch, offset: 0 };
      const page = (await history.since('s', start)) as StreamPage;
      page.publications.pop();
      page.publications[0]!.offset = 99;
      page.position.offset = 42;
      (await history.position('s')).offset = 7;
      assert.deepEqual(offsets(await history.since('s', start)), [1, 2]);
      assert.deepEqual(await history.position('s'), current);
    }));
}
