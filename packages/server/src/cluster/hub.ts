// The agent's side of the cluster's back ends: the bus relay, and the history and presence store every worker calls.
import { SystemType, type ChannelMessage, type PresenceChange } from '@switchboard/protocol';
import { channelTopic, isPublication, type BusMessage, type ClusterMessage } from '../bus/bus.ts';
import { MemoryPresence } from '../presence/memory-presence.ts';
import type { PresenceStore } from '../presence/presence-store.ts';
import type { History, StreamPosition } from '../stream/history.ts';
import { MemoryHistory } from '../stream/memory-history.ts';
import { isClusterIpc, type AgentToWorker, type IpcPort, type WorkerToAgent } from './ipc.ts';
import { Sequencer } from './sequencer.ts';

/** The methods a worker may call on the hosted stores (never `close`). */
const CALLABLE = {
  history: new Set(['append', 'since', 'latest', 'position', 'trim', 'remove']),
  presence: new Set(['add', 'remove', 'list', 'removeNode', 'channels']),
} as const;

/** What the hub does not handle itself: the registry's messages. */
export type PeerReport = Extract<WorkerToAgent, { sb: 'listening' } | { sb: 'conn' }>;

/** `ClusterHub`'s options. */
export interface ClusterHubOptions {
  /** The history workers share. Default: a `MemoryHistory` with the history defaults. */
  history?: History;
  /** The presence store workers share. Default: a `MemoryPresence`. */
  presence?: PresenceStore;
  /** How long a channel message may wait for an earlier offset another worker has not published yet. Default 1000 ms. */
  holdMs?: number;
  /** Told of what goes wrong (a listener, a store call that fails oddly). Default: `console.error`. */
  onError?: (error: unknown) => void;
}

/** One attached worker, as the hub knows it. */
export class HubPeer {
  readonly node: string;
  readonly port: IpcPort;
  /** The topics it subscribed to. */
  readonly topics = new Set<string>();
  /** @internal */ listener: ((message: unknown) => void) | undefined = undefined;
  detached = false;

  constructor(node: string, port: IpcPort) {
    this.node = node;
    this.port = port;
  }

  /** Sends to the worker; a worker that is gone is not an error (its exit detaches it). */
  send(message: AgentToWorker): void {
    if (this.detached) return;
    try {
      this.port.send(message, () => {});
    } catch {
      // The channel closed under us: the exit event follows.
    }
  }
}

/** The agent itself, as the owner of the offsets of what it publishes. */
const AGENT = { node: 'agent' };

/** A `$message` publication with a history position, in the shape `Channels` publishes it. */
function positioned(message: ClusterMessage): { channel: string; position: StreamPosition } | undefined {
  if (!isPublication(message) || message.envelope.type !== SystemType.message) return undefined;
  const data = message.envelope.data as Partial<ChannelMessage> | undefined;
  if (typeof data?.channel !== 'string' || typeof data.epoch !== 'string' || typeof data.offset !== 'number') return undefined;
  if (message.topic !== channelTopic(data.channel)) return undefined;
  return { channel: data.channel, position: { epoch: data.epoch, offset: data.offset } };
}

/**
 * The hub of a cluster on one machine, in the agent. Workers attach with their IPC port:
 *
 * - **Bus relay.** A worker's `sub`/`unsub` change what it receives; each `pub` is sent to every worker
 *   subscribed to the topic (the publisher too), in the order the hub received them. Channel messages with
 *   history positions go out in the order of their offsets (`Sequencer`).
 * - **History and presence.** A worker's `call` runs on the one `History` and `PresenceStore` the hub holds
 *   and is answered with `reply`; errors keep their class name (a `RangeError` stays one).
 * - **Dead workers.** `detach` drops a worker's subscriptions, forgets the offsets it was handed, removes its
 *   node from presence and publishes each resulting leave to the channel's subscribers, as `$presence`.
 *
 * @example
 * const hub = new ClusterHub({ history: new MemoryHistory({ maxPublications: 100 }) });
 * const peer = hub.attach(cluster.fork(), node, (report) => registry.apply(peer, report));
 * worker.on('exit', () => void hub.detach(peer));
 */
export class ClusterHub {
  readonly history: History;
  readonly presence: PresenceStore;
  private readonly subscribers = new Map<string, Set<HubPeer>>();
  private readonly sequencer: Sequencer;
  private readonly onError: (error: unknown) => void;
  private readonly peers = new Set<HubPeer>();

  constructor(options: ClusterHubOptions = {}) {
    this.history = options.history ?? new MemoryHistory();
    this.presence = options.presence ?? new MemoryPresence();
    this.onError = options.onError ?? ((error) => console.error('[switchboard/cluster] hub:', error));
    this.sequencer = new Sequencer(options.holdMs ?? 1000, (message) => this.relay(message));
  }

  /** Attaches a worker; `report` receives its registry messages (`listening`, `conn`). */
  attach(port: IpcPort, node: string, report?: (message: PeerReport) => void): HubPeer {
    const peer = new HubPeer(node, port);
    peer.listener = (raw: unknown) => {
      if (!isClusterIpc(raw) || peer.detached) return;
      this.receive(peer, raw as WorkerToAgent, report);
    };
    port.on('message', peer.listener);
    this.peers.add(peer);
    return peer;
  }

  /**
   * Detaches a worker (it exited or is being replaced): no more deliveries to it, its subscriptions and
   * awaited offsets dropped, its presence removed and the leaves published. Resolves with the leaves.
   */
  async detach(peer: HubPeer): Promise<PresenceChange[]> {
    if (peer.detached) return [];
    peer.detached = true;
    this.peers.delete(peer);
    if (peer.listener) peer.port.off('message', peer.listener);
    for (const topic of peer.topics) this.unsubscribe(peer, topic);
    this.sequencer.forget(peer);
    let leaves: PresenceChange[] = [];
    try {
      leaves = await this.presence.removeNode(peer.node);
    } catch (error) {
      this.onError(error);
    }
    for (const change of leaves) {
      this.publish({ topic: channelTopic(change.channel), envelope: { type: SystemType.presence, data: change } });
    }
    return leaves;
  }

  /** Publishes a bus message from the agent, to every worker subscribed to its topic. */
  publish(message: ClusterMessage): void {
    this.route(message);
  }

  /**
   * Publishes `event` to a channel as a worker does (`$message` with `channel`, `event`, `data` and, with
   * `from`, the publisher's identity). With `history` (the channel keeps history) the message is appended
   * to the shared history first and carries its position, exactly as a worker's would. Resolves with the
   * message sent.
   *
   * @example
   * await hub.publishToChannel('orders.eu', 'created', { id: 7 }, { history: true });
   */
  async publishToChannel(channel: string, event: string, data: unknown, options: { history: boolean; from?: string }): Promise<ChannelMessage> {
    const message: ChannelMessage = { channel, event, data: data ?? null };
    if (options.from !== undefined) message.from = options.from;
    if (options.history) {
      const stored = options.from === undefined ? { event, data: message.data } : { event, data: message.data, from: options.from };
      const at = await this.history.append(channel, stored);
      this.sequencer.issued(channel, at, AGENT);
      message.epoch = at.epoch;
      message.offset = at.offset;
    }
    this.route({ topic: channelTopic(channel), envelope: { type: SystemType.message, data: message } });
    return message;
  }

  /** How many workers receive a topic. */
  subscriberCount(topic: string): number {
    return this.subscribers.get(topic)?.size ?? 0;
  }

  /** Sends a message to every attached worker (a `close`, say). */
  sendAll(message: AgentToWorker): void {
    for (const peer of this.peers) peer.send(message);
  }

  /** Releases what the sequencer holds and forgets every subscription. The stores are the caller's to close. */
  close(): void {
    this.sequencer.close();
    this.subscribers.clear();
  }

  private receive(peer: HubPeer, message: WorkerToAgent, report: ((message: PeerReport) => void) | undefined): void {
    switch (message.sb) {
      case 'sub':
        peer.topics.add(message.topic);
        this.subscribe(peer, message.topic);
        return;
      case 'unsub':
        peer.topics.delete(message.topic);
        this.unsubscribe(peer, message.topic);
        return;
      case 'pub':
        this.route(message.message);
        return;
      case 'sync':
        peer.send({ sb: 'synced', id: message.id });
        return;
      case 'call':
        void this.call(peer, message.id, message.store, message.method, message.args);
        return;
      case 'listening':
      case 'conn':
        try {
          report?.(message);
        } catch (error) {
          this.onError(error);
        }
        return;
    }
  }

  private async call(peer: HubPeer, id: number, store: 'history' | 'presence', method: string, args: unknown[]): Promise<void> {
    const target = store === 'history' ? this.history : store === 'presence' ? this.presence : undefined;
    if (target === undefined || !CALLABLE[store].has(method) || !Array.isArray(args)) {
      peer.send({ sb: 'reply', id, ok: false, error: { name: 'TypeError', message: `${String(store)}.${String(method)} cannot be called` } });
      return;
    }
    try {
      const value: unknown = await (target as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
      if (store === 'history' && method === 'append') this.sequencer.issued(args[0] as string, value as StreamPosition, peer);
      peer.send({ sb: 'reply', id, ok: true, value });
    } catch (error) {
      const failure = error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
      peer.send({ sb: 'reply', id, ok: false, error: failure });
    }
  }

  private subscribe(peer: HubPeer, topic: string): void {
    let peers = this.subscribers.get(topic);
    if (peers === undefined) {
      peers = new Set();
      this.subscribers.set(topic, peers);
    }
    peers.add(peer);
  }

  private unsubscribe(peer: HubPeer, topic: string): void {
    const peers = this.subscribers.get(topic);
    if (!peers?.delete(peer) || peers.size > 0) return;
    this.subscribers.delete(topic);
  }

  /** Channel messages with a position go through the sequencer; everything else is relayed at once. */
  private route(message: ClusterMessage): void {
    const at = positioned(message);
    if (at === undefined) this.relay(message);
    else this.sequencer.publish(at.channel, at.position, message as BusMessage);
  }

  private relay(message: ClusterMessage): void {
    const peers = this.subscribers.get(message.topic);
    if (peers === undefined) return;
    for (const peer of peers) peer.send({ sb: 'msg', message });
  }
}
