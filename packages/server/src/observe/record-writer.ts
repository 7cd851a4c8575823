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
/** An audit entry's string fields, in their slots' order (`reply…`: its reply's). */
const STRINGS = ['type', 'node', 'identityId', 'connectionId', 'channel', 'room', 'resource', 'messageType', 'outcome', 'frame', 'replyOutcome', 'replyFrame'] as const;
/** Its number fields. */
const NUMBERS = ['at', 'size', 'recipients', 'replyAt', 'replySize'] as const;

/**
 * A batch for the writer thread: the strings of its audit entries as one string and their lengths (-1: none),
 * their numbers (NaN: none), a tag per job, and the few objects (details, connection records) as they are.
 */
export interface PackedJobs {
  tags: Uint8Array;
  text: string;
  lengths: Int32Array;
  numbers: Float64Array;
  /** Per job (sparse): a connection record, or an audit entry's `data`. */
  objects: unknown[];
  /** Per job (sparse): the `data` of an audit entry's reply. */
  replies: unknown[];
}

/** An audit entry's fields by slot name: the entry's own, and its reply's as `reply…`. */
function slot(entry: AuditEntry, name: (typeof STRINGS)[number] | (typeof NUMBERS)[number]): string | number | undefined {
  if (name === 'replyOutcome') return entry.reply?.outcome;
  if (name === 'replyFrame') return entry.reply?.frame;
  if (name === 'replyAt') return entry.reply?.at;
  if (name === 'replySize') return entry.reply?.size;
  return entry[name];
}

/**
 * Packs a batch to cross to the writer thread. Copying thousands of small strings and objects there (the
 * structured clone of `postMessage`) cost the event loop ~1 µs per record, more than all else the audit does
 * on it; one string and three typed arrays (moved, not copied) cost a fraction of that.
 */
export function packJobs(jobs: readonly Job[]): PackedJobs {
  const tags = new Uint8Array(jobs.length);
  const lengths = new Int32Array(jobs.length * STRINGS.length);
  const numbers = new Float64Array(jobs.length * NUMBERS.length);
  const objects: unknown[] = [];
  const replies: unknown[] = [];
  const parts: string[] = [];
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    if (job.kind === 'open') {
      tags[i] = OPEN;
      objects[i] = job.record;
    } else if (job.kind === 'close') {
      tags[i] = CLOSE;
      objects[i] = { id: job.id, close: job.close };
    } else {
      tags[i] = AUDIT;
      const entry = job.entry;
      for (let k = 0; k < STRINGS.length; k++) {
        const value = slot(entry, STRINGS[k]!) as string | undefined;
        if (value === undefined) lengths[i * STRINGS.length + k] = -1;
        else {
          lengths[i * STRINGS.length + k] = value.length;
          parts.push(value);
        }
      }
      for (let k = 0; k < NUMBERS.length; k++) numbers[i * NUMBERS.length + k] = (slot(entry, NUMBERS[k]!) as number | undefined) ?? Number.NaN;
      if (entry.data !== undefined) objects[i] = entry.data;
      if (entry.reply?.data !== undefined) replies[i] = entry.reply.data;
    }
  }
  return { tags, text: parts.join(''), lengths, numbers, objects, replies };
}

/** The jobs of a `packJobs` batch, in order. */
export function unpackJobs(packed: PackedJobs): Job[] {
  const { tags, text, lengths, numbers, objects, replies } = packed;
  const jobs: Job[] = [];
  let offset = 0;
  for (let i = 0; i < tags.length; i++) {
    if (tags[i] === OPEN) jobs.push({ kind: 'open', record: objects[i] as ConnectionOpen });
    else if (tags[i] === CLOSE) {
      const { id, close } = objects[i] as { id: string; close: ConnectionClose };
      jobs.push({ kind: 'close', id, close });
    } else {
      const fields: Record<string, unknown> = {};
      for (let k = 0; k < NUMBERS.length; k++) {
        const value = numbers[i * NUMBERS.length + k]!;
        if (!Number.isNaN(value)) fields[NUMBERS[k]!] = value;
      }
      for (let k = 0; k < STRINGS.length; k++) {
        const length = lengths[i * STRINGS.length + k]!;
        if (length < 0) continue;
        fields[STRINGS[k]!] = text.slice(offset, offset + length);
        offset += length;
      }
      const { replyAt, replySize, replyOutcome, replyFrame, ...own } = fields;
      const entry = own as unknown as AuditEntry;
      if (objects[i] !== undefined) entry.data = objects[i] as Record<string, unknown>;
      if (replyAt !== undefined) {
        const reply: AuditReply = { at: replyAt as number, size: replySize as number, outcome: replyOutcome as string };
        if (replyFrame !== undefined) reply.frame = replyFrame as string;
        if (replies[i] !== undefined) reply.data = replies[i] as Record<string, unknown>;
        entry.reply = reply;
      }
      jobs.push({ kind: 'audit', entry });
    }
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

/** What the writer thread is started with. */
export interface RecordWorkerData {
  store: ThreadedStore;
  policy: PayloadPolicy;
}

/** Messages between the writer and its worker. */
export type ToRecordWorker = { t: 'write'; seq: number; packed: PackedJobs } | { t: 'close'; seq: number };
export type FromRecordWorker = { t: 'done'; seq: number } | { t: 'failed'; seq: number; message: string };

/** On this thread: the store itself, payloads prepared here. */
export function inlineWriter(store: Store, policy: PayloadPolicy): RecordWriter {
  const payloads = new Payloads(policy);
  return { write: (jobs) => writeJobs(store, jobs.map((job) => payloads.prepare(job))), close: async () => {} };
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
