// The recorder: connections and an audit of every message, written to the store in batches off the message
// path; a bounded queue, a spool file while the store is away, caught up when it returns, flushed at shutdown.
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { AuditEntry, ConnectionClose, ConnectionOpen, Store } from '../store/store.ts';
import { FaultCode } from './faults.ts';
import { Payloads, type RedactOptions } from './audit-payload.ts';
import { inlineWriter, preparedJob, ThreadWriter, type Job, type RecordWriter } from './record-writer.ts';

export type { RedactOptions } from './audit-payload.ts';

/** How the recorder batches, bounds and spools. See docs/operations.md. */
export interface RecorderOptions {
  store: Store;
  /** This node's name, on every record. */
  node: string;
  log: Logger;
  /** Records written per store call. */
  batchSize: number;
  /** A record waits at most this long before it is written. */
  flushMs: number;
  /** Records held in memory at most; past it they go to the spool (or, without one, are dropped and counted). */
  maxQueue: number;
  /** The spool file (JSON lines) used while the store is unavailable or the queue is full; undefined: none. */
  spoolFile: string | undefined;
  /** Bytes the spool may grow to; past it records are dropped (counted, logged). */
  maxSpoolBytes: number;
  /** Record payloads (redacted) in `data.payload`. */
  payloads: boolean;
  /** Write from a worker thread when the store can be opened there (`Store.threaded()`). */
  thread: boolean;
  redact: RedactOptions;
}


/**
 * Records what happens. `record`, `opened` and `closed` only queue (no I/O, no serialisation): the queue is
 * written every `flushMs` or `batchSize` records. When the store fails, the queue moves to the spool file
 * and new records follow it there; the recorder retries with backoff, and once the store answers again it
 * replays the spool in order, then goes on. `close()` writes everything (or spools it).
 *
 * @example
 * const recorder = new Recorder({ store, node: 'n1', log, batchSize: 500, flushMs: 200, maxQueue: 50_000, spoolFile, maxSpoolBytes, payloads: true, redact });
 * recorder.record({ at: Date.now(), type: 'message.in', node: 'n1', connectionId, messageType: 'chat.send', size: 42 });
 */
export class Recorder {
  /** What happened to records, for the metrics. */
  readonly counts = { recorded: 0, written: 0, spooled: 0, replayed: 0, dropped: 0, failures: 0 };
  /** False while the store is failing. */
  available = true;
  private readonly options: RecorderOptions;
  private queue: Job[] = [];
  /** When each queued record was queued (`performance.now()`), in the queue's order. */
  private arrivals: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private spool: WriteStream | undefined;
  private spoolBytes = 0;
  private retryMs = 0;
  /** Lines of the spool being replayed that are in the store already (a replay that failed part-way). */
  private replayedLines = 0;
  private stopped = false;
  /** Payloads as the spool keeps them (the writer prepares its own). */
  private readonly payloads: Payloads;
  /** Where batches are written: a worker thread of the store's, or the store on this thread. */
  private readonly writer: RecordWriter;
  /** Whether drops since the last logged one are still to be logged (each episode is logged once). */
  private dropsLogged = false;

  constructor(options: RecorderOptions) {
    this.options = options;
    const policy = { payloads: options.payloads, redact: { types: [...options.redact.types], fields: [...options.redact.fields] } };
    const spec = options.thread ? options.store.threaded?.() : undefined;
    this.writer = spec !== undefined ? new ThreadWriter(spec, policy) : inlineWriter(options.store, policy);
    this.payloads = new Payloads(policy);
    // A spool left by an earlier run (the store was away when it stopped) is replayed first.
    if (options.spoolFile !== undefined && existsSync(options.spoolFile) && statSync(options.spoolFile).size > 0) {
      this.available = false;
      this.spoolBytes = statSync(options.spoolFile).size;
      this.retryMs = 1;
      this.schedule(0);
    }
  }

  /** Records waiting in memory. */
  get queued(): number {
    return this.queue.length;
  }

  /** Bytes in the spool file. */
  get spooled(): number {
    return this.spoolBytes;
  }

  opened(record: ConnectionOpen): void {
    this.push({ kind: 'open', record });
  }

  closed(id: string, close: ConnectionClose): void {
    this.push({ kind: 'close', id, close });
  }

  /**
   * Queues an audit record. `data.payload`, or the message's JSON text in `frame`, is redacted (or dropped)
   * when the record is written, off the message path.
   */
  record(entry: AuditEntry): void {
    this.counts.recorded++;
    this.push({ kind: 'audit', entry });
  }

  /** Whether payloads of a message type are kept. */
  keepsPayload(type: string): boolean {
    return this.payloads.keeps(type);
  }

  private push(job: Job): void {
    if (this.stopped) {
      // After close() began nothing more is written: counted and said, not lost silently.
      this.drop(1, 'the recorder was closing');
      return;
    }
    if (!this.available || this.queue.length >= this.options.maxQueue) {
      this.toSpool([job], this.available ? 'the queue is full' : 'the store is unavailable');
      return;
    }
    this.dropsLogged = false;
    this.queue.push(job);
    this.arrivals.push(performance.now());
    if (this.queue.length >= this.options.batchSize) this.schedule(0);
    else this.schedule(this.options.flushMs);
  }

  /** The first `count` queued records (all of them by default), taken off the queue. */
  private take(count = this.queue.length): Job[] {
    this.arrivals.splice(0, count);
    return this.queue.splice(0, count);
  }

  /**
   * Whether the queue is to be written now: a batch is full, its oldest record has waited `flushMs`, or
   * the recorder is closing. A write that ends does not start the next with what arrived meanwhile: under
   * load that wrote batches of a few dozen records back to back, each costing a transaction and a trip to
   * the writer thread, several times what full ones cost per record.
   */
  private due(): boolean {
    const queued = this.queue.length;
    return queued >= this.options.batchSize || (queued > 0 && (this.stopped || this.arrivals[0]! + this.options.flushMs <= performance.now()));
  }

  /** How long until the queue is due (0: now). */
  private dueIn(): number {
    if (this.queue.length === 0 || this.due()) return 0;
    return Math.max(1, Math.ceil(this.arrivals[0]! + this.options.flushMs - performance.now()));
  }

  private schedule(ms: number): void {
    if (this.running !== undefined) return;
    if (this.timer !== undefined) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.drain().finally(() => {
        this.running = undefined;
        if (this.queue.length > 0 || (!this.available && this.spoolBytes > 0)) this.schedule(this.available ? this.dueIn() : this.retryMs);
      });
    }, ms);
    this.timer.unref();
  }

  private write(jobs: Job[]): Promise<void> {
    return this.writer.write(jobs);
  }

  private async drain(): Promise<void> {
    if (!this.available) {
      await this.replay();
      if (!this.available) return;
    }
    while (this.due()) {
      const batch = this.take(this.options.batchSize);
      try {
        await this.write(batch);
        this.counts.written += batch.length;
      } catch (error) {
        this.fail(error);
        // Nothing is lost: what failed and what waits go to the spool, in order.
        this.toSpool([...batch, ...this.take()], 'the store is unavailable');
        return;
      }
    }
  }

  private fail(error: unknown): void {
    this.counts.failures++;
    if (this.available) {
      this.options.log.error({ err: error, code: FaultCode.storeUnavailable, spool: this.options.spoolFile }, `SB_STORE_UNAVAILABLE: the store refused a write; records go to ${this.options.spoolFile ?? 'nowhere (no spool: they are dropped)'} until it is back`);
    }
    this.available = false;
    this.retryMs = Math.min(30_000, Math.max(500, this.retryMs * 2));
  }

  private toSpool(jobs: Job[], cause: string): void {
    const file = this.options.spoolFile;
    if (file === undefined) {
      this.drop(jobs.length, cause);
      return;
    }
    if (this.spool === undefined) {
      mkdirSync(dirname(file), { recursive: true });
      this.spool = createWriteStream(file, { flags: 'a' });
      this.spool.on('error', (error) => this.options.log.error({ err: error, spool: file }, 'writing the audit spool failed'));
    }
    for (const job of jobs) {
      const line = `${JSON.stringify(preparedJob(this.payloads, job))}\n`;
      if (this.spoolBytes + line.length > this.options.maxSpoolBytes) {
        this.drop(1, cause);
        continue;
      }
      this.spoolBytes += line.length;
      this.counts.spooled++;
      this.spool.write(line);
    }
    if (!this.available) this.schedule(this.retryMs);
    else this.schedule(this.options.flushMs);
  }

  /** Drops records, counted; logged once per episode (until a record is queued again), with its cause. */
  private drop(count: number, cause: string): void {
    if (count === 0) return;
    if (!this.dropsLogged) {
      this.dropsLogged = true;
      this.options.log.error(
        { code: FaultCode.auditDropped, cause, dropped: this.counts.dropped + count },
        `SB_AUDIT_DROPPED: audit records were dropped (${cause}${cause === 'the recorder was closing' ? '' : this.options.spoolFile === undefined ? ', and there is no spool' : ', and the spool is full'})`,
      );
    }
    this.counts.dropped += count;
  }

  /** Writes the spool file to the store, in order; on success it is removed and the recorder is available again. */
  private async replay(): Promise<void> {
    const file = this.options.spoolFile;
    // Records arriving meanwhile go to a fresh spool: the one being replayed is ended (its stream creates the
    // file and writes to it asynchronously: only then is all of it there) and moved aside first.
    if (this.spool !== undefined) {
      const stream = this.spool;
      this.spool = undefined;
      await new Promise<void>((resolve) => stream.end(resolve));
    }
    // What a replay that failed part-way left aside is replayed too, even when nothing was spooled since.
    const replaying = `${file}.replaying`;
    if (file === undefined || (!existsSync(file) && !existsSync(replaying))) {
      await this.probe();
      return;
    }
    if (!existsSync(replaying)) renameSync(file, replaying);
    const bytesAside = statSync(replaying).size;
    try {
      let batch: Job[] = [];
      let line = 0;
      const lines = createInterface({ input: createReadStream(replaying, 'utf8'), crlfDelay: Infinity });
      // A replay that failed part-way resumes after the records it wrote: none is written twice.
      for await (const text of lines) {
        if (text.length === 0 || line++ < this.replayedLines) continue;
        batch.push(JSON.parse(text) as Job);
        if (batch.length >= this.options.batchSize) {
          await this.write(batch);
          this.counts.replayed += batch.length;
          this.replayedLines += batch.length;
          batch = [];
        }
      }
      await this.write(batch);
      this.counts.replayed += batch.length;
    } catch (error) {
      this.fail(error);
      return;
    }
    this.replayedLines = 0;
    rmSync(replaying, { force: true });
    this.spoolBytes = Math.max(0, this.spoolBytes - bytesAside);
    this.options.log.warn({ code: FaultCode.storeAvailable, replayed: this.counts.replayed }, 'the store is available again; the spooled records were written');
    // What was spooled while replaying is replayed next, before going back to memory.
    if (this.spool !== undefined || (existsSync(file) && statSync(file).size > 0)) return this.replay();
    this.available = true;
    this.retryMs = 0;
  }

  /** Without a spool: a cheap write tells whether the store is back. */
  private async probe(): Promise<void> {
    try {
      await this.options.store.appendAudit([]);
      this.available = true;
      this.retryMs = 0;
    } catch (error) {
      this.fail(error);
    }
  }

  /** Writes everything queued (or spools it when the store fails); waits at most `timeoutMs`. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await this.running;
      if (this.queue.length === 0 && (this.available || this.options.spoolFile === undefined)) break;
      if (!this.available) {
        await this.replay();
        if (!this.available) break;
      }
      this.running = this.drain();
      await this.running;
      this.running = undefined;
    }
    if (this.queue.length > 0) {
      this.available = false;
      this.toSpool(this.take(), 'the store did not take them before shutdown');
    }
    clearTimeout(this.timer);
    if (this.spool !== undefined) {
      const stream = this.spool;
      this.spool = undefined;
      await new Promise<void>((resolve) => stream.end(resolve));
    }
    await this.writer.close();
  }
}
