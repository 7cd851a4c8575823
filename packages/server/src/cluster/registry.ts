// The agent's live registry: every worker process and every connection each one holds, fed by the workers over IPC.
import type { PeerReport } from './hub.ts';

/** Where a worker process is in its life. */
export const WorkerState = {
  /** Forked; its server is not listening yet. */
  starting: 'starting',
  /** Its server accepts connections. */
  listening: 'listening',
  /** Asked to close (a reload replaced it, or the agent stops): it drains and closes its connections with 1001. */
  draining: 'draining',
  /** The process ended. */
  exited: 'exited',
} as const;
export type WorkerState = (typeof WorkerState)[keyof typeof WorkerState];

/** How a worker process ended. */
export interface WorkerExit {
  code: number | null;
  signal: string | null;
  /** ISO 8601. */
  at: string;
}

/** One worker process, as `GET /cluster` lists it. */
export interface WorkerInfo {
  /** Its slot, 0 to workers − 1; a replacement (restart, reload) takes the slot of the one it replaces. */
  index: number;
  pid: number;
  /** Its `node` option: `<hostname>/w<index>-<pid>`. */
  node: string;
  state: WorkerState;
  /** ISO 8601. */
  startedAt: string;
  /** Crash restarts of this slot since the agent started. */
  restarts: number;
  /** How the slot's previous process ended, if one did. */
  lastExit: WorkerExit | null;
  /** Open connections. */
  connections: number;
  /** Where it listens, once it does. */
  url: string | null;
}

/** One connection, as `GET /cluster/connections` lists it. */
export interface ConnectionEntry {
  id: string;
  /** The slot of the worker that holds it. */
  worker: number;
  pid: number;
  node: string;
  identityId: string | null;
  remoteAddress: string;
  userAgent: string;
  /** ISO 8601. */
  connectedAt: string;
  channels: string[];
}

interface WorkerRecord extends Omit<WorkerInfo, 'restarts' | 'lastExit' | 'connections'> {
  connections: Map<string, ConnectionEntry>;
}

interface Slot {
  restarts: number;
  lastExit: WorkerExit | null;
}

/**
 * What the agent knows of its workers and their connections. Workers report from their server's events
 * (`open`, `close`, `subscribe`, `unsubscribe`); a worker's connections are dropped when it exits.
 *
 * @example
 * registry.add(worker.id, { index: 0, pid, node });
 * registry.report(worker.id, { sb: 'conn', op: 'open', connection });
 * registry.connections({ user: 'ada' });
 */
export class ClusterRegistry {
  private readonly records = new Map<number, WorkerRecord>();
  private readonly slots = new Map<number, Slot>();

  /** A worker process was forked for `index`. `id` is its node:cluster id. */
  add(id: number, worker: { index: number; pid: number; node: string }): void {
    if (!this.slots.has(worker.index)) this.slots.set(worker.index, { restarts: 0, lastExit: null });
    this.records.set(id, { ...worker, state: WorkerState.starting, startedAt: new Date().toISOString(), url: null, connections: new Map() });
  }

  state(id: number): WorkerState | undefined {
    return this.records.get(id)?.state;
  }

  setState(id: number, state: WorkerState): void {
    const record = this.records.get(id);
    if (record !== undefined) record.state = state;
  }

  /** Counts a crash restart of a slot. */
  restarted(index: number): void {
    const slot = this.slots.get(index);
    if (slot) slot.restarts++;
  }

  /** A message a worker sent about itself or its connections. */
  report(id: number, message: PeerReport): void {
    const record = this.records.get(id);
    if (record === undefined || record.state === WorkerState.exited) return;
    if (message.sb === 'listening') {
      record.url = message.url;
      if (record.state === WorkerState.starting) record.state = WorkerState.listening;
      return;
    }
    switch (message.op) {
      case 'open': {
        const { connection } = message;
        record.connections.set(connection.id, {
          id: connection.id,
          worker: record.index,
          pid: record.pid,
          node: record.node,
          identityId: connection.identityId ?? null,
          remoteAddress: connection.remoteAddress,
          userAgent: connection.userAgent,
          connectedAt: new Date(connection.connectedAt).toISOString(),
          channels: [],
        });
        return;
      }
      case 'close':
        record.connections.delete(message.id);
        return;
      case 'identity': {
        const entry = record.connections.get(message.id);
        if (entry !== undefined) entry.identityId = message.identityId;
        return;
      }
      case 'subscribe':
      case 'unsubscribe': {
        const entry = record.connections.get(message.id);
        if (entry === undefined) return;
        // Its identity may have changed since it opened ($auth): the latest one wins.
        if (message.identityId !== undefined) entry.identityId = message.identityId;
        const channels = entry.channels.filter((channel) => channel !== message.channel);
        if (message.op === 'subscribe') channels.push(message.channel);
        entry.channels = channels;
        return;
      }
    }
  }

  /** The process ended: its connections are gone, and its slot remembers how it ended. */
  exited(id: number, code: number | null, signal: string | null): void {
    const record = this.records.get(id);
    if (record === undefined) return;
    record.state = WorkerState.exited;
    record.connections.clear();
    const slot = this.slots.get(record.index);
    if (slot) slot.lastExit = { code, signal, at: new Date().toISOString() };
  }

  /** Forgets an exited process (its replacement holds the slot now). */
  remove(id: number): void {
    this.records.delete(id);
  }

  /** Every worker process the agent holds, by slot, older first. */
  workers(): WorkerInfo[] {
    return [...this.records.values()]
      .map((record) => {
        const slot = this.slots.get(record.index) ?? { restarts: 0, lastExit: null };
        const { connections, ...rest } = record;
        return { ...rest, restarts: slot.restarts, lastExit: slot.lastExit, connections: connections.size };
      })
      .sort((a, b) => a.index - b.index || a.startedAt.localeCompare(b.startedAt));
  }

  /** The connections on every worker, or those of one worker slot (`worker`) or one identity (`user`). */
  connections(filter: { worker?: number; user?: string } = {}): ConnectionEntry[] {
    const found: ConnectionEntry[] = [];
    for (const record of this.records.values()) {
      if (filter.worker !== undefined && record.index !== filter.worker) continue;
      for (const entry of record.connections.values()) {
        if (filter.user !== undefined && entry.identityId !== filter.user) continue;
        found.push({ ...entry, channels: [...entry.channels] });
      }
    }
    return found.sort((a, b) => a.connectedAt.localeCompare(b.connectedAt) || a.id.localeCompare(b.id));
  }

  /** Totals: worker processes, those listening, open connections. */
  counts(): { workers: number; listening: number; connections: number } {
    let listening = 0;
    let connections = 0;
    for (const record of this.records.values()) {
      if (record.state === WorkerState.listening) listening++;
      connections += record.connections.size;
    }
    return { workers: this.records.size, listening, connections };
  }
}
