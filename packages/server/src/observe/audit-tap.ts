// The audit tap: what the message path tells the recorder — every message in, every message out (a fan-out
// once, with its recipient count; a request once, with its reply) — as cheap calls that only queue.
import type { Envelope, RequestId } from '@switchboard/protocol';
import type { Connection } from '../connection/connection.ts';
import type { AuditEntry } from '../store/store.ts';
import type { Recorder } from './recorder.ts';

const textDecoder = new TextDecoder();

/**
 * Requests of one connection held for their replies at most: past it the oldest is recorded without one (a
 * client with that many unanswered requests has most of them refused by `limits.maxInFlight` anyway).
 */
export const MAX_HELD_REQUESTS = 1_000;

/** What the inbound and outbound pipelines (and the connection lifecycle) call when auditing is on. */
export interface MessageTap {
  /**
   * A frame arrived: its envelope (undefined when it did not decode), the frame itself (its bytes, whether it
   * came as binary, and its text when the pipeline decoded it as such), whether a route serves it.
   */
  inbound(connection: Connection, envelope: Envelope | undefined, frame: Uint8Array, binary: boolean, outcome: string, text?: string): void;
  /**
   * A message went out to one connection, or (`connection` undefined) to `recipients` of a fan-out: its
   * envelope, as encoded (the codec's text or bytes; undefined when no one encoding stands for it), and its
   * size on the wire.
   */
  outbound(connection: Connection | undefined, envelope: Envelope, encoded: string | Uint8Array | undefined, bytes: number, recipients: number): void;
  /** A connection closed: what it still held is recorded. */
  closed(connection: Connection): void;
}

/** A record's `data` for a payload not seen as text (a binary codec's): the payload and the message's id. */
function payloadData(payload: unknown, id: RequestId | undefined): Record<string, unknown> {
  return id === undefined ? { payload } : { payload, id };
}

/** Sets the channel, room or resource a protocol message concerns, read from its data, on its entry. */
function setSubject(entry: AuditEntry, envelope: Envelope): void {
  const data = envelope.data as Record<string, unknown> | null | undefined;
  if (data === null || typeof data !== 'object') return;
  if (typeof data.channel === 'string') entry.channel = data.channel;
  if (typeof data.room === 'string') entry.room = data.room;
  if (typeof data.resource === 'string') entry.resource = data.resource;
}

/**
 * The tap that records into a recorder: `message.in` (outcome `ok` when routed, else why it was refused) and
 * `message.out` (outcome the error code of an error, `ok` otherwise), with connection, user, type, size and
 * the payload (redacted when written). A request — a message with an id — is held until its reply goes out
 * and recorded once with it (`reply`: when, size, outcome, payload), which halves what a round trip costs the
 * store; one whose reply never goes out (the connection closed first) is recorded without one when the
 * connection closes. A text frame is handed over as its text, parsed for the payload only when written (off
 * the message path); a binary one as the decoded payload.
 *
 * @example
 * const tap = recorderTap(recorder, 'node-1');
 * inbound.tap = tap;
 */
export function recorderTap(recorder: Recorder, node: string): MessageTap {
  /** Requests waiting for their reply, per connection, in arrival order. */
  const held = new WeakMap<Connection, Map<RequestId, AuditEntry>>();

  const hold = (connection: Connection, id: RequestId, entry: AuditEntry): void => {
    let requests = held.get(connection);
    if (requests === undefined) held.set(connection, (requests = new Map()));
    const earlier = requests.get(id);
    // The same id again before its reply: the earlier request is recorded as it is.
    if (earlier !== undefined) {
      requests.delete(id);
      recorder.record(earlier);
    } else if (requests.size >= MAX_HELD_REQUESTS) {
      const [oldestId, oldest] = requests.entries().next().value!;
      requests.delete(oldestId);
      recorder.record(oldest);
    }
    requests.set(id, entry);
  };

  return {
    inbound(connection, envelope, frame, binary, outcome, text) {
      const entry: AuditEntry = { at: Date.now(), type: 'message.in', node, connectionId: connection.id, size: frame.length, outcome };
      const identityId = connection.identity?.id;
      if (identityId !== undefined) entry.identityId = identityId;
      if (envelope === undefined) return recorder.record(entry);
      entry.messageType = envelope.type;
      setSubject(entry, envelope);
      if (envelope.data !== undefined && recorder.keepsPayload(envelope.type)) {
        if (binary) entry.data = payloadData(envelope.data, envelope.id);
        else entry.frame = text ?? textDecoder.decode(frame);
      }
      if (envelope.id === undefined) return recorder.record(entry);
      hold(connection, envelope.id, entry);
    },
    outbound(connection, envelope, encoded, bytes, recipients) {
      const outcome = envelope.error?.code ?? 'ok';
      const payload = envelope.error ?? envelope.data;
      const keep = payload !== undefined && recorder.keepsPayload(envelope.type);
      if (connection !== undefined && envelope.id !== undefined) {
        const requests = held.get(connection);
        const request = requests?.get(envelope.id);
        if (request !== undefined && request.messageType === envelope.type) {
          requests!.delete(envelope.id);
          request.reply = { at: Date.now(), size: bytes, outcome };
          if (keep) {
            if (typeof encoded === 'string') request.reply.frame = encoded;
            else request.reply.data = { payload };
          }
          return recorder.record(request);
        }
      }
      const entry: AuditEntry = {
        at: Date.now(),
        type: connection === undefined ? 'message.fanout' : 'message.out',
        node,
        messageType: envelope.type,
        size: bytes,
        outcome,
        recipients,
      };
      setSubject(entry, envelope);
      if (connection !== undefined) {
        entry.connectionId = connection.id;
        const identityId = connection.identity?.id;
        if (identityId !== undefined) entry.identityId = identityId;
      }
      if (keep) {
        if (typeof encoded === 'string') entry.frame = encoded;
        else entry.data = payloadData(payload, envelope.id);
      }
      recorder.record(entry);
    },
    closed(connection) {
      const requests = held.get(connection);
      if (requests === undefined) return;
      held.delete(connection);
      for (const entry of requests.values()) recorder.record(entry);
    },
  };
}
