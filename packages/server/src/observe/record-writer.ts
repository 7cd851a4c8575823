// Where the recorder's batches are written: on this thread, or — when the store can be opened in another
// thread (`Store.threaded()`) — in a worker thread of its own, so that the database driver's work (SQLite's
// synchronous inserts and commits, PostgreSQL's statement building) stays off the event loop.
import { Worker } from 'node:worker_threads';
import type { AuditEntry, ConnectionClose, ConnectionOpen, Store, ThreadedStore } from '../store/store.ts';

/** One record for the store: a connection opened or closed, or an audit entry. */
export type Job = { kind: 'open'; record: ConnectionOpen } | { kind: 'close'; id: string; close: ConnectionClose } | { kind: 'audit'; entry: AuditEntry };

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

/** Messages between the writer and its worker. */
export type ToRecordWorker = { t: 'write'; seq: number; jobs: readonly Job[] } | { t: 'close'; seq: number };
export type FromRecordWorker = { t: 'done'; seq: number } | { t: 'failed'; seq: number; message: string };

/** On this thread: the store itself. */
export function inlineWriter(store: Store): RecordWriter {
  return { write: (jobs) => writeJobs(store, jobs), close: async () => {} };
}

/**
 * In a worker thread that opens the same store (`spec`) and writes each batch there. A write the store
 * refuses rejects with its message; a worker that dies rejects what was pending, and the next write starts
 * a new one — the recorder treats both as the store being unavailable (spool, retry).
 */
export class ThreadWriter implements RecordWriter {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private readonly spec: ThreadedStore;

  constructor(spec: ThreadedStore) {
    this.spec = spec;
  }

  write(jobs: readonly Job[]): Promise<void> {
    return this.call({ t: 'write', seq: ++this.seq, jobs });
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
      worker.postMessage(message);
    });
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL('./record-worker.ts', import.meta.url), { workerData: this.spec });
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
