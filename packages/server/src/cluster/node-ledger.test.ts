// The agent's ledger of worker nodes: what it hands a new worker to close, what survives the agent in its file,
// and that a file it cannot write never stops the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeLedger, STALE_NODES_ENV, staleNodesOf } from './node-ledger.ts';

test('a worker that died is stale until a worker handed it listens; one that exited cleanly never is', () => {
  const ledger = new NodeLedger();
  ledger.started('h/w0-1');
  ledger.started('h/w1-2');
  ledger.exited('h/w1-2', true);
  assert.deepEqual(ledger.stale(), []);
  ledger.exited('h/w0-1', false);
  assert.deepEqual(ledger.stale(), ['h/w0-1']);
  ledger.swept([]);
  assert.deepEqual(ledger.stale(), ['h/w0-1'], 'a worker handed nothing sweeps nothing');
  ledger.swept(['h/w0-1']);
  assert.deepEqual(ledger.stale(), []);
});

test('the file lists the running and the dead; the next run starts with all of them stale; it goes when empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-ledger-'));
  try {
    const file = join(dir, 'agent-nodes.json');
    const first = new NodeLedger(file);
    first.started('h/w0-1');
    first.started('h/w1-2');
    first.exited('h/w1-2', false);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), ['h/w0-1', 'h/w1-2']);
    // The agent was killed with its workers: the next run hands both to its first workers.
    const next = new NodeLedger(file);
    assert.deepEqual(next.stale().sort(), ['h/w0-1', 'h/w1-2']);
    next.started('h/w0-3');
    next.swept(['h/w0-1', 'h/w1-2']);
    next.exited('h/w0-3', true);
    assert.equal(existsSync(file), false, 'nothing left to close');
    // A file that is not a list of names (edited by hand, cut short) is read as empty.
    writeFileSync(file, '{"not": "a list"');
    assert.deepEqual(new NodeLedger(file).stale(), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a ledger that cannot be written is reported, not thrown: the agent goes on supervising', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-ledger-'));
  try {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const errors: Error[] = [];
    const ledger = new NodeLedger(join(blocker, 'agent-nodes.json'), (error) => errors.push(error));
    ledger.started('h/w0-1');
    ledger.exited('h/w0-1', false);
    assert.equal(errors.length, 2);
    assert.match(errors[0]!.message, /ENOTDIR|EEXIST/);
    assert.deepEqual(ledger.stale(), ['h/w0-1'], 'in memory the ledger still works');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker reads the nodes it closes from its environment; anything but a list of names is none', () => {
  assert.deepEqual(staleNodesOf({ [STALE_NODES_ENV]: '["h/w0-1","h/w1-2"]' }), ['h/w0-1', 'h/w1-2']);
  assert.deepEqual(staleNodesOf({}), []);
  assert.deepEqual(staleNodesOf({ [STALE_NODES_ENV]: '' }), []);
  assert.deepEqual(staleNodesOf({ [STALE_NODES_ENV]: 'h/w0-1' }), []);
  assert.deepEqual(staleNodesOf({ [STALE_NODES_ENV]: '[1, "", "h/w0-1"]' }), ['h/w0-1']);
});
