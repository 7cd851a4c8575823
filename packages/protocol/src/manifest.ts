// The manifest: what a server accepts now, as JSON Schema; server and client share this shape.

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
 * Every message type the server accepts; `version` changes whenever any entry does.
 *
 * @example
 * client.events.on('manifest', (manifest) => renderActions(manifest.messages));
 */
export interface Manifest {
  version: string;
  messages: ManifestEntry[];
}
