// The manifest: what a server accepts and sends now, as JSON Schema; server and client share this shape.

/**
 * One message type in the manifest.
 *
 * @example
 * const form = manifest.messages.find((entry) => entry.type === 'chat.send')?.input;
 */
export interface ManifestEntry {
  type: string;
  plug: string;
  plugVersion: string;
  description?: string;
  /** JSON Schema (draft 2020-12) of the payload. */
  input: Record<string, unknown>;
  /** JSON Schema of the reply, when the message declares one. */
  output?: Record<string, unknown>;
}

/**
 * One push type a plug declares: a message the server sends without being asked (`ctx.send`, a broadcast).
 *
 * @example
 * const shape = manifest.pushes.find((push) => push.type === 'chat.message')?.schema;
 */
export interface ManifestPush {
  type: string;
  plug: string;
  plugVersion: string;
  /** JSON Schema (draft 2020-12) of the push's data, as clients receive it. */
  schema: Record<string, unknown>;
}

/**
 * One channel event a plug declares: the `event` of a `$message` push, published with `publish(channel, event, data)`.
 *
 * @example
 * const shape = manifest.events.find((entry) => entry.event === 'typing')?.schema;
 */
export interface ManifestEvent {
  event: string;
  plug: string;
  plugVersion: string;
  /** JSON Schema (draft 2020-12) of the event's data, as subscribers receive it. */
  schema: Record<string, unknown>;
}

/**
 * Every message type the server accepts, and every push and channel event its plugs declare; `version`
 * changes whenever any entry does.
 *
 * @example
 * client.events.on('manifest', (manifest) => renderActions(manifest.messages));
 */
export interface Manifest {
  version: string;
  messages: ManifestEntry[];
  pushes: ManifestPush[];
  events: ManifestEvent[];
  /** The resources served (live data). */
  resources: ManifestResource[];
  /** The room kinds served. */
  rooms: ManifestRoom[];
}

/**
 * One room kind: who may join, its limits, and the messages its members send, with their JSON Schemas.
 *
 * @example
 * const moves = manifest.rooms.find((room) => room.kind === 'tictactoe')?.messages.map((m) => m.type);
 */
export interface ManifestRoom {
  kind: string;
  plug: string;
  plugVersion: string;
  description?: string;
  access: 'public' | 'grant';
  isolation: 'inline' | 'thread';
  maxMembers?: number;
  /** JSON Schema of the state, when the kind declares `state`. */
  state?: Record<string, unknown>;
  messages: { type: string; description?: string; input: Record<string, unknown> }[];
  /** What the room sends its members unasked (`$room.message`), when the kind declares `pushes`: type and JSON Schema of the data. */
  pushes?: { type: string; data: Record<string, unknown> }[];
}

/**
 * One resource the plugs serve: its key field, who may read and write it, and the JSON Schema of a record.
 *
 * @example
 * const columns = Object.keys(manifest.resources.find((r) => r.name === 'orders')?.schema.properties ?? {});
 */
export interface ManifestResource {
  name: string;
  plug: string;
  plugVersion: string;
  key: string;
  description?: string;
  access: { read: 'public' | 'grant' | 'none'; write: 'public' | 'grant' | 'none' };
  schema: Record<string, unknown>;
}

// The compile-time twin of the manifest: where a typed API (`AppApi` on the server, `connect<Api>` on the
// client) carries its pushes and events. Symbol keys keep `keyof Api & string` the message types alone, so a
// message map with them still is a plain `{ [type]: { input, output } }`. Type-level only: no value exists.
declare const pushesKey: unique symbol;
declare const eventsKey: unique symbol;
declare const resourcesKey: unique symbol;
declare const roomsKey: unique symbol;
/** The key of an API type's pushes (push type → data). Type-level only. */
export type ApiPushesKey = typeof pushesKey;
/** The key of an API type's channel events (event → data). Type-level only. */
export type ApiEventsKey = typeof eventsKey;
/** The key of an API type's resources (resource name → record type). Type-level only. */
export type ApiResourcesKey = typeof resourcesKey;
/** The key of an API type's room kinds (kind → `RoomType`). Type-level only. */
export type ApiRoomsKey = typeof roomsKey;

/**
 * One room kind as a typed client sees it: the state a member holds, the messages it sends (type → data)
 * and the pushes it receives (type → data).
 *
 * @example
 * type Board = RoomType<{ cells: string[] }, { move: { cell: number } }, { 'game.over': { winner: string } }>;
 */
export interface RoomType<S = unknown, M = Record<string, unknown>, P = Record<string, unknown>> {
  state: S;
  messages: M;
  pushes: P;
}

/**
 * The pushes (`P`: push type → data), channel events (`E`: event → data) and resources (`R`: name → record)
 * of an API type, to intersect
 * with its message map. `AppApi` from @switchboard/server adds them from the plugs; a hand-written API can too.
 *
 * @example
 * type Api = { 'chat.send': { input: { text: string }; output: { sent: boolean } } } &
 *   WithPushes<{ 'chat.message': { from: string; text: string } }, { typing: { user: string } }>;
 * const client = connect<Api>(url);
 */
export type WithPushes<P, E = Record<never, never>, R = Record<never, never>, Rooms = Record<never, never>> = {
  readonly [pushesKey]: P;
  readonly [eventsKey]: E;
  readonly [resourcesKey]: R;
  readonly [roomsKey]: Rooms;
};
