// What an audit record keeps of a message's payload, worked out where the record is written (the recorder's
// writer thread, usually) rather than on the message path: the message path hands over the frame's text as it
// went over the wire, and this drops it, keeps it, or (when a redacted field may be in it) parses and redacts it.
import { auditFrameData, auditReplyData, type AuditEntry } from '../store/store.ts';

/** What the recorder keeps of payloads, and what it hides. */
export interface RedactOptions {
  /** Message types whose payload is never recorded (the record keeps type, size and outcome). */
  types: readonly string[];
  /** Field names replaced by `"[redacted]"` at any depth of a recorded payload. */
  fields: readonly string[];
}

/** Whether payloads are kept at all, and what is hidden of them. Structured-cloneable (it crosses to the writer thread). */
export interface PayloadPolicy {
  payloads: boolean;
  redact: RedactOptions;
}

const REDACTED = '[redacted]';

/** A copy of a payload with the redacted fields replaced, bounded in depth. */
function redactValue(value: unknown, fields: ReadonlySet<string>, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'bigint' ? String(value) : value;
  if (depth > 32) return '[too deep]';
  if (Array.isArray(value)) return value.map((item) => redactValue(item, fields, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = fields.has(key) ? REDACTED : redactValue(inner, fields, depth + 1);
  return out;
}

/**
 * Applies a `PayloadPolicy` to audit entries. A message seen as text carries it as `entry.frame` (the JSON sent or
 * received; a request's reply as `entry.reply.frame`): kept as it is when no redacted field can be in it —
 * the store reads `data.payload` from it — and otherwise parsed, redacted and turned into `data.payload`.
 * A job with `data.payload` already (a binary codec's message, a server event) is redacted alike.
 *
 * @example
 * const payloads = new Payloads({ payloads: true, redact: { types: ['$auth'], fields: ['password'] } });
 * payloads.prepare({ ...entry, frame: '{"type":"login","id":1,"data":{"password":"x"}}' });
 */
export class Payloads {
  private readonly keep: boolean;
  private readonly hidden: ReadonlySet<string>;
  private readonly fields: ReadonlySet<string>;
  /**
   * Whether a frame may hold a redacted field: one of them quoted (`"password"`), or a `\u` escape (a key
   * spelled with escapes could hide one from the text search). One pattern: a scan per field cost more.
   */
  private readonly mayHide: RegExp | undefined;

  constructor(policy: PayloadPolicy) {
    this.keep = policy.payloads;
    this.hidden = new Set(policy.redact.types);
    this.fields = new Set(policy.redact.fields);
    const quoted = policy.redact.fields.map((field) => JSON.stringify(field).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.mayHide = quoted.length === 0 ? undefined : new RegExp(`${quoted.join('|')}|\\\\u`);
  }

  /** Whether payloads of a message type are kept. */
  keeps(type: string | undefined): boolean {
    return this.keep && (type === undefined || !this.hidden.has(type));
  }

  /** The entry as it is written: payloads (the message's, its reply's) dropped or redacted; itself when unchanged. */
  prepare(entry: AuditEntry): AuditEntry {
    const keep = this.keeps(entry.messageType);
    const prepared = this.message(entry, keep, (frame, data) => auditFrameData(entry.type, frame, data));
    const reply = entry.reply === undefined ? undefined : this.message(entry.reply, keep, auditReplyData);
    if (prepared === entry && reply === entry.reply) return entry;
    return reply === undefined ? prepared : { ...prepared, reply };
  }

  /** A message's `frame` kept, dropped, or parsed and redacted into `data.payload`; a `data.payload` redacted. */
  private message<M extends { data?: Record<string, unknown>; frame?: string }>(
    message: M,
    keep: boolean,
    read: (frame: string, data: Record<string, unknown> | undefined) => Record<string, unknown>,
  ): M {
    const frame = message.frame;
    if (frame !== undefined) {
      // The common case first, with no copy: a frame kept as it is (the copy below, made for every frame,
      // was a sixth of the writer thread's JavaScript time per record).
      if (keep && (this.mayHide === undefined || !this.mayHide.test(frame))) return message;
      const { frame: _, ...rest } = message;
      if (!keep) return rest as M;
      const data = read(frame, message.data);
      if ('payload' in data) data.payload = redactValue(data.payload, this.fields);
      return { ...rest, data } as M;
    }
    const data = message.data;
    if (data === undefined || !('payload' in data)) return message;
    const rest = { ...data };
    if (keep) rest.payload = redactValue(data.payload, this.fields);
    else delete rest.payload;
    return { ...message, data: rest };
  }
}
