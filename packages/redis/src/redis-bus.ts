// The bus on Redis pub/sub: every node publishes on one connection and listens on another, so the nodes of a cluster fan out to each other.
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import type { Bus, BusListener, ClusterListener, ClusterMessage } from '@switchboard/server/bus';

/** `RedisBus`'s options. */
export interface RedisBusOptions {
  /** `redis://[:password@]host:6379[/db]` (or `rediss://` for TLS). Default: ioredis's (127.0.0.1:6379). */
  url?: string;
  /** ioredis options for both connections (TLS, password, retry strategy, …); the bus sets what pub/sub needs. */
  redis?: RedisOptions;
  /** Prepended to every topic to make its Redis channel, so that several apps can share one Redis. Default `sb:`. */
  prefix?: string;
  /** Called when a listener throws or a message cannot be decoded. Default: `console.error`. */
  onError?: (error: unknown) => void;
}

/** The events of a `RedisBus`: `down` when cross-node delivery stops, `up` when it works (again). */
export interface RedisBusEvents {
  up: [];
  down: [error: Error | undefined];
}

/** The default of `RedisBusOptions.prefix` (and of `RedisHistoryOptions.prefix`). */
export const REDIS_DEFAULT_PREFIX = 'sb:';

/**
 * A bus between the nodes of a cluster on Redis pub/sub. Each topic is the Redis channel `prefix + topic`,
 * each message its JSON text. One connection publishes and one is in subscriber mode, so messages published
 * to a topic by one node arrive at every node in the order they were published. A topic is subscribed in
 * Redis while it has a listener (reference-counted), and a node receives its own publications through Redis
 * like everyone else's.
 *
 * **Connectivity.** `connected` is true while both connections are ready (and, after a reconnect, every
 * topic subscribed again). The bus emits `down` when that stops and `up` when it is back; the health check
 * should report unhealthy while `connected` is false. Pub/sub keeps nothing: what is published while Redis
 * is away reaches this node's own listeners only (local delivery goes on) and no other node (counted in
 * `dropped`); a node misses what others published meanwhile, so readers recover through history. Before the first connection, publications wait for it.
 *
 * **Subscribing is asynchronous** across nodes: Redis delivers to a node only once its `SUBSCRIBE` was
 * processed. On one node the bus holds publications back until its pending subscriptions are acknowledged,
 * so a node that subscribes then publishes receives its own message; `settled()` resolves when every
 * subscription change made so far has been acknowledged.
 *
 * @example
 * const bus = new RedisBus({ url: 'redis://redis.internal:6379', prefix: 'chat:' });
 * bus.on('down', (error) => log.warn({ error }, 'bus down: no cross-node delivery'));
 * bus.on('up', () => log.info('bus up'));
 * await bus.ready();
 */
export class RedisBus extends EventEmitter<RedisBusEvents> implements Bus {
  /** Messages other nodes did not get because Redis was away (or refused them). */
  dropped = 0;
  private readonly prefix: string;
  private readonly onError: (error: unknown) => void;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly topics = new Map<string, Set<BusListener | ClusterListener>>();
  /** Subscription changes sent and not acknowledged yet. */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Publications held back until `inflight` is empty: [channel, payload]. */
  private held: [string, string][] = [];
  private pubReady = false;
  private subReady = false;
  private wasConnected = false;
  /** Connected once: from then on, publications while disconnected are delivered here only instead of queued. */
  private everConnected = false;
  private lastError: Error | undefined;
  private closed = false;
  /** Bumped on every close of the subscriber, so that a late PING reply of an older connection is ignored. */
  private subGeneration = 0;

  constructor(options: RedisBusOptions = {}) {
    super();
    this.prefix = options.prefix ?? REDIS_DEFAULT_PREFIX;
    this.onError = options.onError ?? ((error) => console.error('[switchboard/redis] bus:', error));
    const connect = (name: string, extra: RedisOptions): Redis => {
      const redisOptions: RedisOptions = { connectionName: `switchboard-bus-${name}`, ...options.redis, ...extra };
      return options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions);
    };
    // Commands of the subscriber wait for the connection however long it takes; it resubscribes on reconnect.
    this.pub = connect('pub', {});
    this.sub = connect('sub', { autoResubscribe: true, maxRetriesPerRequest: null });

    for (const connection of [this.pub, this.sub]) {
      connection.on('error', (error: Error) => {
        this.lastError = error;
      });
      connection.on('close', () => {
        if (connection === this.pub) this.pubReady = false;
        else {
          this.subReady = false;
          this.subGeneration++;
        }
        this.update();
      });
    }
    this.pub.on('ready', () => {
      this.pubReady = true;
      this.update();
    });
    this.sub.on('ready', () => {
      // The resubscriptions were sent before 'ready' was emitted; a PING's reply comes after theirs.
      const generation = this.subGeneration;
      this.sub.ping().then(
        () => {
          if (generation !== this.subGeneration) return;
          this.subReady = true;
          this.update();
        },
        () => {},
      );
    });
    this.sub.on('message', (channel: string, text: string) => this.receive(channel, text));
  }

  /** Whether cross-node delivery works now: both connections ready and every topic subscribed. */
  get connected(): boolean {
    return this.pubReady && this.subReady;
  }

  /** Resolves once the bus is connected (at once if it is); rejects if it is closed first. */
  ready(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('RedisBus is closed'));
    return new Promise((resolve) => this.once('up', resolve));
  }

  /** Resolves when every subscribe and unsubscribe made so far has been acknowledged by Redis. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  publish(message: ClusterMessage): void {
    if (this.closed) return;
    const channel = this.prefix + message.topic;
    const payload = JSON.stringify(message);
    if (this.everConnected && !this.connected) return this.local(channel, payload);
    if (this.inflight.size > 0 || this.held.length > 0) this.held.push([channel, payload]);
    else this.send(channel, payload);
  }

  subscribe(topic: string, listener: BusListener): void;
  subscribe(topic: string, listener: ClusterListener): void;
  subscribe(topic: string, listener: BusListener | ClusterListener): void {
    if (this.closed) return;
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.topics.set(topic, listeners);
      this.track(this.sub.subscribe(this.prefix + topic));
    }
    listeners.add(listener);
  }

  unsubscribe(topic: string, listener: BusListener): void;
  unsubscribe(topic: string, listener: ClusterListener): void;
  unsubscribe(topic: string, listener: BusListener | ClusterListener): void {
    const listeners = this.topics.get(topic);
    if (!listeners?.delete(listener) || listeners.size > 0) return;
    this.topics.delete(topic);
    if (!this.closed) this.track(this.sub.unsubscribe(this.prefix + topic));
  }

  /** Stops delivery and quits both connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.topics.clear();
    this.held = [];
    await Promise.all([this.pub, this.sub].map((connection) => quit(connection)));
    this.pubReady = this.subReady = false;
  }

  /**
   * Redis is away: the publication reaches this node's own listeners (local delivery goes on) and no other
   * node's, which is counted in `dropped`.
   */
  private local(channel: string, payload: string): void {
    this.dropped++;
    this.receive(channel, payload);
  }

  private send(channel: string, payload: string): void {
    this.pub.publish(channel, payload).catch((error: unknown) => {
      this.dropped++;
      this.lastError = error as Error;
    });
  }

  private track(command: Promise<unknown>): void {
    const done = command.then(
      () => {},
      (error: unknown) => {
        if (!this.closed) this.onError(error);
      },
    );
    this.inflight.add(done);
    void done.then(() => {
      this.inflight.delete(done);
      if (this.inflight.size === 0) this.flush();
    });
  }

  private flush(): void {
    const held = this.held;
    this.held = [];
    for (const [channel, payload] of held) {
      if (this.everConnected && !this.connected) this.local(channel, payload);
      else this.send(channel, payload);
    }
  }

  private receive(channel: string, text: string): void {
    if (this.closed || !channel.startsWith(this.prefix)) return;
    const listeners = this.topics.get(channel.slice(this.prefix.length));
    if (!listeners) return;
    let message: ClusterMessage;
    try {
      message = JSON.parse(text) as ClusterMessage;
    } catch (error) {
      this.onError(error);
      return;
    }
    for (const listener of [...listeners]) {
      try {
        (listener as ClusterListener)(message);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  /** Emits `up` or `down` when `connected` changed. */
  private update(): void {
    if (this.closed) return;
    const now = this.connected;
    if (now === this.wasConnected) return;
    this.wasConnected = now;
    if (now) {
      this.everConnected = true;
      this.lastError = undefined;
      this.emit('up');
    } else {
      this.emit('down', this.lastError);
    }
  }
}

/** QUIT when the connection is ready (bounded to 1 s), else drop it at once. */
export async function quit(connection: Redis): Promise<void> {
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    connection.quit().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1000);
    }),
  ]);
  clearTimeout(timer);
  connection.disconnect();
}
