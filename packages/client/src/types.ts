// The client's public types: the API map that types requests, options, events and the payloads it surfaces.
import type {
  ApiEventsKey,
  ApiPushesKey,
  ApiResourcesKey,
  ApiRoomsKey,
  RoomType,
  AuthExpiring,
  AuthReply,
  ErrorPayload,
  GrantsChange,
  Manifest,
  Member,
  Unsubscribed,
} from '@switchboard/protocol';
import type { ReconnectOptions } from './backoff.ts';
import type { RequestError } from './errors.ts';

/**
 * What the server accepts, by message type: the payload (`input`) and the reply (`output`).
 * `AppApi<typeof plugA | typeof plugB>` from @switchboard/server produces one from plugs, with the plugs'
 * pushes and channel events under symbol keys (`WithPushes`), which a hand-written API may add too.
 *
 * @example
 * type Api = { 'chat.send': { input: { text: string }; output: { sent: boolean } } };
 * const client = connect<Api>(url);
 */
export type ApiShape = Record<string, { input: unknown; output: unknown }>;

/**
 * The pushes an API declares: push type → data; empty when it declares none.
 *
 * @example
 * type Message = PushesOf<Api>['chat.message']; // { from: string; text: string }
 */
export type PushesOf<Api> = Api extends { readonly [K in ApiPushesKey]: infer P } ? P : Record<never, never>;
/**
 * The channel events an API declares: event → data; empty when it declares none.
 *
 * @example
 * type Typing = EventsOf<Api>['typing']; // { user: string }
 */
export type EventsOf<Api> = Api extends { readonly [K in ApiEventsKey]: infer E } ? E : Record<never, never>;

/**
 * The resources an Api declares: resource name → record type (what `client.live()` holds).
 *
 * @example
 * type Order = ResourcesOf<Api>['orders'];
 */
export type ResourcesOf<Api> = Api extends { readonly [K in ApiResourcesKey]: infer R } ? R : Record<never, never>;

/**
 * The room kinds an Api declares: kind → `RoomType` (state, messages, pushes).
 *
 * @example
 * type Board = RoomsOf<Api>['tictactoe']['state'];
 */
export type RoomsOf<Api> = Api extends { readonly [K in ApiRoomsKey]: infer R } ? R : Record<never, never>;

/** Room kind `K` of an Api as a `RoomType` (anything, when it declares none by that name). */
export type RoomOf<Api, K> = K extends keyof RoomsOf<Api> ? (RoomsOf<Api>[K] extends RoomType ? RoomsOf<Api>[K] : UntypedRoom) : UntypedRoom;

/** A room kind nothing is known of: any state, messages and pushes. */
export type UntypedRoom<S = unknown> = RoomType<S, Record<string, unknown>, Record<string, unknown>>;

/** The resource names `live` takes with a record type you choose: any when the Api declares no resources. */
export type UntypedResource<Api> = [keyof ResourcesOf<Api>] extends [never] ? string : never;

/**
 * The types `on` takes with a handler whose data it chooses itself: any string when the API declares no
 * pushes; only protocol (`$`) types when it does, so a misspelt push type does not compile.
 *
 * @example
 * client.on<ChannelMessage>('$message', (message) => {}); // UntypedPush<Api> includes '$message'
 */
export type UntypedPush<Api> = [keyof PushesOf<Api>] extends [never] ? string : `$${string}`;

/**
 * The payload type of message `K`.
 *
 * @example
 * type SendInput = InputOf<Api, 'chat.send'>; // { text: string }
 */
export type InputOf<Api, K extends keyof Api> = Api[K] extends { input: infer I } ? I : unknown;
/**
 * The reply type of message `K`.
 *
 * @example
 * type SendReply = OutputOf<Api, 'chat.send'>; // { sent: boolean }
 */
export type OutputOf<Api, K extends keyof Api> = Api[K] extends { output: infer O } ? O : unknown;

/**
 * Options of one request.
 *
 * @example
 * await client.request('report.build', { month: 5 }, { timeoutMs: 60_000 });
 */
export interface RequestOptions {
  /** Fail with `timeout` when no reply arrived within this long. Default: the client's `requestTimeoutMs`. */
  timeoutMs?: number;
}

/**
 * `request`'s arguments after the type: the payload may be left out when the message accepts `undefined`.
 *
 * @example
 * type Args = RequestArgs<{ text: string }>; // [data: { text: string }, options?: RequestOptions]
 */
export type RequestArgs<I> = undefined extends I ? [data?: I, options?: RequestOptions] : [data: I, options?: RequestOptions];
/**
 * `send`'s arguments after the type.
 *
 * @example
 * type Args = SendArgs<unknown>; // [data?: unknown]
 */
export type SendArgs<I> = undefined extends I ? [data?: I] : [data: I];

/**
 * A token, or a function returning a fresh one (called on every connect and refresh).
 *
 * @example
 * connect(url, { token: () => fetch('/token').then((response) => response.text()) });
 */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * Options of `connect`.
 *
 * @example
 * connect(url, { token, requestTimeoutMs: 5000, reconnect: { maxDelayMs: 30_000 }, heartbeatMs: 0 });
 */
export interface ClientOptions {
  /** Sent as `$auth` right after every (re)connect, before anything else. */
  token?: TokenSource;
  /** Default timeout of requests, and of the handshake. Default 10000. */
  requestTimeoutMs?: number;
  /** Backoff after an unexpected close, or false to never reconnect. */
  reconnect?: false | ReconnectOptions;
  /** Send `$ping` when nothing arrived for this long; no reply within the request timeout drops the link. 0 turns it off. Default 25000. */
  heartbeatMs?: number;
  /** WebSocket constructor to use instead of the global one (a `ws` WebSocket, a test double). */
  WebSocket?: typeof WebSocket;
}

/**
 * The client's connection state.
 *
 * @example
 * if (client.state !== 'open') showOfflineBadge();
 */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * The `$welcome` data.
 *
 * @example
 * client.events.on('welcome', ({ connectionId }) => console.log('connected as', connectionId));
 */
export interface Welcome {
  connectionId: string;
  protocol: number;
  codec: string;
  manifestVersion: string;
  heartbeatMs: number;
  maxPayload: number;
  identity?: unknown;
  grants?: string[];
}

export type { Manifest, ManifestEntry, ManifestEvent, ManifestPush } from '@switchboard/protocol';

/**
 * The `auth` event: authenticated (or refreshed), about to expire, or refused.
 *
 * @example
 * client.events.on('auth', (event) => {
 *   if (event.kind === 'failed') showLogin(event.error.code);
 * });
 */
export type AuthEvent =
  | ({ kind: 'authenticated' } & AuthReply)
  | ({ kind: 'expiring' } & AuthExpiring)
  | { kind: 'failed'; error: RequestError };

/**
 * The `state` event. `attempt` counts failed connection attempts in a row; `delayMs` is the wait before the next.
 *
 * @example
 * client.events.on('state', ({ state, delayMs }) => setStatus(state === 'reconnecting' ? `retry in ${delayMs} ms` : state));
 */
export interface StateChange {
  state: ClientState;
  previous: ClientState;
  attempt: number;
  delayMs?: number;
}

/**
 * The `close` event: the link closed. With `willReconnect`, `attempt` and `delayMs` say when it retries.
 *
 * @example
 * client.events.on('close', ({ code, willReconnect }) => {
 *   if (!willReconnect) showSignedOut(code);
 * });
 */
export interface CloseInfo {
  code: number;
  reason: string;
  willReconnect: boolean;
  attempt?: number;
  delayMs?: number;
}

/**
 * Events of `client.events`.
 *
 * @example
 * client.events.on('grants', ({ grants }) => updateMenus(grants));
 */
export type ClientEvents = {
  state: [change: StateChange];
  welcome: [welcome: Welcome];
  manifest: [manifest: Manifest];
  /** `$error` pushes: errors not tied to a request (a failed `send`, a malformed frame). */
  error: [error: ErrorPayload];
  grants: [change: GrantsChange];
  auth: [event: AuthEvent];
  close: [info: CloseInfo];
};

/**
 * A presence member whose `info` the application typed (the protocol's `Member`).
 *
 * @example
 * lobby.on('join', (member: PresenceMember<{ name: string }>) => add(member.id, member.info.name));
 */
export type PresenceMember<TInfo = Member['info']> = Omit<Member, 'info'> & { info: TInfo };

/**
 * Why the server removed a subscription: the `$unsubscribed` data without the channel.
 *
 * @example
 * sub.on('unsubscribed', ({ reason, grant }) => console.warn(`lost ${sub.channel}: ${reason} (${grant})`));
 */
export type UnsubscribedInfo = Omit<Unsubscribed, 'channel'>;

/**
 * Options of `subscribe`.
 *
 * @example
 * client.subscribe('room.7', show, { last: 20 });
 */
export interface SubscribeOptions {
  /** On a channel with history: deliver the newest `last` messages first (a late joiner's catch-up). */
  last?: number;
}

/**
 * Options of `publish` and `broadcast`.
 *
 * @example
 * await client.publish('orders', 'created', { id: 1 }, { exceptSelf: true });
 */
export interface PublishOptions {
  /** Do not deliver the event back to this connection. */
  exceptSelf?: boolean;
  timeoutMs?: number;
}
