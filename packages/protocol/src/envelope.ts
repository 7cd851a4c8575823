// The one envelope every Switchboard frame carries, and its validation (shared by server and client).

/** A request id, chosen by the client; the reply carries the same value. */
export type RequestId = string | number;

/** One validation problem: where in the payload, and what is wrong. */
export interface Issue {
  path: (string | number)[];
  message: string;
  code?: string;
}

/** The `error` member of a failed reply or of a `$error` push. */
export interface ErrorPayload {
  code: string;
  message: string;
  /** Validation failures list every failing path. */
  issues?: Issue[];
  [extra: string]: unknown;
}

/**
 * The protocol v1 envelope.
 *
 * @example
 * { "type": "chat.send", "id": 1, "data": { "text": "hi" } }      // request
 * { "type": "chat.send", "id": 1, "data": { "ok": true } }        // reply
 * { "type": "chat.send", "id": 1, "error": { "code": "invalid_payload", "message": "..." } }
 */
export interface Envelope<T = unknown> {
  type: string;
  id?: RequestId;
  data?: T;
  error?: ErrorPayload;
}

/** Message types starting with this prefix belong to the protocol; plugs cannot claim them. */
export const RESERVED_PREFIX = '$';

/** The protocol's own message types. */
export const SystemType = {
  /** Server → client on connect: connection id, protocol version, heartbeat settings. */
  welcome: '$welcome',
  /** Request: the manifest; push: the manifest changed. */
  manifest: '$manifest',
  /** Request answered with `{}`: an application-level heartbeat for clients that cannot send ping frames. */
  ping: '$ping',
  /** Server → client: an error not tied to a request (malformed frame, rate limit on a push). */
  error: '$error',
  /** Request: authenticate (or refresh the token of) this connection. */
  auth: '$auth',
  /** Server → client: the connection's token expires soon; refresh it with `$auth`. */
  authExpiring: '$auth.expiring',
  /** Server → client: the connection's grants changed. */
  grants: '$grants',
  /** Request: subscribe to a channel. */
  subscribe: '$subscribe',
  /** Request: unsubscribe from a channel. */
  unsubscribe: '$unsubscribe',
  /** Request: publish to a channel (client events). */
  publish: '$publish',
  /** Request: send an event to every connection (needs the `broadcast` grant). */
  broadcast: '$broadcast',
  /** Server → client: a message published to a channel the client is subscribed to. */
  message: '$message',
  /** Server → client: a presence change (join / leave) in a presence channel. */
  presence: '$presence',
  /** Server → client: the server removed this connection from a channel (grant revoked, channel closed). */
  unsubscribed: '$unsubscribed',
  /** Request: subscribe to a resource (all of it, one key, or a filter); the reply is a snapshot or the missed operations. */
  liveSubscribe: '$live.subscribe',
  /** Request: end a resource subscription (by its view id). */
  liveUnsubscribe: '$live.unsubscribe',
  /** Request: create a record (refused with `conflict` when its key exists). */
  liveCreate: '$live.create',
  /** Request: replace (or create) the record at a key. */
  livePut: '$live.put',
  /** Request: change part of a record with a JSON Patch (RFC 6902). */
  livePatch: '$live.patch',
  /** Request: delete the record at a key. */
  liveDelete: '$live.delete',
  /** Server → client: one operation on a resource view the client subscribed to. */
  liveOp: '$live.op',
  /** Server → client: the server ended a resource subscription (grant revoked, resource removed). */
  liveEnded: '$live.ended',
  /** Request: join a room instance (by id, or join-or-create by kind); the reply is its state. */
  roomJoin: '$room.join',
  /** Server → client, on a connection bound to a room (`/socket/:id`): it joined; the data is a `$room.join` reply. */
  roomJoined: '$room.joined',
  /** Request: create a room instance without joining it. */
  roomCreate: '$room.create',
  /** Request: leave a room. */
  roomLeave: '$room.leave',
  /** Request: send a message to a room's handlers. */
  roomSend: '$room.send',
  /** Server → client: a change to a room's state (JSON Patch with its position). */
  roomState: '$room.state',
  /** Server → client: a message a room's code sent. */
  roomMessage: '$room.message',
  /** Server → client: a member joined, left, went away or came back. */
  roomMember: '$room.member',
  /** Server → client: a room ended for this member. */
  roomClosed: '$room.closed',
} as const;
export type SystemType = (typeof SystemType)[keyof typeof SystemType];

/** Names a plug may give its message types: letters, digits and `._:-`, starting with a letter. */
export const MESSAGE_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/;

/** What `parseEnvelope` returns: the envelope, or why it is not one (with the id when it could be read). */
export type ParsedEnvelope =
  | { ok: true; envelope: Envelope }
  | { ok: false; message: string; id?: RequestId };

function isRequestId(value: unknown): value is RequestId {
  return (
    (typeof value === 'string' && value.length > 0 && value.length <= 128) ||
    (typeof value === 'number' && Number.isSafeInteger(value))
  );
}

/**
 * Checks that a decoded frame is an envelope: an object with a string `type` and, if present, a valid `id`.
 *
 * @example
 * const parsed = parseEnvelope(JSON.parse(text));
 * if (!parsed.ok) console.error(parsed.message);
 */
export function parseEnvelope(value: unknown): ParsedEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'a frame must be a JSON object with a "type" field' };
  }
  const record = value as Record<string, unknown>;
  const id = record.id;
  if (id !== undefined && !isRequestId(id)) {
    return { ok: false, message: '"id" must be a non-empty string (at most 128 characters) or a safe integer' };
  }
  const type = record.type;
  if (typeof type !== 'string' || type.length === 0) {
    return { ok: false, message: 'missing "type": a non-empty string that names the message', id };
  }
  if (type.length > 128) {
    return { ok: false, message: '"type" is longer than 128 characters', id };
  }
  return { ok: true, envelope: record as unknown as Envelope };
}
