// The Switchboard client: one WebSocket with typed requests, pushes, channels, auth, heartbeat and reconnect.
import {
  CHANNEL_NAME_PATTERN,
  CloseCode,
  ROOM_SOCKET_PREFIX,
  ErrorCode,
  NO_RECONNECT_CLOSE_CODES,
  SLOW_RECONNECT_CLOSE_CODES,
  SystemType,
  jsonCodec,
  parseEnvelope,
  subprotocolFor,
  type AuthExpiring,
  type AuthReply,
  type ChannelMessage,
  type Envelope,
  type GrantsChange,
  canonicalJson,
  type LiveEnded,
  type LiveOperation,
  type LiveQuery,
  type LiveSubscribeReply,
  type Member,
  type RoomClosed,
  type RoomJoinReply,
  type RoomMemberChange,
  type RoomMessage,
  type RoomStatePatch,
  type PresenceChange,
  type SubscribeReply,
  type Unsubscribed,
} from '@switchboard/protocol';
import { backoffDelay, resolveReconnect, type ResolvedReconnect } from './backoff.ts';

/** After 1008 or 1013 the first retry waits as long as the fifth would (4 s with the defaults). */
const SLOW_RECONNECT_SKIPPED_ATTEMPTS = 4;
import { Emitter, type EventSource } from './emitter.ts';
import { errorFromPayload, RequestError } from './errors.ts';
import { ChannelEntry, type MessageMeta, type Subscription } from './subscription.ts';
import { LiveEntry, type LiveCollection, type LiveHost } from './live.ts';
import { RoomEntry, type RoomHost, type RoomSession } from './room.ts';
import type {
  ApiShape,
  AuthEvent,
  ClientEvents,
  ClientOptions,
  ClientState,
  EventsOf,
  InputOf,
  Manifest,
  OutputOf,
  PublishOptions,
  PushesOf,
  ResourcesOf,
  RequestArgs,
  UntypedResource,
  RoomsOf,
  RoomOf,
  SubscribeOptions,
  RequestOptions,
  SendArgs,
  TokenSource,
  UnsubscribedInfo,
  UntypedPush,
  Welcome,
} from './types.ts';

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_HEARTBEAT_MS = 25_000;
/**
 * Messages `send` keeps while disconnected; beyond this it throws rather than grow without bound.
 *
 * @example
 * if (pendingDrafts.length < MAX_QUEUED_MESSAGES) client.send('draft.save', draft);
 */
export const MAX_QUEUED_MESSAGES = 1000;
/** Close code the client reports for a link it gave up on itself (no close frame was exchanged). */
const ABNORMAL_CLOSE = 1006;
/** Live operations held for a view whose subscribe reply has not arrived yet; beyond this the copy resynchronises. */
const MAX_UNROUTED_OPERATIONS = 10_000;

type Timer = ReturnType<typeof setTimeout>;

/** A request waiting for its reply. `frame` is set while it waits in the outbox for a connection. */
interface Pending {
  type: string;
  timeoutMs: number;
  timer: Timer;
  frame: string | undefined;
  resolve(value: unknown): void;
  reject(error: RequestError): void;
}

/**
 * Handler of a server push, by message type.
 *
 * @example
 * const onMessage: PushHandler<{ text: string }> = (data, envelope) => console.log(envelope.type, data.text);
 */
export type PushHandler<T = unknown> = (data: T, envelope: Envelope<T>) => void;

type Pushes = { [type: string]: [data: any, envelope: Envelope<any>] };

/**
 * A connection to a Switchboard server; create one with `connect`. See docs/client.md.
 *
 * @example
 * const client = connect<Api>('ws://localhost:3000/ws');
 * await client.ready;
 * const { sent } = await client.request('chat.send', { text: 'hi' });
 */
export class Client<Api extends ApiShape = ApiShape> {
  /** Resolves at the first `$welcome` (after authentication when a token is set); rejects if closed before. */
  readonly ready: Promise<void>;
  /** `state`, `welcome`, `manifest`, `error` (`$error` pushes), `grants`, `auth` and `close`. */
  readonly events: EventSource<ClientEvents>;
  /** The id the server gave the current (or last) connection. */
  connectionId: string | undefined = undefined;
  /** The latest manifest: fetched after connecting, replaced by every `$manifest` push. */
  manifest: Manifest | undefined = undefined;

  private readonly url: string;
  private readonly WebSocketImpl: typeof WebSocket;
  private readonly timeoutMs: number;
  private readonly heartbeatMs: number;
  private readonly reconnect: ResolvedReconnect | false;
  private readonly emitter = new Emitter<ClientEvents>();
  private readonly pushes = new Emitter<Pushes>();
  private readonly pending = new Map<number, Pending>();
  private readonly channels = new Map<string, ChannelEntry<any, any, any>>();
  /** Live copies by resource and query, and by the server's view id on the current connection. */
  private readonly lives = new Map<string, LiveEntry<any>>();
  private readonly views = new Map<string, LiveEntry<any>>();
  /** Operations for views not known yet (their subscribe reply is on its way), while any is. */
  private unrouted: LiveOperation[] = [];
  private liveSubscribing = 0;
  /** Rooms joined (or being joined), and by instance id once known. */
  private readonly roomEntries = new Set<RoomEntry<any>>();
  private readonly roomsById = new Map<string, RoomEntry<any>>();
  /** On a `/socket/:id` URL: the room the connection is bound to. */
  private bound: RoomEntry<any> | undefined = undefined;
  /** Encoded frames waiting for a connection, requests and sends in the order they were made. */
  private outbox: string[] = [];
  private token: TokenSource | undefined;
  private ws: WebSocket | undefined = undefined;
  private currentState: ClientState = 'connecting';
  private nextId = 1;
  private attempt = 0;
  private lastReceivedAt = 0;
  private handshakeTimer: Timer | undefined = undefined;
  private heartbeatTimer: Timer | undefined = undefined;
  private reconnectTimer: Timer | undefined = undefined;
  private readySettled = false;
  private resolveReady!: () => void;
  private rejectReady!: (error: RequestError) => void;

  constructor(url: string, options: ClientOptions = {}) {
    const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketImpl !== 'function') {
      throw new TypeError('no global WebSocket: use Node >= 22 or a browser, or pass the WebSocket option');
    }
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.token = options.token;
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.reconnect = options.reconnect === false ? false : resolveReconnect(options.reconnect);
    this.events = this.emitter;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Applications that never await `ready` must not see an unhandled rejection.
    this.ready.catch(() => undefined);
    this.openSocket();
  }

  /** `connecting` (first attempt), `open`, `reconnecting` (waiting or retrying after a drop), `closed` (for good). */
  get state(): ClientState {
    return this.currentState;
  }

  /**
   * Sends a request and resolves with its reply. Made while (re)connecting, it waits for the connection,
   * within its timeout. Rejects with a RequestError: the server's code, `timeout`, or `disconnected`.
   *
   * @example
   * const { sum } = await client.request('math.add', { a: 1, b: 2 }, { timeoutMs: 2000 });
   */
  request<K extends keyof Api & string>(type: K, ...args: RequestArgs<InputOf<Api, K>>): Promise<OutputOf<Api, K>> {
    const [data, options] = args as [unknown, RequestOptions | undefined];
    return this.call(type, data, options?.timeoutMs ?? this.timeoutMs, false) as Promise<OutputOf<Api, K>>;
  }

  /**
   * Fire-and-forget: no id, no reply (a failure comes back as an `error` event). While disconnected up to
   * MAX_QUEUED_MESSAGES messages wait for the connection; beyond that, or once closed, it throws.
   *
   * @example
   * client.send('chat.typing', { room: 'lobby' });
   */
  send<K extends keyof Api & string>(type: K, ...args: SendArgs<InputOf<Api, K>>): void {
    const data: unknown = args[0];
    if (this.currentState === 'closed') throw new RequestError(ErrorCode.disconnected, `cannot send "${type}": the client is closed`);
    const frame = encode(data === undefined ? { type } : { type, data });
    if (this.currentState === 'open' && this.ws) {
      this.ws.send(frame);
      return;
    }
    if (this.outbox.length >= MAX_QUEUED_MESSAGES) {
      throw new RequestError(ErrorCode.disconnected, `cannot send "${type}": ${MAX_QUEUED_MESSAGES} messages already wait for the connection`);
    }
    this.outbox.push(frame);
  }

  /**
   * Listens to server pushes of one message type; returns a function that stops listening. When the Api
   * declares pushes (`AppApi` of plugs with `pushes`), the type must be one of them and the data has its
   * schema's type. Protocol pushes (`$message` for broadcasts, …), and every type when the Api declares no
   * pushes, take the data type you give.
   *
   * @example
   * const off = client.on('chat.message', (message) => console.log(message.text));
   * client.on<ChannelMessage>('$message', (message) => console.log(message.event));
   */
  on<K extends keyof PushesOf<Api> & string>(type: K, handler: PushHandler<PushesOf<Api>[K]>): () => void;
  on<T = unknown>(type: UntypedPush<Api>, handler: PushHandler<T>): () => void;
  on(type: string, handler: PushHandler): () => void {
    return this.pushes.on(type, handler);
  }

  /**
   * Sends `$auth` now and resolves with the identity. A token given here, once the server accepts it,
   * is also the one used after reconnects; without one, the configured token (or token function) is used.
   *
   * @example
   * const { identity, grants } = await client.authenticate(await fetchToken());
   */
  async authenticate(token?: string): Promise<AuthReply> {
    try {
      const value = token ?? (await this.fetchToken());
      const result = (await this.call(SystemType.auth, { token: value }, this.timeoutMs, false)) as AuthReply;
      // Kept for reconnects only once the server accepted it: a refused token must not be replayed.
      if (token !== undefined) this.token = token;
      this.emitAuth({ kind: 'authenticated', ...result });
      return result;
    } catch (error) {
      const failure = asRequestError(error);
      this.emitAuth({ kind: 'failed', error: failure });
      throw failure;
    }
  }

  /**
   * Subscribes to a channel (`$subscribe`). Calling it again for the same channel returns the same
   * Subscription with one more handler. Subscriptions survive reconnects. The handler hears every event of
   * the channel; `onEvent` listens to one, typed by the Api's channel events when it declares them.
   *
   * On a channel with history the subscription recovers what it missed after a reconnect (or a gap),
   * exactly once and in order, and `subscribed` says whether it could (`recovered`); `last` asks for the
   * newest messages when it first subscribes.
   *
   * @example
   * const orders = client.subscribe<{ id: number }>('orders', (order, { event }) => console.log(event, order.id));
   * await orders.ready;
   * const room = client.subscribe('room.7', show, { last: 20 }); // a late joiner sees the last 20 first
   */
  subscribe<TData = unknown, TInfo = Member['info']>(
    channel: string,
    handler?: (data: TData, meta: MessageMeta) => void,
    options: SubscribeOptions = {},
  ): Subscription<TData, TInfo, EventsOf<Api>> {
    let entry = this.channels.get(channel) as ChannelEntry<TData, TInfo, EventsOf<Api>> | undefined;
    if (!entry) {
      entry = new ChannelEntry<TData, TInfo, EventsOf<Api>>(channel, this.unsubscribeEntry, this.recoverEntry, options.last);
      if (this.currentState === 'closed') {
        entry.end(new RequestError(ErrorCode.disconnected, `cannot subscribe to "${channel}": the client is closed`));
      } else if (!CHANNEL_NAME_PATTERN.test(channel)) {
        entry.end(new RequestError(ErrorCode.badChannel, `"${channel}" is not a valid channel name`));
      } else {
        this.channels.set(channel, entry);
        // Not open yet: the handshake subscribes every live entry once it is.
        if (this.currentState === 'open') this.sendSubscribe(entry);
      }
    }
    if (handler) entry.emitter.on('message', handler);
    return entry.subscription;
  }

  /**
   * Publishes an event to a channel (`$publish`); needs the `publish:<channel>` grant.
   *
   * @example
   * await client.publish('orders', 'created', { id: 1 }, { exceptSelf: true });
   */
  async publish(channel: string, event: string, data?: unknown, options: PublishOptions = {}): Promise<void> {
    const payload: Record<string, unknown> = { channel, event, data };
    if (options.exceptSelf !== undefined) payload.exceptSelf = options.exceptSelf;
    await this.call(SystemType.publish, payload, options.timeoutMs ?? this.timeoutMs, false);
  }

  /**
   * Sends an event to every connection (`$broadcast`); needs the `broadcast` grant. Receivers get a
   * `$message` push with `channel: null`.
   *
   * @example
   * await client.broadcast('announce', { text: 'maintenance at noon' });
   */
  async broadcast(event: string, data?: unknown, options: PublishOptions = {}): Promise<void> {
    const payload: Record<string, unknown> = { event, data };
    if (options.exceptSelf !== undefined) payload.exceptSelf = options.exceptSelf;
    await this.call(SystemType.broadcast, payload, options.timeoutMs ?? this.timeoutMs, false);
  }

  /**
   * A live copy of a resource: all of it, one `key`, or the records a `where` filter matches. It starts with a
   * snapshot, applies every change in order, recovers what it missed after a reconnect (or takes a fresh
   * snapshot when it cannot), and writes optimistically. Calling it again with the same resource and query
   * returns the same copy. With an Api that declares resources, the records are typed from their schema.
   *
   * @example
   * const open = client.live('orders', { where: { status: 'open' } });
   * await open.ready;
   * open.on('change', ({ key, value }) => render(key, value));
   * await open.create({ id: 'o-9', customer: 'c-1', total: 12, status: 'open' });
   */
  live<K extends keyof ResourcesOf<Api> & string>(resource: K, query?: LiveQuery): LiveCollection<ResourcesOf<Api>[K]>;
  live<T = unknown>(resource: UntypedResource<Api>, query?: LiveQuery): LiveCollection<T>;
  live(resource: string, query: LiveQuery = {}): LiveCollection<unknown> {
    const normalized: LiveQuery = {};
    if (query.key !== undefined) normalized.key = String(query.key);
    if (query.where !== undefined) normalized.where = query.where;
    const signature = JSON.stringify([resource, normalized.key ?? null, canonicalJson(normalized.where ?? null)]);
    let entry = this.lives.get(signature);
    if (!entry) {
      entry = new LiveEntry(resource, normalized, signature, this.liveHost);
      if (this.currentState === 'closed') {
        entry.end(undefined, new RequestError(ErrorCode.disconnected, `cannot follow "${resource}": the client is closed`));
        return entry.collection;
      }
      this.lives.set(signature, entry);
      if (this.currentState === 'open') this.sendLiveSubscribe(entry);
    }
    return entry.collection;
  }

  /**
   * Joins a room: the first instance of a kind with a free seat (created when there is none), a new one
   * (`create: true`), or one by id (`room`). The session holds the state as this member sees it, kept up to
   * date from patches; after a reconnect it takes its seat back and catches up (the patches it missed, or a
   * snapshot). See docs/rooms.md.
   *
   * @example
   * const game = client.join<Board>('tictactoe');
   * await game.ready;
   * game.on('state', render);
   * await game.send('move', { cell: 4 });
   */
  join<K extends keyof RoomsOf<Api> & string>(target: K | { kind: K; room?: string; create?: boolean; options?: unknown; seat?: string }): RoomSession<RoomOf<Api, K>['state'], RoomOf<Api, K>>;
  join<S = unknown>(target: string | { kind?: string; room?: string; create?: boolean; options?: unknown; seat?: string }): RoomSession<S>;
  join(target: string | { kind?: string; room?: string; create?: boolean; options?: unknown; seat?: string }): RoomSession<unknown> {
    const request = typeof target === 'string' ? { kind: target } : { ...target };
    const entry = new RoomEntry<unknown>(request, this.roomHost);
    if (this.currentState === 'closed') {
      entry.end(undefined, new RequestError(ErrorCode.disconnected, 'cannot join a room: the client is closed'));
      return entry.session;
    }
    this.roomEntries.add(entry);
    if (this.currentState === 'open') this.sendJoin(entry);
    return entry.session;
  }

  /** On a connection to `/socket/:id`: the room it is bound to (its `ready` resolves once the server seated it). */
  get room(): RoomSession | undefined {
    if (!this.bound && this.isBoundUrl()) {
      this.bound = new RoomEntry({}, this.roomHost, true);
      this.roomEntries.add(this.bound);
    }
    return this.bound?.session;
  }

  /**
   * Closes for good: no reconnect; pending requests fail with `disconnected`. Safe to call twice.
   *
   * @example
   * window.addEventListener('pagehide', () => client.close());
   */
  close(): void {
    if (this.currentState === 'closed') return;
    const ws = this.ws;
    this.detach();
    if (ws) {
      try {
        ws.close(CloseCode.normal, 'client closed');
      } catch {
        // Already closing: nothing more to do.
      }
    }
    this.finish(CloseCode.normal, 'client closed', undefined);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---------------------------------------------------------------- connection lifecycle

  private isBoundUrl(): boolean {
    try {
      return new URL(this.url).pathname.startsWith(ROOM_SOCKET_PREFIX);
    } catch {
      return false;
    }
  }

  /** The URL to connect to: on `/socket/:id`, with the seat to take back after a reconnect. */
  private socketUrl(): string {
    const seat = this.bound?.seat;
    if (seat === undefined) return this.url;
    const url = new URL(this.url);
    url.searchParams.set('seat', seat);
    return url.toString();
  }

  private openSocket(): void {
    const ws = new this.WebSocketImpl(this.socketUrl(), subprotocolFor(jsonCodec));
    this.ws = ws;
    ws.onmessage = (event: MessageEvent) => this.onFrame(ws, event.data);
    ws.onclose = (event: CloseEvent) => this.onSocketClose(ws, event.code, event.reason);
    // A close event always follows an error event, and it is where reconnects are decided.
    ws.onerror = () => undefined;
    this.handshakeTimer = setTimeout(() => this.abandon(ws, `no $welcome within ${this.timeoutMs} ms`), this.timeoutMs);
  }

  /** Gives up on a socket that may never report its close (dead link, stalled handshake). */
  private abandon(ws: WebSocket, reason: string): void {
    if (ws !== this.ws) return;
    try {
      ws.close();
    } catch {
      // Closing a socket that is already closing can throw in some implementations; it is gone either way.
    }
    this.onSocketClose(ws, ABNORMAL_CLOSE, reason);
  }

  /** Forgets the current socket and its timers; events from it are ignored from now on. */
  private detach(): void {
    this.ws = undefined;
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.reconnectTimer);
    this.handshakeTimer = this.heartbeatTimer = this.reconnectTimer = undefined;
  }

  private onSocketClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.detach();
    // Replies to what was already sent can no longer arrive; queued requests wait for the next connection.
    for (const [id, entry] of this.pending) {
      if (entry.frame !== undefined) continue;
      this.pending.delete(id);
      clearTimeout(entry.timer);
      entry.reject(new RequestError(ErrorCode.disconnected, `the connection closed before the reply to "${entry.type}" arrived`, { closeCode: code }));
    }
    this.views.clear();
    this.unrouted = [];
    this.liveSubscribing = 0;
    for (const entry of this.lives.values()) entry.disconnected();
    for (const entry of this.roomEntries) entry.disconnected();
    const reconnect = this.reconnect;
    if (reconnect === false || NO_RECONNECT_CLOSE_CODES.includes(code) || this.attempt >= reconnect.maxAttempts) {
      this.finish(code, reason, undefined);
      return;
    }
    // A server that closed us for flooding it (1008) or for being full (1013) gets a longer pause: start the
    // backoff as if several attempts had already failed.
    if (SLOW_RECONNECT_CLOSE_CODES.includes(code)) this.attempt = Math.max(this.attempt, SLOW_RECONNECT_SKIPPED_ATTEMPTS);
    this.attempt++;
    const delayMs = backoffDelay(this.attempt, reconnect);
    const previous = this.currentState;
    // The state changes before any listener runs, so what listeners send is queued for the next connection.
    this.currentState = 'reconnecting';
    this.emitter.emit('close', { code, reason, willReconnect: true, attempt: this.attempt, delayMs });
    this.emitter.emit('state', { state: 'reconnecting', previous, attempt: this.attempt, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openSocket();
    }, delayMs);
  }

  /** Ends the client: everything pending fails, `ready` rejects if it never resolved. */
  private finish(code: number, reason: string, error: RequestError | undefined): void {
    const previous = this.currentState;
    this.currentState = 'closed';
    this.detach();
    this.outbox = [];
    const failure = (what: string) => new RequestError(ErrorCode.disconnected, `the client closed (${code}) before ${what}`, { closeCode: code });
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(failure(`the reply to "${entry.type}" arrived`));
    }
    this.pending.clear();
    for (const entry of this.channels.values()) entry.end(failure(`"${entry.channel}" was confirmed`));
    this.channels.clear();
    for (const entry of this.lives.values()) entry.end(undefined, failure(`the snapshot of "${entry.resource}" arrived`));
    this.lives.clear();
    this.views.clear();
    for (const entry of this.roomEntries) entry.end(undefined, failure('the room was joined'));
    this.roomEntries.clear();
    this.roomsById.clear();
    if (!this.readySettled) {
      this.readySettled = true;
      this.rejectReady(error ?? failure('the connection was ready'));
    }
    this.emitter.emit('close', { code, reason, willReconnect: false });
    this.emitter.emit('state', { state: 'closed', previous, attempt: this.attempt });
  }

  /** After `$welcome`: authenticate, then open: re-subscribe, flush what waited, fetch a changed manifest. */
  private async establish(ws: WebSocket, welcome: Welcome): Promise<void> {
    if (this.token !== undefined) {
      let token: string;
      try {
        token = await this.fetchToken();
      } catch (error) {
        // The token source may be a network call: retry with backoff rather than give up.
        this.emitAuth({ kind: 'failed', error: asRequestError(error) });
        this.abandon(ws, 'the token function failed');
        return;
      }
      if (ws !== this.ws) return;
      try {
        const result = (await this.call(SystemType.auth, { token }, this.timeoutMs, true)) as AuthReply;
        this.emitAuth({ kind: 'authenticated', ...result });
      } catch (error) {
        if (ws !== this.ws) return;
        const failure = asRequestError(error);
        if (failure.code === ErrorCode.timeout) return this.abandon(ws, 'no reply to $auth');
        // The server refused the token: reconnecting with the same one would be refused again.
        this.emitAuth({ kind: 'failed', error: failure });
        this.detach();
        ws.close(CloseCode.normal, 'authentication failed');
        return this.finish(CloseCode.unauthorized, `authentication failed: ${failure.code}`, failure);
      }
      if (ws !== this.ws) return;
    }
    this.attempt = 0;
    // Subscriptions first, then what waited, in order; only then may listeners of `state` send more.
    for (const entry of this.channels.values()) this.sendSubscribe(entry);
    for (const entry of this.lives.values()) this.sendLiveSubscribe(entry);
    for (const entry of this.roomEntries) if (!entry.bound) this.sendJoin(entry);
    const outbox = this.outbox;
    this.outbox = [];
    for (const frame of outbox) ws.send(frame);
    for (const entry of this.pending.values()) entry.frame = undefined;
    this.lastReceivedAt = performance.now();
    this.scheduleHeartbeat(this.heartbeatMs);
    const previous = this.currentState;
    this.currentState = 'open';
    this.emitter.emit('state', { state: 'open', previous, attempt: 0 });
    if (!this.readySettled) {
      this.readySettled = true;
      this.resolveReady();
    }
    if (ws !== this.ws) return;
    if (welcome.manifestVersion !== this.manifest?.version) {
      this.call(SystemType.manifest, undefined, this.timeoutMs, true).then(
        (manifest) => this.setManifest(manifest as Manifest),
        () => undefined, // Not fatal: the next `$manifest` push or connection brings it.
      );
    }
  }

  // ---------------------------------------------------------------- heartbeat

  private scheduleHeartbeat(ms: number): void {
    if (this.heartbeatMs > 0) this.heartbeatTimer = setTimeout(this.beat, ms);
  }

  /** Pings only when the link has been silent for a whole interval, so busy connections send nothing extra. */
  private readonly beat = (): void => {
    this.heartbeatTimer = undefined;
    const ws = this.ws;
    if (!ws || this.currentState !== 'open') return;
    const silentMs = performance.now() - this.lastReceivedAt;
    if (silentMs < this.heartbeatMs) return this.scheduleHeartbeat(this.heartbeatMs - silentMs);
    this.call(SystemType.ping, {}, this.timeoutMs, true).then(
      () => {
        if (ws === this.ws) this.scheduleHeartbeat(this.heartbeatMs);
      },
      (error: RequestError) => {
        if (error.code === ErrorCode.timeout) this.abandon(ws, `no reply to $ping within ${this.timeoutMs} ms`);
      },
    );
  };

  // ---------------------------------------------------------------- requests

  /** Sends a request now (`direct`, during the handshake) or when the connection is open. */
  private call(type: string, data: unknown, timeoutMs: number, direct: boolean): Promise<unknown> {
    if (this.currentState === 'closed') {
      return Promise.reject(new RequestError(ErrorCode.disconnected, `cannot request "${type}": the client is closed`));
    }
    const id = this.nextId++;
    let frame: string;
    try {
      frame = encode(data === undefined ? { type, id } : { type, id, data });
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(this.expire, timeoutMs, id);
      const ws = this.ws;
      const now = ws !== undefined && (direct || this.currentState === 'open');
      this.pending.set(id, { type, timeoutMs, timer, frame: now ? undefined : frame, resolve, reject });
      if (now) ws.send(frame);
      else this.outbox.push(frame);
    });
  }

  private readonly expire = (id: number): void => {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    if (entry.frame !== undefined) {
      const index = this.outbox.indexOf(entry.frame);
      if (index >= 0) this.outbox.splice(index, 1);
    }
    entry.reject(new RequestError(ErrorCode.timeout, `no reply to "${entry.type}" within ${entry.timeoutMs} ms`));
  };

  private async fetchToken(): Promise<string> {
    const source = this.token;
    if (source === undefined) {
      throw new RequestError(ErrorCode.unauthenticated, 'no token: pass { token } to connect() or a token to authenticate()');
    }
    return typeof source === 'function' ? await source() : source;
  }

  private emitAuth(event: AuthEvent): void {
    this.emitter.emit('auth', event);
  }

  // ---------------------------------------------------------------- inbound

  private onFrame(ws: WebSocket, raw: unknown): void {
    if (ws !== this.ws) return;
    this.lastReceivedAt = performance.now();
    if (typeof raw !== 'string') {
      this.emitter.emit('error', { code: ErrorCode.badFrame, message: 'a binary frame arrived on the JSON codec' });
      return;
    }
    let decoded: unknown;
    try {
      decoded = jsonCodec.decode(raw, false);
    } catch (error) {
      this.emitter.emit('error', { code: ErrorCode.badFrame, message: (error as Error).message });
      return;
    }
    const parsed = parseEnvelope(decoded);
    if (!parsed.ok) {
      this.emitter.emit('error', { code: ErrorCode.badEnvelope, message: parsed.message });
      return;
    }
    const envelope = parsed.envelope;
    if (envelope.id !== undefined) {
      const entry = typeof envelope.id === 'number' ? this.pending.get(envelope.id) : undefined;
      // A reply nobody waits for any more (timed out) is dropped.
      if (!entry) return;
      this.pending.delete(envelope.id as number);
      clearTimeout(entry.timer);
      if (envelope.error) entry.reject(errorFromPayload(envelope.error));
      else entry.resolve(envelope.data);
      return;
    }
    this.onPush(ws, envelope);
    this.pushes.emit(envelope.type, envelope.data, envelope);
  }

  private onPush(ws: WebSocket, envelope: Envelope): void {
    switch (envelope.type) {
      case SystemType.welcome: {
        clearTimeout(this.handshakeTimer);
        this.handshakeTimer = undefined;
        const welcome = envelope.data as Welcome;
        this.connectionId = welcome.connectionId;
        this.emitter.emit('welcome', welcome);
        this.establish(ws, welcome).catch(() => this.abandon(ws, 'the handshake failed'));
        return;
      }
      case SystemType.manifest:
        return this.setManifest(envelope.data as Manifest);
      case SystemType.error:
        if (envelope.error) this.emitter.emit('error', envelope.error);
        return;
      case SystemType.authExpiring: {
        const { expiresAt, inMs } = envelope.data as AuthExpiring;
        this.emitAuth({ kind: 'expiring', expiresAt, inMs });
        // Failures reach the application as an `auth` event of kind `failed`.
        if (typeof this.token === 'function') this.authenticate().catch(() => undefined);
        return;
      }
      case SystemType.grants:
        this.emitter.emit('grants', envelope.data as GrantsChange);
        return;
      case SystemType.message: {
        const message = envelope.data as ChannelMessage;
        if (message.channel === null) return;
        this.channels.get(message.channel)?.receive(message);
        return;
      }
      case SystemType.presence: {
        const change = envelope.data as PresenceChange;
        this.channels.get(change.channel)?.presence(change.action, change.member);
        return;
      }
      case SystemType.liveOp: {
        const operation = envelope.data as LiveOperation;
        const entry = this.views.get(operation.view);
        if (entry !== undefined) entry.receive(operation);
        else if (this.liveSubscribing > 0 && this.unrouted.length < MAX_UNROUTED_OPERATIONS) this.unrouted.push(operation);
        return;
      }
      case SystemType.liveEnded: {
        const notice = envelope.data as LiveEnded;
        const entry = this.views.get(notice.view);
        if (!entry) return;
        this.views.delete(notice.view);
        if (entry.ended(notice)) this.lives.delete(entry.signature);
        return;
      }
      case SystemType.roomJoined: {
        const reply = envelope.data as RoomJoinReply;
        void this.room; // makes the bound entry when the application has not asked for it yet
        const entry = this.bound;
        if (entry === undefined) return;
        this.roomsById.set(reply.room, entry);
        entry.confirm(reply);
        return;
      }
      case SystemType.roomState: {
        const patch = envelope.data as RoomStatePatch;
        this.roomsById.get(patch.room)?.receive(patch);
        return;
      }
      case SystemType.roomMessage: {
        const message = envelope.data as RoomMessage;
        this.roomsById.get(message.room)?.message(message);
        return;
      }
      case SystemType.roomMember: {
        const change = envelope.data as RoomMemberChange;
        this.roomsById.get(change.room)?.memberChanged(change);
        return;
      }
      case SystemType.roomClosed: {
        const closed = envelope.data as RoomClosed;
        const entry = this.roomsById.get(closed.room);
        if (entry === undefined) return;
        this.roomsById.delete(closed.room);
        this.roomEntries.delete(entry);
        entry.end(closed, new RequestError(closed.reason, `the room ${closed.room} ended: ${closed.reason}`));
        return;
      }
      case SystemType.unsubscribed: {
        const { channel, reason, grant } = envelope.data as Unsubscribed;
        const entry = this.channels.get(channel);
        if (!entry) return;
        this.channels.delete(channel);
        const info: UnsubscribedInfo = grant === undefined ? { reason } : { reason, grant };
        entry.end(new RequestError(reason, `the server removed the subscription to "${channel}"`, { ...info }), info);
        return;
      }
      default:
        return;
    }
  }

  private setManifest(manifest: Manifest): void {
    this.manifest = manifest;
    this.emitter.emit('manifest', manifest);
  }

  // ---------------------------------------------------------------- channels

  /** Sends `$subscribe` now: called only while the link is up (open, or opening in `establish`). */
  private sendSubscribe(entry: ChannelEntry<any, any, any>): void {
    this.call(SystemType.subscribe, entry.subscribeRequest(), this.timeoutMs, true).then(
      (reply) => {
        if (this.channels.get(entry.channel) === entry) entry.confirm((reply ?? { channel: entry.channel }) as SubscribeReply);
      },
      (error: RequestError) => {
        if (this.channels.get(entry.channel) !== entry) return;
        // The link dropped: the next connection subscribes again.
        if (error.code === ErrorCode.disconnected && this.currentState !== 'closed') return;
        this.channels.delete(entry.channel);
        const grant = error.details.grant;
        entry.end(error, typeof grant === 'string' ? { reason: error.code, grant } : { reason: error.code });
      },
    );
  }

  // ---------------------------------------------------------------- live data

  private readonly liveHost: LiveHost = {
    request: (type, data) => this.call(type, data, this.timeoutMs, false),
    subscribe: (entry) => {
      if (this.lives.get(entry.signature) === entry && this.currentState === 'open') this.sendLiveSubscribe(entry);
    },
    unsubscribe: async (entry) => {
      if (this.lives.get(entry.signature) !== entry) return;
      this.lives.delete(entry.signature);
      const view = entry.view;
      if (view === undefined || this.currentState !== 'open') return;
      this.views.delete(view);
      await this.call(SystemType.liveUnsubscribe, { view }, this.timeoutMs, false).catch(() => undefined);
    },
  };

  // ---------------------------------------------------------------- rooms

  private readonly roomHost: RoomHost = {
    request: (type, data) => this.call(type, data, this.timeoutMs, false),
    rejoin: (entry) => {
      if (!this.roomEntries.has(entry) || this.currentState !== 'open') return;
      // A bound connection rejoins by reconnecting with its seat.
      if (entry.bound) this.abandon(this.ws!, 'a gap in the room state');
      else this.sendJoin(entry);
    },
    forget: (entry) => {
      this.roomEntries.delete(entry);
      if (entry.id !== undefined && this.roomsById.get(entry.id) === entry) this.roomsById.delete(entry.id);
    },
  };

  /** Sends `$room.join` now: the first join, or taking the seat back after a reconnect or a gap. */
  private sendJoin(entry: RoomEntry<any>): void {
    const ws = this.ws;
    this.call(SystemType.roomJoin, entry.joinRequest(), this.timeoutMs, true).then(
      (result) => {
        if (ws !== this.ws || !this.roomEntries.has(entry)) return;
        const reply = result as RoomJoinReply;
        this.roomsById.set(reply.room, entry);
        entry.confirm(reply);
      },
      (error: RequestError) => {
        if (ws !== this.ws || !this.roomEntries.has(entry)) return;
        if (error.code === ErrorCode.disconnected && this.currentState !== 'closed') return;
        this.roomEntries.delete(entry);
        if (entry.id !== undefined) this.roomsById.delete(entry.id);
        entry.end(entry.joined ? { room: entry.id ?? '', reason: error.code, message: error.message } : undefined, error);
      },
    );
  }

  /** Sends `$live.subscribe` now (from the position held, if any): only while the link is up. */
  private sendLiveSubscribe(entry: LiveEntry<any>): void {
    const ws = this.ws;
    this.liveSubscribing++;
    this.call(SystemType.liveSubscribe, entry.subscribeRequest(), this.timeoutMs, true).then(
      (result) => {
        if (ws !== this.ws) return;
        this.liveSubscribing--;
        if (this.lives.get(entry.signature) !== entry) return;
        const reply = result as LiveSubscribeReply;
        if (entry.view !== undefined && entry.view !== reply.view) this.views.delete(entry.view);
        this.views.set(reply.view, entry);
        entry.confirm(reply);
        // Operations of this view that arrived before its reply: the copy drops those it already has.
        const early = this.unrouted.filter((operation) => operation.view === reply.view);
        this.unrouted = this.liveSubscribing === 0 ? [] : this.unrouted.filter((operation) => operation.view !== reply.view);
        for (const operation of early) entry.receive(operation);
      },
      (error: RequestError) => {
        if (ws !== this.ws) return;
        this.liveSubscribing--;
        if (this.lives.get(entry.signature) !== entry) return;
        // The link dropped: the next connection subscribes again.
        if (error.code === ErrorCode.disconnected && this.currentState !== 'closed') return;
        this.lives.delete(entry.signature);
        const grant = error.details.grant;
        entry.end(typeof grant === 'string' ? { reason: error.code, grant } : { reason: error.code }, error);
      },
    );
  }

  /** A gap in a channel's offsets: subscribe again from the last position held, to get what is missing. */
  private readonly recoverEntry = (entry: ChannelEntry<any, any, any>): void => {
    if (this.channels.get(entry.channel) === entry && this.currentState === 'open') this.sendSubscribe(entry);
  };

  private readonly unsubscribeEntry = async (entry: ChannelEntry<any, any, any>): Promise<void> => {
    if (this.channels.get(entry.channel) !== entry) return;
    this.channels.delete(entry.channel);
    entry.end(new RequestError(ErrorCode.notSubscribed, `unsubscribed from "${entry.channel}" before the server confirmed`));
    // A connection that is not open has no subscriptions on the server to remove.
    if (this.currentState !== 'open') return;
    await this.call(SystemType.unsubscribe, { channel: entry.channel }, this.timeoutMs, false).catch(() => undefined);
  };
}

function encode(envelope: Envelope): string {
  return jsonCodec.encode(envelope) as string;
}

function asRequestError(error: unknown): RequestError {
  if (error instanceof RequestError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RequestError(ErrorCode.unauthenticated, `could not get a token: ${message}`, {}, { cause: error });
}

/**
 * Connects to a Switchboard server. Give it your plugs' API type to type requests end to end.
 *
 * @example
 * import type { AppApi } from '@switchboard/server';
 * import type chat from './plugs/chat.ts';
 * const client = connect<AppApi<typeof chat>>('ws://localhost:3000/ws', { token: () => getToken() });
 * await client.ready;
 */
export function connect<Api extends ApiShape = ApiShape>(url: string, options?: ClientOptions): Client<Api> {
  return new Client<Api>(url, options);
}
