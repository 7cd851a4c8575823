// Where the recorder's batches are written: on this thread, or — when the store can be opened in another
// thread (`Store.threaded()`) — in a worker thread of its own, so that the database driver's work (SQLite's
// synchronous inserts and commits, PostgreSQL's statement building) stays off the event loop.
import { Worker } from 'node:worker_threads';
import type { AuditEntry, AuditReply, ConnectionClose, ConnectionOpen, Store, ThreadedStore } from '../store/store.ts';
import { Payloads, type PayloadPolicy } from './audit-payload.ts';

/**
 * One record for the store: a connection opened or closed, or an audit entry. An entry of a message may carry
 * the message's JSON text (`entry.frame`) instead of its payload, redacted when written (`Payloads`).
 */
export type Job = { kind: 'open'; record: ConnectionOpen } | { kind: 'close'; id: string; close: ConnectionClose } | { kind: 'audit'; entry: AuditEntry };

const AUDIT = 0;
const OPEN = 1;
const CLOSE = 2;
/**
 * An audit entry's string slots: type, node, identityId, connectionId, channel, room, resource, messageType,
 * outcome, frame, and its reply's outcome and frame.
 */
const STRING_SLOTS = 12;
/** Its number slots: at, size, recipients, and its reply's at and size. */
const NUMBER_SLOTS = 5;

/**
 * Characters per string of a batch's text at most (give or take one record's): V8 puts a string past ~128 KiB
 * in its large-object space, and building a batch's text as one such string, then copying it to the thread,
 * cost ~1.4 µs per record each way (measured: a batch of 500 round trips, 120,000 characters) against ~0.2 µs
 * for strings of this size.
 */
const TEXT_CHUNK = 16_384;

/**
 * A batch for the writer thread: the strings of its audit entries, concatenated in order into a few strings of
 * `TEXT_CHUNK` characters or so (a string never spans two), their lengths (-1: none), their numbers (NaN:
 * none), a tag per job, and the few objects (details, connection records) as they are.
 */
export interface PackedJobs {
  tags: Uint8Array;
  text: string[];
  lengths: Int32Array;
  numbers: Float64Array;
  /** Per job (sparse): a connection record, or an audit entry's `data`. */
  objects: unknown[];
  /** Per job (sparse): the `data` of an audit entry's reply. */
  replies: unknown[];
}

/** A batch's text as it is built: the strings so far, and the one being added to. */
class TextBuilder {
  readonly chunks: string[] = [];
  private chunk = '';

  /** Appends a string slot: its length, and its text (a missing one is -1 and no text). */
  put(lengths: Int32Array, slot: number, value: string | undefined): void {
    if (value === undefined) lengths[slot] = -1;
    else {
      lengths[slot] = value.length;
      this.chunk += value;
    }
  }

  /** Ends the current string once it is long enough (between records only: a string never spans two). */
  cut(force = false): void {
    if (this.chunk.length >= TEXT_CHUNK || (force && this.chunk.length > 0)) {
      this.chunks.push(this.chunk);
      this.chunk = '';
    }
  }
}

/**
 * Packs a batch to cross to the writer thread. Copying thousands of small strings and objects there (the
 * structured clone of `postMessage`) cost the event loop ~1 µs per record, more than all else the audit does
 * on it; one string and three typed arrays (moved, not copied) cost a fraction of that. Every field is named
 * in the code rather than looked up by a list of names: keyed access by a name that varies made packing and
 * unpacking a batch cost ~2 µs per record, most of what the writer thread spent outside the database.
 */
export function packJobs(jobs: readonly Job[]): PackedJobs {
  const tags = new Uint8Array(jobs.length);
  const lengths = new Int32Array(jobs.length * STRING_SLOTS);
  const numbers = new Float64Array(jobs.length * NUMBER_SLOTS).fill(Number.NaN);
  const objects: unknown[] = [];
  const replies: unknown[] = [];
  const text = new TextBuilder();
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    if (job.kind === 'open') {
      tags[i] = OPEN;
      objects[i] = job.record;
      continue;
    }
    if (job.kind === 'close') {
      tags[i] = CLOSE;
      objects[i] = { id: job.id, close: job.close };
      continue;
    }
    tags[i] = AUDIT;
    const entry = job.entry;
    const s = i * STRING_SLOTS;
    text.put(lengths, s, entry.type);
    text.put(lengths, s + 1, entry.node);
    text.put(lengths, s + 2, entry.identityId);
    text.put(lengths, s + 3, entry.connectionId);
    text.put(lengths, s + 4, entry.channel);
    text.put(lengths, s + 5, entry.room);
    text.put(lengths, s + 6, entry.resource);
    text.put(lengths, s + 7, entry.messageType);
    text.put(lengths, s + 8, entry.outcome);
    text.put(lengths, s + 9, entry.frame);
    const reply = entry.reply;
    text.put(lengths, s + 10, reply?.outcome);
    text.put(lengths, s + 11, reply?.frame);
    text.cut();
    const n = i * NUMBER_SLOTS;
    numbers[n] = entry.at;
    if (entry.size !== undefined) numbers[n + 1] = entry.size;
    if (entry.recipients !== undefined) numbers[n + 2] = entry.recipients;
    if (reply !== undefined) {
      numbers[n + 3] = reply.at;
      numbers[n + 4] = reply.size;
      if (reply.data !== undefined) replies[i] = reply.data;
    }
    if (entry.data !== undefined) objects[i] = entry.data;
  }
  text.cut(true);
  return { tags, text: text.chunks, lengths, numbers, objects, replies };
}

/** Reads the string slots of a `packJobs` batch in order. */
class StringSlots {
  private chunk = 0;
  private offset = 0;
  /** The string being read: `text[chunk]`. */
  private current: string;
  private readonly text: readonly string[];
  private readonly lengths: Int32Array;

  constructor(text: readonly string[], lengths: Int32Array) {
    this.text = text;
    this.lengths = lengths;
    this.current = text[0] ?? '';
  }

  /** Moves to the next string once the current one is used up; called before each record (none spans two). */
  record(): void {
    while (this.offset >= this.current.length && this.chunk < this.text.length - 1) {
      this.current = this.text[++this.chunk]!;
      this.offset = 0;
    }
  }

  next(slot: number): string | undefined {
    const length = this.lengths[slot]!;
    if (length < 0) return undefined;
    const value = this.current.slice(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }
}

/** The jobs of a `packJobs` batch, in order. */
export function unpackJobs(packed: PackedJobs): Job[] {
  const { tags, lengths, numbers, objects, replies } = packed;
  const strings = new StringSlots(packed.text, lengths);
  const jobs: Job[] = [];
  for (let i = 0; i < tags.length; i++) {
    if (tags[i] === OPEN) {
      jobs.push({ kind: 'open', record: objects[i] as ConnectionOpen });
      continue;
    }
    if (tags[i] === CLOSE) {
      const { id, close } = objects[i] as { id: string; close: ConnectionClose };
      jobs.push({ kind: 'close', id, close });
      continue;
    }
    const s = i * STRING_SLOTS;
    const n = i * NUMBER_SLOTS;
    strings.record();
    const entry: AuditEntry = { at: numbers[n]!, type: strings.next(s)!, node: strings.next(s + 1)! };
    const identityId = strings.next(s + 2);
    if (identityId !== undefined) entry.identityId = identityId;
    const connectionId = strings.next(s + 3);
    if (connectionId !== undefined) entry.connectionId = connectionId;
    const channel = strings.next(s + 4);
    if (channel !== undefined) entry.channel = channel;
    const room = strings.next(s + 5);
    if (room !== undefined) entry.room = room;
    const resource = strings.next(s + 6);
    if (resource !== undefined) entry.resource = resource;
    const messageType = strings.next(s + 7);
    if (messageType !== undefined) entry.messageType = messageType;
    const outcome = strings.next(s + 8);
    if (outcome !== undefined) entry.outcome = outcome;
    const frame = strings.next(s + 9);
    if (frame !== undefined) entry.frame = frame;
    const replyOutcome = strings.next(s + 10);
    const replyFrame = strings.next(s + 11);
    if (!Number.isNaN(numbers[n + 1]!)) entry.size = numbers[n + 1]!;
    if (!Number.isNaN(numbers[n + 2]!)) entry.recipients = numbers[n + 2]!;
    if (objects[i] !== undefined) entry.data = objects[i] as Record<string, unknown>;
    if (!Number.isNaN(numbers[n + 3]!)) {
      const reply: AuditReply = { at: numbers[n + 3]!, size: numbers[n + 4]!, outcome: replyOutcome! };
      if (replyFrame !== undefined) reply.frame = replyFrame;
      if (replies[i] !== undefined) reply.data = replies[i] as Record<string, unknown>;
      entry.reply = reply;
    }
    jobs.push({ kind: 'audit', entry });
  }
  return jobs;
}

/** A connection already stored (a replayed spool that was half written before): not an outage. */
function skipDuplicate(error: unknown): void {
  if (/already stored|duplicate|UNIQUE/i.test((error as Error)?.message ?? '')) return;
  throw error;
}

/**
 * Writes a batch in order: runs of audit entries as one `appendAudit`, connection records one by one.
 * Rejects with the store's error at the first write that fails.
 */
export async function writeJobs(store: Store, jobs: readonly Job[]): Promise<void> {
  let audits: AuditEntry[] = [];
  const flushAudits = async (): Promise<void> => {
    if (audits.length === 0) return;
    await store.appendAudit(audits);
    audits = [];
  };
  for (const job of jobs) {
    if (job.kind === 'audit') {
      audits.push(job.entry);
      continue;
    }
    await flushAudits();
    if (job.kind === 'open') await store.connectionOpened(job.record).catch(skipDuplicate);
    else await store.connectionClosed(job.id, job.close);
  }
  await flushAudits();
}

/** Writes batches somewhere; `close` releases what it holds. */
export interface RecordWriter {
  write(jobs: readonly Job[]): Promise<void>;
  close(): Promise<void>;
}

/** How much lower than the process's the writer thread's priority is (its nice value, on Linux; 19 at most). */
export const WRITER_NICENESS = 10;

/** What the writer thread is started with. */
export interface RecordWorkerData {
  store: ThreadedStore;
  policy: PayloadPolicy;
}

/** Messages between the writer and its worker. */
export type ToRecordWorker = { t: 'write'; seq: number; packed: PackedJobs } | { t: 'close'; seq: number };
export type FromRecordWorker = { t: 'done'; seq: number } | { t: 'failed'; seq: number; message: string };

/** A job as it is written: an audit entry's payloads dropped or redacted (`Payloads.prepare`); itself when unchanged. */
export function preparedJob(payloads: Payloads, job: Job): Job {
  if (job.kind !== 'audit') return job;
  const entry = payloads.prepare(job.entry);
  return entry === job.entry ? job : { kind: 'audit', entry };
}

/** On this thread: the store itself, payloads prepared here. */
export function inlineWriter(store: Store, policy: PayloadPolicy): RecordWriter {
  const payloads = new Payloads(policy);
  return { write: (jobs) => writeJobs(store, jobs.map((job) => preparedJob(payloads, job))), close: async () => {} };
}

/**
 * In a worker thread that opens the same store (`store`) and writes each batch there, payloads prepared there.
 * A write the store refuses rejects with its message; a worker that dies rejects what was pending, and the next write starts
 * a new one — the recorder treats both as the store being unavailable (spool, retry).
 */
export class ThreadWriter implements RecordWriter {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private readonly data: RecordWorkerData;

  constructor(store: ThreadedStore, policy: PayloadPolicy) {
    this.data = { store, policy };
  }

  write(jobs: readonly Job[]): Promise<void> {
    return this.call({ t: 'write', seq: ++this.seq, packed: packJobs(jobs) });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    await this.call({ t: 'close', seq: ++this.seq }).catch(() => undefined);
    this.worker = undefined;
    await worker.terminate();
  }

  private call(message: ToRecordWorker): Promise<void> {
    const worker = this.start();
    // Referenced while a write is pending (a shutdown's last flush must finish), unreferenced when idle.
    worker.ref();
    return new Promise<void>((resolve, reject) => {
      this.pending.set(message.seq, { resolve, reject });
      // A batch's typed arrays move to the worker rather than being copied.
      worker.postMessage(message, message.t === 'write' ? [message.packed.tags, message.packed.lengths, message.packed.numbers].map((array) => array.buffer as ArrayBuffer) : []);
    });
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL('./record-worker.ts', import.meta.url), { workerData: this.data });
    worker.on('message', (message: FromRecordWorker) => {
      const waiter = this.pending.get(message.seq);
      if (waiter === undefined) return;
      this.pending.delete(message.seq);
      if (this.pending.size === 0) worker.unref();
      if (message.t === 'done') waiter.resolve();
      else waiter.reject(new Error(message.message));
    });
    const fail = (error: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the record writer thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}
