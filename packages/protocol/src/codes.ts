// Every error code a client can receive and every close code the server uses: the one table.

/**
 * Error codes carried in `error.code`. Stable: tests and clients match on these, never on messages.
 * docs/protocol.md documents each; a test fails when the two disagree.
 */
export const ErrorCode = {
  /** The frame could not be decoded (malformed JSON, a binary frame on the JSON codec). */
  badFrame: 'bad_frame',
  /** The frame decoded but is not an envelope (not an object, no `type`, bad `id`). */
  badEnvelope: 'bad_envelope',
  /** No plug handles this message type. */
  unknownType: 'unknown_type',
  /** The payload failed the message's input schema; `issues` lists the failing paths. */
  invalidPayload: 'invalid_payload',
  /** The handler failed; details are in the server log, never sent to the client. */
  handlerError: 'handler_error',
  /** A `beforeHandle` hook refused the message. */
  rejected: 'rejected',
  /** The connection sent more messages than its rate limit allows; the message was dropped. */
  rateLimited: 'rate_limited',
  /** The server is shutting down and takes no new messages. */
  shuttingDown: 'shutting_down',
  /** No reply in time: client-side, the request's timeout passed; server-side, the handler did not settle within `limits.handlerTimeoutMs`. */
  timeout: 'timeout',
  /** Client-side: the connection dropped before the reply arrived. */
  disconnected: 'disconnected',
  /** The connection has no identity and this needs one. */
  unauthenticated: 'unauthenticated',
  /** The token could not be parsed (not a JWT). */
  tokenMalformed: 'token_malformed',
  /** The token's signature does not verify, or its issuer/audience/claims are wrong. */
  tokenInvalid: 'token_invalid',
  /** The token has expired (or is not valid yet). */
  tokenExpired: 'token_expired',
  /** The token's algorithm is not accepted (`alg: none` always refused). */
  tokenAlgorithm: 'token_algorithm',
  /** The `authenticate` hook refused the credentials. */
  authFailed: 'auth_failed',
  /** The identity lacks the grant; `grant` names the one that was missing. */
  forbidden: 'forbidden',
  /** The channel name is not valid. */
  badChannel: 'bad_channel',
  /** A limit was reached (channels per connection, subscribers per channel, message size). */
  limitExceeded: 'limit_exceeded',
  /** Not subscribed to that channel (or resource view). */
  notSubscribed: 'not_subscribed',
  /** The identity was disabled by the server; its tokens are refused until it is enabled again. */
  userDisabled: 'user_disabled',
  /** No resource of that name is served. */
  unknownResource: 'unknown_resource',
  /** No record at that key. */
  notFound: 'not_found',
  /** The write named a version (or expected no record) and the record is not at it; `details.current` is the record now. */
  conflict: 'conflict',
  /** No room instance with that id (or of that kind) exists. */
  unknownRoom: 'unknown_room',
  /** The room has `maxMembers` members. */
  roomFull: 'room_full',
  /** The connection is not a member of that room. */
  notMember: 'not_member',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the server sends, with what each means for the client. */
export const CloseCode = {
  /** Normal closure. */
  normal: 1000,
  /** The server is shutting down (or restarting); reconnect. */
  goingAway: 1001,
  /** The client broke the WebSocket framing (an unmasked frame, a bad opcode, RSV bits set); sent by ws. */
  protocolError: 1002,
  /** A text frame was not valid UTF-8; sent by ws. */
  invalidUtf8: 1007,
  /** Policy violation: the connection kept exceeding its rate limit. */
  policyViolation: 1008,
  /** A frame was larger than the server's `maxPayload`. */
  messageTooBig: 1009,
  /** The server hit an unexpected condition. */
  internalError: 1011,
  /** The server is at its connection limit; try again later. */
  tryAgainLater: 1013,
  /** No message arrived within the idle timeout. */
  idleTimeout: 4000,
  /** The connection did not read its messages fast enough; its send buffer overflowed. */
  slowConsumer: 4001,
  /** Authentication is required and was not given, failed, or the token expired (close policy). */
  unauthorized: 4003,
  /** The user was disabled, or the server closed the connection on purpose. */
  kicked: 4004,
  /** A connection bound to a room (`/socket/:id`): the room ended (closed, disposed, failed, removed). */
  roomClosed: 4005,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which a client should not reconnect without changing something first. */
export const NO_RECONNECT_CLOSE_CODES: readonly number[] = [
  CloseCode.messageTooBig,
  CloseCode.unauthorized,
  CloseCode.kicked,
  CloseCode.roomClosed,
];

/** Close codes after which a client should wait longer than usual before reconnecting (it was too fast, or the server is full). */
export const SLOW_RECONNECT_CLOSE_CODES: readonly number[] = [CloseCode.policyViolation, CloseCode.tryAgainLater];
