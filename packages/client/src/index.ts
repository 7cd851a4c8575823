// @switchboard/client: the Switchboard SDK for browsers and Node (typed requests, pushes, channels, reconnect).
export { connect, MAX_QUEUED_MESSAGES } from './client.ts';
export type { Client, PushHandler } from './client.ts';
export { RequestError } from './errors.ts';
export type { Subscription, SubscriptionEvents, MessageMeta } from './subscription.ts';
export type { EventSource } from './emitter.ts';
export type { LiveCollection, LiveChange, LiveEvents, LiveState, LiveWriteOptions } from './live.ts';
export type { RoomSession, RoomEvents, RoomSessionEvents, RoomPushArgs } from './room.ts';
export { backoffDelay, DEFAULT_RECONNECT } from './backoff.ts';
export type { ReconnectOptions } from './backoff.ts';
export type {
  ApiShape,
  AuthEvent,
  ClientEvents,
  ClientOptions,
  ClientState,
  CloseInfo,
  EventsOf,
  InputOf,
  Manifest,
  ManifestEntry,
  ManifestEvent,
  ManifestPush,
  OutputOf,
  PresenceMember,
  PublishOptions,
  PushesOf,
  ResourcesOf,
  RoomsOf,
  RoomOf,
  UntypedRoom,
  RequestOptions,
  StateChange,
  SubscribeOptions,
  TokenSource,
  UnsubscribedInfo,
  Welcome,
} from './types.ts';
export { ErrorCode, CloseCode } from '@switchboard/protocol';
export type {
  AuthExpiring,
  AuthReply,
  ChannelMessage,
  Envelope,
  ErrorPayload,
  GrantsChange,
  Issue,
  LiveQuery,
  LiveRecord,
  LiveOperation,
  LiveSubscribeReply,
  LiveWriteReply,
  PatchOperation,
  RoomJoinReply,
  RoomMemberInfo,
  RoomStatePatch,
  Where,
  FieldCondition,
  ConflictDetails,
  Member,
  PresenceChange,
  StreamPosition,
  SubscribeReply,
  Unsubscribed,
  WithPushes,
  RoomType,
} from '@switchboard/protocol';
