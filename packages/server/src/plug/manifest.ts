// The manifest: what the server accepts and sends now, as JSON Schema, so front-ends can adapt to a swap.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Manifest, ManifestEntry, ManifestEvent, ManifestPush, ManifestResource, ManifestRoom } from '@switchboard/protocol';
import type { Schema } from './define.ts';
import type { Resource } from '../resource/define.ts';
import type { Room } from '../room/define.ts';

export type { Manifest, ManifestEntry, ManifestEvent, ManifestPush, ManifestResource, ManifestRoom };

type Io = 'input' | 'output';

// Zod schemas are immutable, so a schema's JSON Schema can be kept for as long as the schema lives: every
// swap rebuilds the manifest from all plugs, and only the swapped plug's schemas are new.
const converted = new WeakMap<Schema, Partial<Record<Io, Record<string, unknown>>>>();

/** A schema as JSON Schema; types JSON Schema cannot express (dates, transforms) become `{}`. */
export function jsonSchemaOf(schema: Schema, io: Io): Record<string, unknown> {
  let cached = converted.get(schema);
  if (!cached) {
    cached = {};
    converted.set(schema, cached);
  }
  return (cached[io] ??= convert(schema, io));
}

function convert(schema: Schema, io: Io): Record<string, unknown> {
  try {
    return z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * The manifest entries of a plug's pushes, schemas as clients receive the data.
 *
 * @example
 * pushEntries('chat', '1.0.0', { 'chat.message': z.object({ text: z.string() }) })
 */
export function pushEntries(plug: string, plugVersion: string, pushes: Record<string, Schema> | undefined): ManifestPush[] {
  return Object.entries(pushes ?? {}).map(([type, schema]) => ({ type, plug, plugVersion, schema: jsonSchemaOf(schema, 'output') }));
}

/**
 * The manifest entries of a plug's channel events, schemas as subscribers receive the data.
 *
 * @example
 * eventEntries('chat', '1.0.0', { typing: z.object({ user: z.string() }) })
 */
export function eventEntries(plug: string, plugVersion: string, events: Record<string, Schema> | undefined): ManifestEvent[] {
  return Object.entries(events ?? {}).map(([event, schema]) => ({ event, plug, plugVersion, schema: jsonSchemaOf(schema, 'output') }));
}

/**
 * The manifest entries of a plug's resources, record schemas as clients receive them.
 *
 * @example
 * resourceEntries('shop', '1.0.0', { orders })
 */
export function resourceEntries(plug: string, plugVersion: string, resources: Record<string, Resource> | undefined): ManifestResource[] {
  return Object.entries(resources ?? {}).map(([name, resource]) => {
    const entry: ManifestResource = {
      name,
      plug,
      plugVersion,
      key: resource.key,
      access: { read: resource.access?.read ?? 'grant', write: resource.access?.write ?? 'grant' },
      schema: jsonSchemaOf(resource.schema, 'output'),
    };
    if (resource.description !== undefined) entry.description = resource.description;
    return entry;
  });
}

/**
 * The manifest entries of a plug's room kinds, with their messages' input schemas.
 *
 * @example
 * roomEntries('games', '1.0.0', { tictactoe })
 */
export function roomEntries(plug: string, plugVersion: string, rooms: Record<string, Room> | undefined): ManifestRoom[] {
  return Object.entries(rooms ?? {}).map(([kind, room]) => {
    const entry: ManifestRoom = {
      kind,
      plug,
      plugVersion,
      access: room.access ?? 'grant',
      isolation: room.isolation ?? 'inline',
      messages: Object.entries(room.messages as Record<string, { input: Schema; description?: string }>).map(([type, message]) => ({
        type,
        ...(message.description !== undefined ? { description: message.description } : {}),
        input: jsonSchemaOf(message.input, 'input'),
      })),
    };
    if (room.description !== undefined) entry.description = room.description;
    if (room.maxMembers !== undefined) entry.maxMembers = room.maxMembers;
    if (room.state !== undefined) entry.state = jsonSchemaOf(room.state, 'output');
    if (room.pushes !== undefined) {
      entry.pushes = Object.entries(room.pushes as Record<string, Schema>).map(([type, schema]) => ({ type, data: jsonSchemaOf(schema, 'output') }));
    }
    return entry;
  });
}

function byKey<T>(key: (entry: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/** Builds a manifest from its entries, each list sorted, with a content hash of all of them as its version. */
export function buildManifest(
  entries: ManifestEntry[],
  pushes: ManifestPush[] = [],
  events: ManifestEvent[] = [],
  resources: ManifestResource[] = [],
  rooms: ManifestRoom[] = [],
): Manifest {
  const content = {
    messages: [...entries].sort(byKey((entry) => entry.type)),
    pushes: [...pushes].sort(byKey((push) => `${push.type}\u0000${push.plug}`)),
    events: [...events].sort(byKey((entry) => `${entry.event}\u0000${entry.plug}`)),
    resources: [...resources].sort(byKey((entry) => entry.name)),
    rooms: [...rooms].sort(byKey((entry) => entry.kind)),
  };
  const version = createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 12);
  return { version, ...content };
}

/**
 * The part of a manifest clients act on: every entry without its plug version. Two manifests with the same
 * shape accept and send the same messages with the same schemas.
 *
 * @example
 * manifestShape(before) === manifestShape(after) // only handler code changed: no need to tell clients
 */
export function manifestShape(manifest: Manifest): string {
  const strip = <T extends { plugVersion: string }>(entries: readonly T[]) => entries.map(({ plugVersion: _v, ...rest }) => rest);
  return JSON.stringify([strip(manifest.messages), strip(manifest.pushes), strip(manifest.events), strip(manifest.resources), strip(manifest.rooms)]);
}
