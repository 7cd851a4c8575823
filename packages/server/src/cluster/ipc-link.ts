// A worker's link to the agent: calls with replies, barriers, and bus deliveries over one IPC port.
import type { ClusterMessage } from '../bus/bus.ts';
import { isClusterIpc, type AgentToWorker, type HostedStore, type IpcPort, type WorkerToAgent } from './ipc.ts';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** An error as it crossed the channel: the same class when it is a standard one, so `RangeError` stays one. */
function revive(error: { name: string; message: string }): Error {
  const classes: Record<string, new (message: string) => Error> = { RangeError, TypeError, SyntaxError };
  const made = new (classes[error.name] ?? Error)(error.message);
  if (!(error.name in classes)) made.name = error.name;
  return made;
}

/**
 * The worker's end of the IPC channel to the agent, shared by `IpcBus`, `IpcHistory` and `IpcPresence`:
 * every message they send goes out on this one port, so the agent sees them in the order they were made
 * (a subscription before the history read that follows it, an append before its publication).
 *
 * When the agent goes away, calls in flight and later ones reject.
 *
 * @example
 * const link = new IpcLink(processPort());
 * const bus = new IpcBus(link);
 * const history = new IpcHistory(link);
 */
export class IpcLink {
  private readonly port: IpcPort;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private gone: Error | undefined;
  private closed = false;
  /** Bus deliveries go here (the link's one bus). */
  private receiver: ((message: ClusterMessage) => void) | undefined;
  /** A `close` from the agent goes here. */
  private closer: ((timeoutMs: number) => void) | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(port: IpcPort) {
    this.port = port;
    port.on('message', this.onMessage);
    port.on('disconnect', this.onDisconnect);
  }

  /** Whether the agent can still be reached. */
  get connected(): boolean {
    return this.gone === undefined && !this.closed;
  }

  /** Sends a message to the agent (dropped once the agent is gone). */
  send(message: WorkerToAgent): void {
    if (!this.connected) return;
    try {
      this.port.send(message, (error) => {
        if (error) this.fail(error);
      });
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** Calls a method of the agent's history or presence store; resolves with its answer. */
  call<T>(store: HostedStore, method: string, args: unknown[]): Promise<T> {
    if (this.gone) return Promise.reject(this.gone);
    if (this.closed) return Promise.reject(new Error(`the link to the agent is closed: cannot call ${store}.${method}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.send({ sb: 'call', id, store, method, args });
    });
  }

  /** Resolves once the agent has applied everything sent before (subscriptions included). */
  sync(): Promise<void> {
    if (!this.connected) return Promise.resolve();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve: () => resolve(), reject });
      this.send({ sb: 'sync', id });
    });
  }

  /** Whether a call is waiting for its answer. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** Resolves once no call is waiting for its answer. */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Where bus deliveries go; one bus per link. */
  setReceiver(receiver: ((message: ClusterMessage) => void) | undefined): void {
    if (receiver !== undefined && this.receiver !== undefined) throw new Error('this IPC link carries a bus already: one IpcBus per link');
    this.receiver = receiver;
  }

  /** What to do when the agent asks this worker to shut down. */
  onClose(closer: (timeoutMs: number) => void): void {
    this.closer = closer;
  }

  /** Stops listening to the port (the calls in flight reject). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.off('message', this.onMessage);
    this.port.off('disconnect', this.onDisconnect);
    this.rejectAll(new Error('the link to the agent was closed'));
  }

  private readonly onMessage = (raw: unknown): void => {
    if (!isClusterIpc(raw)) return;
    const message = raw as AgentToWorker;
    switch (message.sb) {
      case 'msg':
        this.receiver?.(message.message);
        return;
      case 'synced':
        this.settle(message.id, (pending) => pending.resolve(undefined));
        return;
      case 'reply':
        if (message.ok) this.settle(message.id, (pending) => pending.resolve(message.value));
        else this.settle(message.id, (pending) => pending.reject(revive(message.error)));
        return;
      case 'close':
        this.closer?.(message.timeoutMs);
        return;
    }
  };

  private readonly onDisconnect = (): void => this.fail(new Error('the agent is gone (the IPC channel closed)'));

  private settle(id: number, how: (pending: Pending) => void): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    how(pending);
    if (this.pending.size === 0 && this.idleWaiters.length > 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private fail(error: Error): void {
    if (this.gone) return;
    this.gone = error;
    this.rejectAll(error);
  }

  private rejectAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) entry.reject(error);
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
