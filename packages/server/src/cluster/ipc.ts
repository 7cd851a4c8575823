// The messages between the agent and its workers over the node:cluster IPC channel, and the port they travel on.
import type { ClusterMessage } from '../bus/bus.ts';

/**
 * One end of an IPC channel: `process` in a worker, a `cluster.Worker` (or a `ChildProcess`) in the agent.
 * Messages sent on one port arrive at the other in the order they were sent.
 *
 * @example
 * const port: IpcPort = cluster.fork();     // in the agent
 * const port: IpcPort = processPort();      // in a worker
 */
export interface IpcPort {
  send(message: unknown, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
}

/** What a worker tells the agent about one of its connections, for the registry. */
export interface ConnectionSummary {
  id: string;
  identityId?: string;
  remoteAddress: string;
  userAgent: string;
  /** Milliseconds since the Unix epoch. */
  connectedAt: number;
}

/** The back ends a worker's calls go to. */
export type HostedStore = 'history' | 'presence';

/**
 * Worker → agent. Every message carries `sb` (so it is told apart from other users of the channel, node:cluster's
 * own included):
 * - `sub` / `unsub`: the worker starts / stops receiving a bus topic; `pub`: a bus message to relay.
 * - `sync`: answered with `synced` once everything sent before it was applied (a barrier).
 * - `call`: a History or PresenceStore method on the agent's store, answered by `reply` with the same `id`.
 * - `listening`: the worker's server accepts connections; `conn`: a connection opened, closed, subscribed or
 *   unsubscribed (the registry).
 */
export type WorkerToAgent =
  | { sb: 'sub'; topic: string }
  | { sb: 'unsub'; topic: string }
  | { sb: 'pub'; message: ClusterMessage }
  | { sb: 'sync'; id: number }
  | { sb: 'call'; id: number; store: HostedStore; method: string; args: unknown[] }
  | { sb: 'listening'; node: string; url: string; port: number; plugs: string[] }
  | { sb: 'conn'; op: 'open'; connection: ConnectionSummary }
  | { sb: 'conn'; op: 'close'; id: string }
  | { sb: 'conn'; op: 'subscribe' | 'unsubscribe'; id: string; channel: string; identityId?: string }
  | { sb: 'conn'; op: 'identity'; id: string; identityId: string | null };

/**
 * Agent → worker:
 * - `msg`: a bus message for a topic the worker subscribed to, in the order of the topic.
 * - `synced`: the answer to `sync`; `reply`: the answer to `call` (a value, or the error's name and message).
 * - `close`: shut down gracefully (drain, close connections with 1001) within `timeoutMs`, then exit.
 */
export type AgentToWorker =
  | { sb: 'msg'; message: ClusterMessage }
  | { sb: 'synced'; id: number }
  | { sb: 'reply'; id: number; ok: true; value: unknown }
  | { sb: 'reply'; id: number; ok: false; error: { name: string; message: string } }
  | { sb: 'close'; timeoutMs: number };

/** Whether an IPC message is one of ours. */
export function isClusterIpc(message: unknown): message is { sb: string } {
  return typeof message === 'object' && message !== null && typeof (message as { sb?: unknown }).sb === 'string';
}

/**
 * The IPC port of this process, when it was started with one (a node:cluster worker, `child_process.fork`).
 * Throws when there is none.
 *
 * @example
 * const link = new IpcLink(processPort());
 */
export function processPort(): IpcPort {
  if (typeof process.send !== 'function') throw new Error('this process has no IPC channel: it was not started by an agent (node:cluster or child_process.fork)');
  return {
    send: (message, callback) => process.send!(message, undefined, undefined, callback),
    on: (event: 'message' | 'disconnect', listener: (message: unknown) => void) => process.on(event, listener),
    off: (event: 'message' | 'disconnect', listener: (message: unknown) => void) => process.off(event, listener),
  } as IpcPort;
}
