// The audit tap: what the message path tells the recorder — every message in, every message out (a fan-out
// once, with its recipient count) — as one cheap call that only queues.
import type { Envelope } from '@switchboard/protocol';
import type { Connection } from '../connection/connection.ts';
import type { Recorder } from './recorder.ts';

const textDecoder = new TextDecoder();

/** What the inbound and outbound pipelines call when auditing is on. */
export interface MessageTap {
  /**
   * A frame arrived: its envelope (undefined when it did not decode), the frame itself (its bytes, and whether
   * it came as binary), whether a route serves it.
   */
  inbound(connection: Connection, envelope: Envelope | undefined, frame: Uint8Array, binary: boolean, outcome: string): void;
  /**
   * A message went out to one connection, or (`connection` undefined) to `recipients` of a fan-out: its
   * envelope, as encoded (the codec's text or bytes), and its size on the wire.
   */
  outbound(connection: Connection | undefined, envelope: Envelope, encoded: string | Uint8Array, bytes: number, recipients: number): void;
}

/** The channel, room or resource a protocol message concerns, read from its data. */
function subject(envelope: Envelope): { channel?: string; room?: string; resource?: string } {
  const data = envelope.data as Record<string, unknown> | null | undefined;
  if (data === null || typeof data !== 'object') return {};
  const out: { channel?: string; room?: string; resource?: string } = {};
  if (typeof data.channel === 'string') out.channel = data.channel;
  if (typeof data.room === 'string') out.room = data.room;
  if (typeof data.resource === 'string') out.resource = data.resource;
  return out;
}

/**
 * The tap that records into a recorder: `message.in` (outcome `ok` when routed, else why it was refused) and
 * `message.out` (outcome the error code of an error, `ok` otherwise), with connection, user, type, size and
 * the payload (redacted when written). A text frame is handed over as its text, which is parsed for the
 * payload only when written (off the message path); a binary one as the decoded payload.
 *
 * @example
 * const tap = recorderTap(recorder, 'node-1');
 * inbound.tap = tap;
 */
export function recorderTap(recorder: Recorder, node: string): MessageTap {
  return {
    inbound(connection, envelope, frame, binary, outcome) {
      const entry: Parameters<Recorder['record']>[0] = { at: Date.now(), type: 'message.in', node, connectionId: connection.id, size: frame.length, outcome };
      const identityId = connection.identity?.id;
      if (identityId !== undefined) entry.identityId = identityId;
      if (envelope !== undefined) {
        entry.messageType = envelope.type;
        Object.assign(entry, subject(envelope));
        if (envelope.data !== undefined && recorder.keepsPayload(envelope.type)) {
          if (binary) entry.data = { payload: envelope.data, ...(envelope.id !== undefined ? { id: envelope.id } : {}) };
          else entry.frame = textDecoder.decode(frame);
        }
      }
      recorder.record(entry);
    },
    outbound(connection, envelope, encoded, bytes, recipients) {
      const entry: Parameters<Recorder['record']>[0] = {
        at: Date.now(),
        type: connection === undefined ? 'message.fanout' : 'message.out',
        node,
        messageType: envelope.type,
        size: bytes,
        outcome: envelope.error?.code ?? 'ok',
        recipients,
        ...subject(envelope),
      };
      if (connection !== undefined) {
        entry.connectionId = connection.id;
        const identityId = connection.identity?.id;
        if (identityId !== undefined) entry.identityId = identityId;
      }
      const payload = envelope.error ?? envelope.data;
      if (payload === undefined || !recorder.keepsPayload(envelope.type)) return recorder.record(entry);
      if (typeof encoded === 'string') entry.frame = encoded;
      else entry.data = { payload, ...(envelope.id !== undefined ? { id: envelope.id } : {}) };
      recorder.record(entry);
    },
  };
}
