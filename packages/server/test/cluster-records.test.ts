// The connection records of workers that died (fixtures/cluster-app.ts with a SQLite store): a worker's node
// name holds its pid and never starts again, so its successor closes what it left open, whether the agent
// restarted it or the agent itself was killed with every worker and a new run starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, type ConnectionRecord } from '@switchboard/server';
import { eventually, rawClientsOn, startCluster } from './cluster-helpers.ts';
import type { RawClient } from './helpers.ts';

async function nodeOf(raw: RawClient): Promise<string> {
  return ((await raw.request('where.am', {})).data as { node: string }).node;
}

/** The records of `node`, read from the file the workers write (a connection of this process's own). */
async function recordsOf(file: string, node: string): Promise<ConnectionRecord[]> {
  const store = new SqliteStore({ file });
  try {
    return await store.connections({ node });
  } finally {
    await store.close();
  }
}

/** The open records of `node` (rawClientsOn closes the clients that landed on another worker: theirs are closed). */
async function openOf(file: string, node: string): Promise<ConnectionRecord[]> {
  return (await recordsOf(file, node)).filter((record) => record.close === undefined);
}

/** Waits until `node` has no open record left, and returns the ones its successor closed. */
async function sweptOf(file: string, node: string, what: string): Promise<ConnectionRecord[]> {
  await eventually(async () => (await openOf(file, node)).length === 0, 20_000, what);
  return (await recordsOf(file, node)).filter((record) => record.close?.reason === 'the node died');
}

test('a worker killed with SIGKILL: its replacement closes the connections it left open in the store (1006, the node died)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-cluster-records-'));
  const file = join(dir, 'switchboard.db');
  try {
    await using cluster = await startCluster({ workers: 2, store: file });
    const [first, second] = await cluster.workerPids();
    const [doomed, survivor] = await rawClientsOn(cluster.wsUrl, [first!, second!]);
    const [dead, alive] = [await nodeOf(doomed!), await nodeOf(survivor!)];
    await eventually(async () => (await openOf(file, dead)).length === 1, 10_000, 'the doomed worker recorded its connection');
    await eventually(async () => (await openOf(file, alive)).length === 1, 10_000, 'the other worker recorded its connection');

    process.kill(first!, 'SIGKILL');
    const swept = await sweptOf(file, dead, "the dead worker's connection closed in the store");
    assert.equal(swept.length, 1);
    assert.equal(swept[0]!.close!.code, 1006);
    // The other worker's connection is live, and stays open.
    assert.equal((await openOf(file, alive)).length, 1);
    await survivor![Symbol.asyncDispose]();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an agent killed with its workers: the next run closes what they left open; a graceful stop leaves no ledger', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-cluster-records-'));
  const file = join(dir, 'switchboard.db');
  const pidFile = join(dir, 'agent.pid');
  const ledger = join(dir, 'agent-nodes.json');
  try {
    const nodes: string[] = [];
    {
      const cluster = await startCluster({ workers: 2, store: file, pidFile });
      const pids = await cluster.workerPids();
      const raws = await rawClientsOn(cluster.wsUrl, pids);
      for (const raw of raws) nodes.push(await nodeOf(raw));
      for (const node of nodes) await eventually(async () => (await openOf(file, node)).length === 1, 10_000, `${node} recorded its connection`);
      assert.deepEqual(JSON.parse(readFileSync(ledger, 'utf8')).sort(), [...nodes].sort(), 'the ledger lists the running workers');
      // As a kill of the process group or a power cut: no process gets to close anything. The workers are
      // stopped first, so none sees its agent go and closes gracefully.
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      assert.equal(await cluster.stop('SIGKILL'), null);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      for (const raw of raws) await raw.waitClose();
      for (const node of nodes) assert.equal((await openOf(file, node)).length, 1, 'nobody closed them');
    }
    {
      await using cluster = await startCluster({ workers: 2, store: file, pidFile });
      for (const node of nodes) {
        const swept = await sweptOf(file, node, `${node}'s connection closed by the next run`);
        assert.equal(swept.length, 1);
        assert.equal(swept[0]!.close!.code, 1006);
      }
      assert.equal(await cluster.stop('SIGTERM'), 0);
    }
    assert.equal(existsSync(ledger), false, 'every worker closed cleanly: nothing left to close');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
