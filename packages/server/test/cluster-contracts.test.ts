// IpcBus, IpcHistory and IpcPresence pass the bus, history and presence contracts, between real processes: two
// forked children hold the worker ends on their IPC channels, and this process plays the agent with a
// ClusterHub attached to both, as the agent is in production. The contract calls reach the children through a
// small remote-control protocol on the same channel (`rc` messages), so every call crosses the real IPC twice.
import { after, before } from 'node:test';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryHistory, MemoryPresence } from '@switchboard/server';
import type { Bus, ClusterMessage, History, PresenceStore } from '@switchboard/server';
import { busContract, historyContract, presenceContract } from '@switchboard/server/testing';
import { ClusterHub } from '@switchboard/server/cluster';

const END = fileURLToPath(new URL('./fixtures/cluster-end.ts', import.meta.url));

/** A child holding one worker end, driven by `rc` commands. */
class Remote {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly listeners = new Map<number, (message: ClusterMessage) => void>();

  constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (raw: unknown) => {
      const message = raw as { rc?: string; id: number; ok: boolean; value: unknown; error: { name: string; message: string }; listener: number; message: ClusterMessage };
      if (message.rc === 'event') this.listeners.get(message.listener)?.(message.message);
      if (message.rc !== 'done') return;
      const entry = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.ok) entry?.resolve(message.value);
      else {
        const Class = message.error.name === 'RangeError' ? RangeError : message.error.name === 'TypeError' ? TypeError : Error;
        entry?.reject(new Class(message.error.message));
      }
    });
  }

  request<T>(command: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ ...command, id });
    });
  }

  tell(command: Record<string, unknown>): void {
    this.child.send(command);
  }
}

let remotes: [Remote, Remote];

before(async () => {
  const start = () => {
    const child = fork(END, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise<Remote>((resolve, reject) => {
      child.once('spawn', () => resolve(new Remote(child)));
      child.once('error', reject);
    });
  };
  remotes = [await start(), await start()];
});

after(() => {
  for (const remote of remotes) remote.child.kill('SIGKILL');
});

/** A method call on the child's end, as the contract makes it. */
function proxy<T extends object>(remote: Remote, methods: string[]): T {
  return Object.fromEntries(methods.map((method) => [method, (...args: unknown[]) => remote.request({ rc: 'call', method, args })])) as T;
}

/** Attaches a fresh hub to the children and creates an end of `kind` in each of `count` of them. */
async function setUp(kind: 'bus' | 'history' | 'presence', hub: ClusterHub, count: 1 | 2) {
  const used = remotes.slice(0, count);
  const peers = used.map((remote, i) => hub.attach(remote.child, `node-${i}`));
  await Promise.all(used.map((remote) => remote.request({ rc: 'create', kind })));
  return {
    used,
    async close() {
      await Promise.all(used.map((remote) => remote.request({ rc: 'close' })));
      for (const peer of peers) await hub.detach(peer);
      hub.close();
    },
  };
}

let listenerIds = 0;

/**
 * One node's bus for the contract. It publishes once the other nodes' subscription changes made so far have
 * reached the hub: across processes a subscription is asynchronous (the contract's in-process bus has none
 * of that), as for RedisBus; in order, since each publication waits behind the previous one.
 */
function remoteBus(self: Remote, others: Remote[]): Bus {
  const ids = new Map<unknown, number>();
  let chain = Promise.resolve();
  const idOf = (listener: unknown) => {
    let id = ids.get(listener);
    if (id === undefined) {
      id = ++listenerIds;
      ids.set(listener, id);
      self.listeners.set(id, listener as (message: ClusterMessage) => void);
    }
    return id;
  };
  return {
    publish(message: ClusterMessage) {
      const barrier = Promise.all(others.map((other) => other.request({ rc: 'settled' })));
      chain = chain.then(() => barrier).then(() => self.tell({ rc: 'pub', message }));
    },
    subscribe(topic: string, listener: unknown) {
      self.tell({ rc: 'sub', topic, listener: idOf(listener) });
    },
    unsubscribe(topic: string, listener: unknown) {
      self.tell({ rc: 'unsub', topic, listener: idOf(listener) });
    },
    close: async () => {},
  } as Bus;
}

busContract('IpcBus (two worker processes, the hub in the agent)', async () => {
  const hub = new ClusterHub();
  const { close } = await setUp('bus', hub, 2);
  const [a, b] = remotes;
  return { a: remoteBus(a, [b]), b: remoteBus(b, [a]), close };
});

historyContract('IpcHistory (a worker process, the MemoryHistory in the agent)', async (options) => {
  const hub = new ClusterHub({ history: new MemoryHistory(options) });
  const { used, close } = await setUp('history', hub, 1);
  const history = proxy<History>(used[0]!, ['append', 'since', 'latest', 'position', 'trim', 'remove']);
  history.close = close;
  return history;
});

presenceContract('IpcPresence (a worker process, the MemoryPresence in the agent)', async () => {
  const hub = new ClusterHub({ presence: new MemoryPresence() });
  const { used, close } = await setUp('presence', hub, 1);
  const presence = proxy<PresenceStore>(used[0]!, ['add', 'remove', 'list', 'removeNode', 'channels']);
  presence.close = close;
  return presence;
});
