// One client connection: the small face plugs see (id, identity, grants, data, info, send, close) and the core's own state.
import { randomId } from '../random-id.ts';
import type { Codec, Envelope } from '@switchboard/protocol';
import type { TransportSocket } from '../transport/transport.ts';
import type { RateState } from './rate-limit.ts';
import type { Identity } from '../identity.ts';

/** The statistics of a connection, as the admin API shows them. */
export interface ConnectionInfo {
  id: string;
  remoteAddress: string;
  userAgent: string;
  connectedAt: string;
  codec: string;
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  identity?: unknown;
  /** The connection's effective grants. */
  grants?: readonly string[];
  /** The channels it is subscribed to. */
  channels?: string[];
  /** Its resource subscriptions: the resource and the view (query) of each. */
  resources?: { resource: string; view: string }[];
  /** The room instances it is a member of. */
  rooms?: string[];
}

/** Who a connection is and what it may do, as the auth feature sets it; read through `identity` and `grants`. */
export interface Access {
  readonly identity: Identity | undefined;
  readonly grants: { readonly list: readonly string[] };
}

/** What a connection calls back into; keeps Connection free of server internals. */
export interface ConnectionOwner {
  sendTo(connection: Connection, envelope: Envelope): boolean;
  closeConnection(connection: Connection, code: number, reason: string): void;
  /** What the features add to `info()` (grants, channels). */
  describe(connection: Connection): Partial<ConnectionInfo>;
}

/** A 16-character random id, URL-safe, never starting with "-" (`randomId`). */
export function newConnectionId(): string {
  return randomId(12);
}

const NO_GRANTS: Access['grants'] = Object.freeze({ list: Object.freeze([]) as readonly string[] });

/**
 * A client connection. Plugs see it as `ctx.connection`; `data` is theirs to keep per-connection state in.
 * Features keep their own per-connection state (sessions, subscriptions) in their own tables.
 *
 * @example
 * ctx.connection.data.nickname = data.name;
 * ctx.connection.send('welcome', { nickname: data.name });
 */
export class Connection implements RateState {
  readonly id: string;
  readonly remoteAddress: string;
  readonly userAgent: string;
  readonly connectedAt: number;
  readonly codec: Codec;
  bytesIn = 0;
  bytesOut = 0;
  messagesIn = 0;
  messagesOut = 0;

  /** @internal */ readonly socket: TransportSocket;
  /** @internal */ readonly owner: ConnectionOwner;
  /** @internal set by the auth feature: who the connection is and its effective grants. */ access: Access | undefined = undefined;
  /** @internal set by the rooms feature on a connection bound to one room (`/socket/:id`): its messages go to that room. */ bound: object | undefined = undefined;
  /** @internal set once every onConnect hook has run; messages wait until then. */ ready = false;
  /** @internal frames that arrived before `ready`, and their bytes. */ early: [Buffer, boolean][] | undefined = undefined;
  /** @internal */ earlyBytes = 0;
  /** @internal */ closed = false;
  /** @internal answered the last ping */ alive = true;
  /** @internal */ lastMessageAt: number;
  /** @internal requests running now */ inFlight = 0;
  // Rate limiter state (RateState), kept inline to save an object per connection.
  /** @internal */ tokens: number;
  /** @internal */ refilledAt: number;
  /** @internal */ refused = 0;
  /** @internal */ refusedSince = 0;
  private bag: Record<string, unknown> | undefined = undefined;

  constructor(socket: TransportSocket, owner: ConnectionOwner, codec: Codec, remoteAddress: string, userAgent: string, burst: number) {
    this.id = newConnectionId();
    this.socket = socket;
    this.owner = owner;
    this.codec = codec;
    this.remoteAddress = remoteAddress;
    this.userAgent = userAgent;
    this.connectedAt = Date.now();
    this.lastMessageAt = performance.now();
    this.tokens = burst;
    this.refilledAt = this.lastMessageAt;
  }

  /**
   * Who is connected, when the connection authenticated (token or `authenticate` hook); undefined while it
   * is anonymous. Frozen, and replaced (not changed) on a token refresh.
   *
   * @example
   * if (ctx.connection.identity?.id !== order.owner) throw new MessageError('not_yours', 'not your order');
   */
  get identity(): Identity | undefined {
    return this.access?.identity;
  }

  /** The connection's effective grants right now (they change live; see docs/auth.md). */
  get grants(): readonly string[] {
    return (this.access?.grants ?? NO_GRANTS).list;
  }

  /** Application state for this connection, shared by all plugs and kept across plug swaps. */
  get data(): Record<string, unknown> {
    return (this.bag ??= {});
  }

  /** Pushes a server-initiated message to this connection. False when it is closed. */
  send(type: string, data?: unknown): boolean {
    return this.owner.sendTo(this, data === undefined ? { type } : { type, data });
  }

  /** Closes the connection (after what is queued for it is sent). */
  close(code = 1000, reason = ''): void {
    this.owner.closeConnection(this, code, reason);
  }

  /** A snapshot for the admin API and logs. */
  info(): ConnectionInfo {
    return {
      id: this.id,
      remoteAddress: this.remoteAddress,
      userAgent: this.userAgent,
      connectedAt: new Date(this.connectedAt).toISOString(),
      codec: this.codec.name,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      ...this.owner.describe(this),
    };
  }
}
