// Rolling reload (fixtures/cluster-app.ts): the agent replaces its workers one at a time — a new one listening
// before the old one drains — while publishers send numbered messages to channels with history; the
// subscriber, moved from worker to worker by the 1001s, ends up with every number exactly once, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestError, type Client } from '@switchboard/client';
import { ErrorCode } from '@switchboard/protocol';
import { clientsOn, eventually, startCluster } from './cluster-helpers.ts';

/** Whether a failed publish was not published: refused by a draining worker, or not read before it closed. */
function notPublished(error: unknown): boolean {
  const code = error instanceof RequestError ? error.code : undefined;
  return code === ErrorCode.shuttingDown || code === ErrorCode.disconnected;
}

/**
 * Publishes 1, 2, 3, … to `channel` until `until` settles, then `extra` more; resolves with the last number.
 * `confirm(n)` resolves once `n` is confirmed (its echo, say) before the next is sent. A message that was not
 * published is sent again. Bounded: 20 000 numbers, 60 s.
 */
async function publishUntil(publisher: Client, channel: string, until: Promise<unknown>, extra: number, confirm: (n: number) => Promise<void>): Promise<number> {
  let settled = false;
  const done = until.then(
    () => (settled = true),
    () => (settled = true),
  );
  let n = 0;
  let after = 0;
  const deadline = Date.now() + 60_000;
  while (n < 20_000 && Date.now() < deadline && (!settled || after < extra)) {
    try {
      await publisher.publish(channel, 'n', n + 1);
    } catch (error) {
      if (!notPublished(error)) throw error;
      continue;
    }
    n++;
    if (settled) after++;
    await confirm(n);
  }
  await done;
  return n;
}

/** A subscription handler, and a wait (at most 15 s) for the number it hears. */
function echoes(): { heard: (n: number) => void; confirm: (n: number) => Promise<void> } {
  const got = new Set<number>();
  const waiting = new Map<number, () => void>();
  return {
    heard(n) {
      got.add(n);
      waiting.get(n)?.();
    },
    confirm: (n) =>
      got.has(n)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no echo of ${n} within 15 s`)), 15_000);
            waiting.set(n, () => {
              clearTimeout(timer);
              waiting.delete(n);
              resolve();
            });
          }),
  };
}

test('a rolling reload under load: every worker replaced one at a time, no message lost or repeated', async () => {
  await using cluster = await startCluster({ workers: 2 });
  const initial = await cluster.workerPids();
  const [subscriber, publisher] = await clientsOn(cluster.wsUrl, initial);
  const [flooder] = await clientsOn(cluster.wsUrl, [initial[0]!]);
  try {
    const ordered: number[] = [];
    const flood: number[] = [];
    const echo = echoes();
    await subscriber!.subscribe<number>('h.load', (n) => ordered.push(n)).ready;
    await subscriber!.subscribe<number>('h.flood', (n) => flood.push(n)).ready;
    // The publisher sends the next number once its own subscription heard the last, so a number's offset
    // follows its predecessor's whatever worker it is on (see the note in docs/cluster.md on acknowledgements).
    await publisher!.subscribe<number>('h.load', echo.heard).ready;

    // SIGHUP to the agent starts it (the API's POST /cluster/reload, which `switchboard reload` uses, is the
    // same reload and answers when it is done: packages/cli/test/cluster.test.ts).
    process.kill(cluster.pid, 'SIGHUP');
    // Sampled while it runs: a new worker listens before an old one drains, and one slot is replaced at a time.
    const samples: { listening: number; workers: number }[] = [];
    const reloaded = eventually(async () => {
      const status = await cluster.status();
      samples.push({ listening: status.counts.listening, workers: status.counts.workers });
      const pids = status.workers.map((worker) => worker.pid);
      return !status.agent.reloading && pids.length === 2 && pids.every((pid) => !initial.includes(pid)) ? status : undefined;
    }, 30_000, 'every worker replaced');
    const [last, flooded] = await Promise.all([
      publishUntil(publisher!, 'h.load', reloaded, 20, echo.confirm),
      // Load beside it: as fast as the acknowledgements come.
      publishUntil(flooder!, 'h.flood', reloaded, 50, async () => {}),
    ]);
    const status = await reloaded;
    assert.deepEqual(status.workers.map((worker) => [worker.index, worker.state, worker.restarts]), [[0, 'listening', 0], [1, 'listening', 0]], 'a reload is no crash');
    assert.deepEqual(status.workers.map((worker) => worker.lastExit?.code), [0, 0], 'the old workers exited cleanly');
    assert.ok(samples.every((sample) => sample.listening >= 2 && sample.workers <= 3), JSON.stringify(samples));
    assert.ok(samples.some((sample) => sample.workers === 3), 'a replacement was seen beside the two');

    await eventually(() => ordered.length >= last && flood.length >= flooded, 20_000, `all ${last} + ${flooded} numbers`);
    assert.deepEqual(ordered, Array.from({ length: last }, (_, i) => i + 1), 'every number exactly once, in order');
    assert.deepEqual([...flood].sort((a, b) => a - b), Array.from({ length: flooded }, (_, i) => i + 1), 'the flood: every number exactly once');
    assert.ok(last > 20 && flooded > 50, `${last} and ${flooded} numbers`);
  } finally {
    for (const c of [subscriber!, publisher!, flooder!]) c.close();
  }
});
