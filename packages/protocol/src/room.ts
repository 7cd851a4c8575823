// Rooms on the wire: joining an instance, its state as a snapshot then patches with positions, room messages.
import type { StreamPosition } from './channel.ts';
import type { PatchOperation } from './live.ts';

/** Room kind names: like resource names. Instance ids: 1 to 64 of letters, digits, `_` and `-`. */
export const ROOM_KIND_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The URL path prefix of connections bound to one room instance: `/socket/<id>`. */
export const ROOM_SOCKET_PREFIX = '/socket/';

/** A member of a room as the others see it. `id` is the identity id, or a seat id for anonymous members. */
export interface RoomMemberInfo {
  id: string;
  info?: Record<string, unknown>;
  /** False while its connection is gone and its seat is held for it to come back. */
  present: boolean;
}

/**
 * The payload of `$room.join`: an instance by id, or (without `room`) the first instance of `kind` with
 * room for one more, created when there is none (`create: true` always creates). `seat` and `since`
 * come back after a reconnect: the seat to take again, and the state position held.
 */
export interface RoomJoinRequest {
  kind?: string;
  room?: string;
  create?: boolean;
  options?: unknown;
  seat?: string;
  since?: StreamPosition;
}

/**
 * The reply to `$room.join` (and `$welcome.room` on `/socket/:id`): the instance, this member, its seat token
 * (to take the seat again after a reconnect), the members, and the state — a snapshot, or with `since` the
 * patches missed (`recovered: true`).
 */
export interface RoomJoinReply<S = unknown> {
  room: string;
  kind: string;
  member: string;
  seat: string;
  members: RoomMemberInfo[];
  position: StreamPosition;
  state?: S;
  patches?: RoomStatePatch[];
  recovered?: boolean;
}

/**
 * The data of a `$room.state` push: a change to the state this member sees, as JSON Patch, with its position.
 * `prev` is the offset of the previous patch this member received (or of its snapshot): a member at
 * position `p` missed nothing when `prev <= p < offset`.
 */
export interface RoomStatePatch {
  room: string;
  patch: PatchOperation[];
  epoch: string;
  offset: number;
  prev: number;
}

/** The data of a `$room.message` push: a message the room's code sent to this member. */
export interface RoomMessage<T = unknown> {
  room: string;
  type: string;
  data: T;
}

/** The data of a `$room.member` push. */
export interface RoomMemberChange {
  room: string;
  action: 'join' | 'leave' | 'away' | 'back';
  member: RoomMemberInfo;
}

/** Why a room ended for its members (`$room.closed.reason`). */
export const RoomClosedReason = {
  /** Its code (or the admin API, the CLI) closed it. */
  closed: 'closed',
  /** It was empty for longer than its empty timeout. */
  disposed: 'disposed',
  /** It kept failing: more restarts than its restart intensity allows. */
  failed: 'failed',
  /** Its plug was removed. */
  removed: 'removed',
  /** The server is shutting down. */
  shutdown: 'shutdown',
  /** This member was removed from it (its join grant was revoked, or the room's code removed it). */
  removedMember: 'removed_member',
} as const;
export type RoomClosedReason = (typeof RoomClosedReason)[keyof typeof RoomClosedReason];

/** The data of a `$room.closed` push: the room ended for this member. */
export interface RoomClosed {
  room: string;
  reason: RoomClosedReason | (string & {});
  message?: string;
}
