// Plug faults are contained: errors outside handlers, unhandled rejections, a blocked loop and a handler that never settles.
// The server runs in its own process, so that "the process did not die" is what is tested.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '@switchboard/protocol';
import { RawClient } from './helpers.ts';

interface Child {
  process: ChildProcess;
  url: string;
  wsUrl: string;
  /** Log lines (parsed JSON) the server wrote so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the first log line that matches, waiting for it. */
  log(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function startFaultServer(policy: string): Promise<Child> {
  const script = fileURLToPath(new URL('./fixtures/fault-server.ts', import.meta.url));
  const child = spawn(process.execPath, [script, policy], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stderr! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const waiter of waiters.splice(0)) {
      if (waiter.match(line)) waiter.resolve(line);
      else waiters.push(waiter);
    }
  });
  const [first] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { url, wsUrl } = JSON.parse(first) as { url: string; wsUrl: string };
  return {
    process: child,
    url,
    wsUrl,
    logs,
    log(match) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no such log line within 5 s')), 5000);
        waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      });
    },
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    },
  };
}

async function metricsOf(url: string): Promise<{ faults: { total: number; byPlug: Record<string, number> }; eventLoop: { stalls: number; lastStall?: { route?: string; plug?: string; ms: number } }; inFlight: number }> {
  const response = await fetch(`${url}/admin/metrics`);
  return (await response.json()) as never;
}

test('a throw in a timer and an unhandled rejection are logged, counted and attributed; the process keeps serving', async () => {
  await using server = await startFaultServer('keep-serving');
  await using culprit = await RawClient.connect(server.wsUrl);
  await using neighbour = await RawClient.connect(server.wsUrl);
  assert.deepEqual((await culprit.request('faulty.timer', {})).data, { scheduled: true });
  const thrown = await server.log((line) => line.code === 'SB_PLUG_FAULT' && line.origin === 'uncaughtException');
  assert.equal(thrown.plug, 'faulty');
  assert.deepEqual((await neighbour.request('healthy.echo', { n: 1 })).data, { n: 1 });
  assert.deepEqual((await culprit.request('faulty.reject', {})).data, { left: true });
  const rejected = await server.log((line) => line.code === 'SB_PLUG_FAULT' && line.origin === 'unhandledRejection');
  assert.equal(rejected.plug, 'faulty');
  // Both connections still work, and the process is alive.
  assert.deepEqual((await neighbour.request('healthy.echo', { n: 2 })).data, { n: 2 });
  assert.deepEqual((await culprit.request('healthy.echo', { n: 3 })).data, { n: 3 });
  assert.equal(server.process.exitCode, null);
  const metrics = await metricsOf(server.url);
  assert.equal(metrics.faults.byPlug.faulty, 2);
  assert.equal(metrics.faults.total, 2);
});

test('a handler that blocks the loop for 2 s is reported naming its route; the others are served after it', async () => {
  await using server = await startFaultServer('keep-serving');
  await using culprit = await RawClient.connect(server.wsUrl);
  await using neighbour = await RawClient.connect(server.wsUrl);
  const blocked = culprit.request('faulty.block', { ms: 2000 }, 10_000);
  const echo = neighbour.request('healthy.echo', { n: 7 }, 10_000);
  assert.deepEqual((await blocked).data, { blocked: 2000 });
  assert.deepEqual((await echo).data, { n: 7 });
  const stall = await server.log((line) => line.code === 'SB_EVENT_LOOP_STALL');
  assert.equal(stall.route, 'faulty.block');
  assert.ok((stall.ms as number) >= 1500, `stall of ${String(stall.ms)} ms`);
  const metrics = await metricsOf(server.url);
  assert.ok(metrics.eventLoop.stalls >= 1);
  assert.equal(metrics.eventLoop.lastStall?.route, 'faulty.block');
});

test('a handler that never settles gets timeout and stops counting in flight', async () => {
  await using server = await startFaultServer('keep-serving');
  await using client = await RawClient.connect(server.wsUrl);
  await using neighbour = await RawClient.connect(server.wsUrl);
  const hanging = client.request('faulty.hang', {});
  // While it hangs, the others are served.
  assert.deepEqual((await neighbour.request('healthy.echo', { n: 9 })).data, { n: 9 });
  const reply = await hanging;
  assert.equal(reply.error?.code, ErrorCode.timeout);
  assert.match(String(reply.error?.message), /faulty\.hang.*300 ms/);
  await server.log((line) => line.code === 'SB_HANDLER_TIMEOUT' && line.type === 'faulty.hang');
  assert.equal((await metricsOf(server.url)).inFlight, 0);
  assert.deepEqual((await client.request('healthy.echo', { n: 1 })).data, { n: 1 });
});

test('policy unload-plug removes the plug that failed and tells the clients; the others keep serving', async () => {
  await using server = await startFaultServer('unload-plug');
  await using client = await RawClient.connect(server.wsUrl);
  await client.request('faulty.timer', {});
  const manifest = await client.next((e) => e.type === '$manifest' && e.id === undefined);
  const types = (manifest.data as { messages: { type: string }[] }).messages.map((entry) => entry.type);
  assert.deepEqual(types, ['healthy.echo']);
  // A room's fault is its supervisor's: the room restarts and its plug stays loaded whatever the policy.
  const room = (await client.request('$room.join', { kind: 'arena' })).data as { room: string };
  assert.deepEqual((await client.request('$room.send', { room: room.room, type: 'score', data: {} })).data, { score: 1 });
  await client.request('$room.send', { room: room.room, type: 'stray', data: {} });
  const fault = await server.log((line) => line.code === 'SB_ROOM_FAULT');
  assert.equal(fault.room, room.room);
  assert.deepEqual((await client.request('$room.send', { room: room.room, type: 'score', data: {} })).data, { score: 2 }, 'restarted from its last good state');
  const rooms = (await (await fetch(`${server.url}/admin/rooms`)).json()) as { rooms: { restarts: number }[] };
  assert.equal(rooms.rooms[0]?.restarts, 1);
  assert.ok(!server.logs.some((line) => line.msg === 'plug "arena" unloaded after a fault'));
  assert.equal((await client.request('faulty.timer', {})).error?.code, ErrorCode.unknownType);
  assert.deepEqual((await client.request('healthy.echo', { n: 1 })).data, { n: 1 });
});

test('policy exit ends the process with status 1 after logging, for supervisors that restart it', async () => {
  await using server = await startFaultServer('exit');
  await using client = await RawClient.connect(server.wsUrl);
  const exited = once(server.process, 'exit');
  client.ws.send(JSON.stringify({ type: 'faulty.timer', id: 1, data: {} }));
  const [code] = (await exited) as [number];
  assert.equal(code, 1);
  assert.ok(server.logs.some((line) => line.code === 'SB_PLUG_FAULT'));
});
