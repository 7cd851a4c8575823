// Admin HTTP routes for rooms: list and inspect instances, create one of a kind, close one (the CLI uses these).
import { ErrorCode } from '@switchboard/protocol';
import { adminError, type AdminApi, type AdminRequest } from '../admin.ts';
import type { Rooms } from './rooms.ts';

/** A server or kind at its number of rooms is too many requests, not too large a body (the admin API's 413). */
const ROOM_ERROR_STATUS = { [ErrorCode.limitExceeded]: 429 };

function idOf(request: AdminRequest): string | undefined {
  const parts = request.path.split('/').slice(2);
  return parts.length === 1 && parts[0] !== '' ? decodeURIComponent(parts[0]!) : undefined;
}

/**
 * Registers `/admin/rooms…`:
 * - `GET /rooms` (`?kind=` to filter): every instance with its members and restarts;
 * - `GET /rooms/:id`: one instance, with its state;
 * - `POST /rooms` with `{ kind, options?, id? }`: creates an instance (201);
 * - `DELETE /rooms/:id`: closes it (its members get `$room.closed` with reason `closed`).
 */
export function registerRoomRoutes(admin: AdminApi, rooms: Rooms): void {
  admin.route('GET', '/rooms', (request) => {
    const kind = request.query.get('kind');
    return { status: 200, body: { rooms: rooms.list().filter((room) => kind === null || room.kind === kind) } };
  });
  admin.route(
    'POST',
    '/rooms',
    async (request) => {
      const body = request.body as { kind?: unknown; options?: unknown; id?: unknown } | undefined;
      if (typeof body?.kind !== 'string') return adminError(400, ErrorCode.invalidPayload, 'send { "kind": "<room kind>", "options"?: {...}, "id"?: "<id>" }');
      if (body.id !== undefined && typeof body.id !== 'string') return adminError(400, ErrorCode.invalidPayload, '"id" must be a string');
      // Refusals are MessageErrors the admin API answers with their details: unknown_room 404 (no such kind),
      // invalid_payload 400 (with `issues`), conflict 409, limit_exceeded 429 (with `limit`).
      const instance = await rooms.create(body.kind, body.options, body.id);
      return { status: 201, body: instance.describe() };
    },
    { errorStatus: ROOM_ERROR_STATUS },
  );
  admin.route('GET', '/rooms/*', (request) => {
    const id = idOf(request);
    const instance = id === undefined ? undefined : rooms.instance(id);
    if (instance === undefined) return adminError(404, ErrorCode.unknownRoom, `no room ${id ?? request.path}`);
    return { status: 200, body: { ...instance.describe(), state: instance.state } };
  });
  admin.route('DELETE', '/rooms/*', (request) => {
    const id = idOf(request);
    const message = request.query.get('message') ?? undefined;
    if (id === undefined || !rooms.closeRoom(id, message)) return adminError(404, ErrorCode.unknownRoom, `no room ${id ?? request.path}`);
    return { status: 200, body: { closed: id } };
  });
}
