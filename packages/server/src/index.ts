// @switchboard/server: create a server, define plugs, and the contracts back ends implement.
export { createServer } from './server.ts';
export type { SwitchboardServer, ListenInfo, PlugInfo } from './server.ts';
export type { ServerOptions, ResolvedOptions, ChannelOptions } from './options.ts';
export type { ServerApi, BroadcastOptions, ChannelApi, ChannelInfo, GrantApi, GrantChangeOptions, PublishOptions } from './api.ts';
export type { AuthOptions, AuthorizeRequest, Identity, PublicKeyInput } from './auth/options.ts';
export { isGrant } from './grants/grant-set.ts';
export type { ServerEvents } from './api.ts';
export { Connection } from './connection/connection.ts';
export type { ConnectionInfo } from './connection/connection.ts';
export type { Feature, ProtocolRoute, UpgradeContext, Refusal, Admission } from './feature.ts';
export { FaultPolicy, FaultCode } from './observe/faults.ts';
export { createTransportLogger, flushLogger } from './observe/logging.ts';
export type { TransportLoggerOptions } from './observe/logging.ts';
export { COMBINED_FORMAT, ACCESS_LOG_VARIABLES } from './observe/access-log.ts';
export type { AccessLogOptions } from './observe/access-log.ts';
export { definePlug } from './plug/define.ts';
export { defineResource } from './resource/define.ts';
export type { Resource, ResourceDefinition, ResourceHandle, ResourceHandles, ResourceInfo, WriteChange, WriteOptions, AccessRule } from './resource/define.ts';
export { memorySource, sqliteSource, loaderSource } from './resource/source.ts';
export { defineRoom } from './room/define.ts';
export type { Room, RoomDefinition, RoomApi, RoomContext, RoomMessageContext, RoomMember, RoomMessageDefinition, RoomInfo, RestartIntensity } from './room/define.ts';
export type { ResolvedRoomOptions } from './options.ts';
export type { ResourceSource, StoredRecord, SourceChange, SqliteSourceOptions, LoaderSourceOptions } from './resource/source.ts';
export type { ResolvedResourceOptions } from './options.ts';
export type { LiveQuery, LiveRecord, LiveOperation, LiveWriteReply, LiveSubscribeReply, Where, FieldCondition, PatchOperation } from '@switchboard/protocol';
export { PLUG_NAME_PATTERN } from './plug/validate.ts';
export type {
  AppApi,
  HandlerContext,
  Hooks,
  HookName,
  InboundMessage,
  HandleOutcome,
  Rejection,
  Plug,
  PlugDefinition,
  Messages,
  Replied,
  TypedServerApi,
  SchemaMap,
  HandlerResult,
} from './plug/define.ts';
export type { Manifest, ManifestEntry, ManifestPush, ManifestEvent, ManifestResource } from './plug/manifest.ts';
export { MessageError, SwitchboardError, DevErrorCode } from './errors.ts';
export { MemoryBus } from './bus/memory-bus.ts';
export { BROADCAST_TOPIC, channelTopic } from './bus/bus.ts';
export type { Bus, BusMessage, BusListener } from './bus/bus.ts';
export type { Transport, TransportSocket, TransportHandlers, TransportOptions, PreparedFrame } from './transport/transport.ts';
export { createWsTransport } from './transport/ws-transport.ts';
export { jsonCodec, createJsonCodec, MAX_JSON_DEPTH, ErrorCode, CloseCode, ROOM_ID_PATTERN, ROOM_KIND_PATTERN, RESOURCE_NAME_PATTERN } from '@switchboard/protocol';
export type { Codec, Envelope, JsonCodecOptions } from '@switchboard/protocol';
export { z } from 'zod';
// back-end contracts
export { nodeTopic, presenceTopic, DIRECT_TOPIC, GRANTS_TOPIC, PLUGS_TOPIC, ClusterMessageKind, isPublication } from './bus/bus.ts';
export type { ClusterMessage, ClusterListener, PublicationMessage, DirectMessage, GrantsMessage, GrantChange, PresenceMessage, PlugMessage } from './bus/bus.ts';
export type { MaybePromise } from './maybe-promise.ts';
export { HISTORY_DEFAULTS } from './stream/history.ts';
export type { History, HistoryOptions, StreamPosition, StreamPublication, StreamPage, StreamReset } from './stream/history.ts';
export { MemoryHistory, MEMORY_HISTORY_MAX_STREAMS } from './stream/memory-history.ts';
export type { MemoryHistoryOptions } from './stream/memory-history.ts';
export type { PresenceStore, PresenceMember } from './presence/presence-store.ts';
export { MemoryPresence } from './presence/memory-presence.ts';
export { STORE_QUERY_LIMIT, auditFrameData, auditReplyData, auditRecordOf } from './store/store.ts';
export type {
  Store,
  ConnectionOpen,
  ConnectionClose,
  ConnectionRecord,
  ConnectionQuery,
  AuditEntry,
  AuditRecord,
  AuditReply,
  AuditQuery,
  GrantRecord,
  DisabledUser,
  GrantSnapshot,
} from './store/store.ts';
export { MemoryStore } from './store/memory-store.ts';
export { SqliteStore, SQLITE_SCHEMA_VERSION } from './store/sqlite-store.ts';
export type { SqliteStoreOptions } from './store/sqlite-store.ts';
// one machine, many processes: the agent and its workers (also at @switchboard/server/cluster)
export { startAgent, joinCluster, isClusterWorker, IpcBus, IpcHistory, IpcPresence, ClusterFaultCode } from './cluster/index.ts';
export type { Agent, AgentOptions, ClusterStatus, ClusterWorker, WorkerInfo, ConnectionEntry } from './cluster/index.ts';
