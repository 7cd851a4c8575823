// @switchboard/server: create a server, define plugs, and the contracts back ends implement.
export { createServer } from './server.ts';
export type { SwitchboardServer, ListenInfo, PlugInfo } from './server.ts';
export type { ServerOptions, ResolvedOptions } from './config.ts';
export type { ServerApi, BroadcastOptions, ChannelApi, ChannelInfo, GrantApi, GrantChangeOptions, PublishOptions } from './api.ts';
export type { AuthOptions, AuthorizeRequest, Identity, PublicKeyInput } from './auth/options.ts';
export type { ChannelOptions } from './channel/options.ts';
export { isGrant } from './grants/grant-set.ts';
export type { ServerEvents } from './core.ts';
export { Connection } from './connection.ts';
export type { ConnectionInfo } from './connection.ts';
export { definePlug } from './plug/define.ts';
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
} from './plug/define.ts';
export type { Manifest, ManifestEntry } from './plug/manifest.ts';
export { MessageError, SwitchboardError, DevErrorCode } from './errors.ts';
export { MemoryBus } from './bus/memory-bus.ts';
export { BROADCAST_TOPIC, channelTopic } from './bus/bus.ts';
export type { Bus, BusMessage, BusListener } from './bus/bus.ts';
export type { Transport, TransportSocket, TransportHandlers, PreparedFrame } from './transport/transport.ts';
export { createWsTransport } from './transport/ws-transport.ts';
export { jsonCodec, ErrorCode, CloseCode } from '@switchboard/protocol';
export type { Codec, Envelope } from '@switchboard/protocol';
export { z } from 'zod';
