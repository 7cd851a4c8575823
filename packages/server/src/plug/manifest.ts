// The manifest: what the server accepts now, as JSON Schema, so front-ends can adapt to a swap.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Manifest, ManifestEntry } from '@switchboard/protocol';
import type { Schema } from './define.ts';

export type { Manifest, ManifestEntry };

/** A schema as JSON Schema; types JSON Schema cannot express (dates, transforms) become `{}`. */
export function jsonSchemaOf(schema: Schema, io: 'input' | 'output'): Record<string, unknown> {
  try {
    return z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Builds a manifest from its entries, sorted by type, with a content hash as its version. */
export function buildManifest(entries: ManifestEntry[]): Manifest {
  const messages = [...entries].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  const version = createHash('sha256').update(JSON.stringify(messages)).digest('base64url').slice(0, 12);
  return { version, messages };
}
