// Supervision of the workers (fixtures/cluster-app.ts): a worker killed with SIGKILL is restarted in its slot,
// its members' leaves are announced (no ghost) and its clients reconnect to a worker and recover what they
// missed; past the restart intensity the agent stops with exit code 1; SIGTERM stops everything gracefully.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@switchboard/client';
import { CloseCode } from '@switchboard/protocol';
import { clientsOn, eventually, exitOf, pidOf, startCluster, tokenFor } from './cluster-helpers.ts';
import { RawClient } from './helpers.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a worker killed with SIGKILL is restarted; its members leave, its clients reconnect and recover what they missed', async () => {
  await using cluster = await startCluster({ workers: 2 });
  const [victimPid, survivorPid] = await cluster.workerPids();
  const clients: Client[] = [];
  try {
    // bob watches the lobby from the worker that survives.
    const [bob] = await clientsOn(cluster.wsUrl, [survivorPid!], () => 'bob');
    clients.push(bob!);
    const lobby = bob!.subscribe('presence-lobby');
    await lobby.ready;
    // ghost is in the lobby on the victim, with a plain socket that will not come back.
    let ghost: RawClient | undefined;
    for (let attempt = 0; attempt < 20 && ghost === undefined; attempt++) {
      const raw = await RawClient.connect(cluster.wsUrl, { headers: { authorization: `Bearer ${await tokenFor('ghost')}` } });
      if (((await raw.request('where.am', {})).data as { pid: number }).pid === victimPid) ghost = raw;
      else await raw[Symbol.asyncDispose]();
    }
    assert.ok(ghost, 'a socket on the victim');
    assert.equal((await ghost.request('$subscribe', { channel: 'presence-lobby' })).error, undefined);
    await eventually(() => lobby.members.has('ghost'), 10_000, "bob hears ghost's join");

    // sam follows a channel with history from the victim, and comes back slowly enough to miss messages.
    const [sam] = await clientsOn(cluster.wsUrl, [victimPid!], undefined, { reconnect: { initialDelayMs: 400, maxDelayMs: 400, jitter: 0 } });
    clients.push(sam!);
    const seen: number[] = [];
    const recovered: unknown[] = [];
    const feed = sam!.subscribe<number>('h.feed', (n) => seen.push(n));
    feed.on('subscribed', (info) => recovered.push(info));
    await feed.ready;
    for (let n = 1; n <= 5; n++) await bob!.publish('h.feed', 'n', n);
    await eventually(() => seen.length === 5, 10_000, 'the first five');

    process.kill(victimPid!, 'SIGKILL');
    // While sam is away: published on the survivor.
    for (let n = 6; n <= 10; n++) await bob!.publish('h.feed', 'n', n);

    // No ghost: the agent removed the dead worker's members and announced the leave.
    await eventually(() => !lobby.members.has('ghost'), 10_000, "bob hears ghost's leave");
    // Restarted in its slot.
    const status = await eventually(async () => {
      const now = await cluster.status();
      const slot = now.workers.filter((worker) => worker.index === 0 || worker.index === 1).find((worker) => worker.pid !== survivorPid);
      return slot && slot.pid !== victimPid && slot.state === 'listening' ? now : undefined;
    }, 20_000, 'the replacement listening');
    const replacement = status.workers.find((worker) => worker.pid !== survivorPid)!;
    assert.equal(replacement.restarts, 1);
    assert.equal(replacement.lastExit?.signal, 'SIGKILL');
    assert.equal(status.counts.listening, 2);
    assert.ok(!(await cluster.connections()).some((entry) => entry.pid === victimPid), 'the dead worker’s connections are gone');

    // sam is back (on a worker that lives) and got what it missed, once, in order.
    await eventually(() => seen.length === 10, 15_000, 'sam recovers');
    for (let n = 11; n <= 12; n++) await bob!.publish('h.feed', 'n', n);
    await eventually(() => seen.length === 12, 10_000, 'and goes on live');
    assert.deepEqual(seen, Array.from({ length: 12 }, (_, i) => i + 1));
    assert.deepEqual(recovered.at(-1), { resubscribed: true, recovered: true });
    assert.notEqual(await pidOf(sam!), victimPid);

    // A late member sees no ghost either.
    const [late] = await clientsOn(cluster.wsUrl, [replacement.pid], () => 'late');
    clients.push(late!);
    const lateLobby = late!.subscribe('presence-lobby');
    await lateLobby.ready;
    assert.deepEqual([...lateLobby.members.keys()].sort(), ['bob', 'late']);
    await ghost[Symbol.asyncDispose]();
  } finally {
    for (const c of clients) c.close();
  }
});

test('past the restart intensity the agent logs it, stops every worker and exits with 1', async () => {
  await using cluster = await startCluster({ workers: 2, restart: { maxRestarts: 1, withinMs: 60_000 } }, { log: 'info' });
  const [first, other] = await cluster.workerPids();
  process.kill(first!, 'SIGKILL');
  const replacement = await eventually(async () => {
    const pids = await cluster.workerPids();
    return pids.length === 2 && !pids.includes(first!) ? pids.find((pid) => pid !== other) : undefined;
  }, 20_000, 'the first restart');
  process.kill(replacement!, 'SIGKILL');
  assert.equal(await exitOf(cluster.child), 1);
  const log = cluster.stderr();
  assert.match(log, /"code":"SB_WORKER_EXITED"/);
  assert.match(log, /"code":"SB_WORKER_RESTARTS_EXCEEDED"/);
  assert.match(log, /2 worker crashes within 60 s, more than the restart intensity allows \(1 in 60 s\)/);
  assert.equal(isAlive(other!), false, 'the other worker was stopped too');
});

test('SIGTERM stops the agent gracefully: clients get 1001, workers exit, the pid file goes, exit code 0', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-cluster-'));
  try {
    const pidFile = join(dir, 'agent.pid');
    const cluster = await startCluster({ workers: 2, pidFile });
    assert.equal(readFileSync(pidFile, 'utf8').trim(), String(cluster.pid));
    const pids = await cluster.workerPids();
    const socket = await RawClient.connect(cluster.wsUrl);
    assert.equal(await cluster.stop('SIGTERM'), 0);
    assert.equal(await socket.waitClose(), CloseCode.goingAway);
    for (const pid of pids) await eventually(() => !isAlive(pid), 5_000, `worker ${pid} gone`);
    assert.equal(existsSync(pidFile), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an agent killed with SIGKILL leaves no worker behind: each exits when its IPC channel closes', async () => {
  const cluster = await startCluster({ workers: 2 });
  const pids = await cluster.workerPids();
  const socket = await RawClient.connect(cluster.wsUrl);
  assert.equal(await cluster.stop('SIGKILL'), null);
  for (const pid of pids) await eventually(() => !isAlive(pid), 10_000, `worker ${pid} gone`);
  assert.notEqual(await socket.waitClose(), CloseCode.goingAway, 'not a graceful close: the process died');
});
