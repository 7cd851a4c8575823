// The thread engine: a room instance's code in a worker thread of its own, watched by a heartbeat and bounded
// in memory, so an endless loop or a memory blow-up ends that thread (and the instance restarts) while the
// server's own thread goes on serving every other room and connection.
import { Worker } from 'node:worker_threads';
import { ErrorCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { MessageError } from '../errors.ts';
import type { Room, ThreadLimits } from './define.ts';
import type { EngineSink, EngineStart, MemberSnapshot, RoomEngine } from './engine.ts';

/** The documented defaults of `ThreadLimits`. */
export const THREAD_DEFAULTS = { heartbeatMs: 250, deadlineMs: 2_000, maxOldGenerationSizeMb: 64 } as const;

/** A worker has this long to import the plug's module and say it is ready. */
export const THREAD_START_TIMEOUT_MS = 15_000;

/** What a worker is started with (`workerData`). */
export interface WorkerStart {
  module: string;
  version: string;
  kind: string;
  id: string;
  taskTimeoutMs: number;
  checkPushes: boolean;
}

/** Messages from the worker. */
export type FromWorker =
  | { t: 'pong'; n: number }
  | { t: 'reply'; seq: number; ok: true; value: unknown }
  | { t: 'reply'; seq: number; ok: false; error: { code: string; message: string; details?: Record<string, unknown>; plain: boolean } }
  | { t: 'commit'; patch: unknown[]; views: Record<string, unknown> | undefined }
  | { t: 'send'; member: string; type: string; data: unknown }
  | { t: 'broadcast'; type: string; data: unknown; except: string | undefined }
  | { t: 'fault'; message: string; stack?: string }
  | { t: 'close'; message: string | undefined }
  | { t: 'remove'; member: string; message: string | undefined };

/** Messages to the worker. */
export type ToWorker = { t: 'ping'; n: number } | { t: 'call'; seq: number; op: string; args: unknown[] } | { t: 'presence'; member: string; connectionId: string | undefined };

export interface ThreadEngineOptions {
  module: string;
  version: string;
  kind: string;
  id: string;
  sink: EngineSink;
  taskTimeoutMs: number;
  checkPushes: boolean;
  limits: ThreadLimits;
  log: Logger;
}

// The worker's entry: the .ts source when running from source (type stripping), the compiled .js in a package.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './room-worker.ts' : './room-worker.js', import.meta.url);

/** A room engine in a worker thread. Calls go to the worker in order; its mailbox runs them one at a time. */
export class ThreadEngine implements RoomEngine {
  private readonly worker: Worker;
  private readonly sink: EngineSink;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
  private nextSeq = 1;
  private stopped = false;
  private readonly heartbeat: NodeJS.Timeout;
  private lastPong = performance.now();
  /** Set at the worker's first pong, once it imported the plug's module: the watchdog's deadline applies from then. */
  private ready = false;
  private pings = 0;
  private readonly log: Logger;
  private readonly id: string;

  constructor(options: ThreadEngineOptions) {
    this.sink = options.sink;
    this.log = options.log;
    this.id = options.id;
    const limits = { ...THREAD_DEFAULTS, ...options.limits };
    const workerData: WorkerStart = { module: options.module, version: options.version, kind: options.kind, id: options.id, taskTimeoutMs: options.taskTimeoutMs, checkPushes: options.checkPushes };
    this.worker = new Worker(WORKER_URL, { workerData, resourceLimits: { maxOldGenerationSizeMb: limits.maxOldGenerationSizeMb }, stdout: false, stderr: false });
    this.worker.unref();
    this.worker.on('message', (message: FromWorker) => this.onMessage(message));
    this.worker.on('error', (error: Error) => {
      const oom = (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.fail(oom ? new Error(`the room's thread ran out of memory (over ${limits.maxOldGenerationSizeMb} MB)`, { cause: error }) : error);
    });
    this.worker.on('exit', (code) => this.fail(new Error(`the room's thread exited (${code})`)));
    // The watchdog: a worker whose event loop is blocked (an endless loop) answers no ping.
    const startedAt = performance.now();
    this.heartbeat = setInterval(() => {
      if (!this.ready) {
        if (performance.now() - startedAt > THREAD_START_TIMEOUT_MS) this.fail(new Error(`the room's thread did not start within ${THREAD_START_TIMEOUT_MS} ms`));
        return;
      }
      if (performance.now() - this.lastPong > limits.deadlineMs) {
        return this.fail(new Error(`the room's thread did not answer for ${limits.deadlineMs} ms (an endless loop?); it was ended`));
      }
      this.post({ t: 'ping', n: ++this.pings });
    }, limits.heartbeatMs);
    this.heartbeat.unref();
  }

  private post(message: ToWorker): void {
    if (!this.stopped) this.worker.postMessage(message);
  }

  private call(op: string, ...args: unknown[]): Promise<unknown> {
    if (this.stopped) return Promise.reject(new MessageError(ErrorCode.unknownRoom, 'the room has ended'));
    const seq = this.nextSeq++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.post({ t: 'call', seq, op, args });
    });
  }

  private onMessage(message: FromWorker): void {
    if (this.stopped) return;
    switch (message.t) {
      case 'pong':
        this.lastPong = performance.now();
        this.ready = true;
        return;
      case 'reply': {
        const waiter = this.pending.get(message.seq);
        if (waiter === undefined) return;
        this.pending.delete(message.seq);
        if (message.ok) return waiter.resolve(message.value);
        const { code, message: text, details, plain } = message.error;
        // A plain Error stays one (the pipeline logs it and answers handler_error); a MessageError keeps its code.
        waiter.reject(plain ? new Error(text) : new MessageError(code, text, details));
        return;
      }
      case 'commit':
        return this.sink.commit(message.patch as never, message.views);
      case 'send':
        return this.sink.send(message.member, message.type, message.data);
      case 'broadcast':
        return this.sink.broadcast(message.type, message.data, message.except);
      case 'fault': {
        const error = new Error(message.message);
        if (message.stack) error.stack = message.stack;
        return this.sink.fault(error);
      }
      case 'close':
        return this.sink.close(message.message);
      case 'remove':
        return this.sink.remove(message.member, message.message);
    }
  }

  /** The thread failed (or stopped answering): it is ended, its calls fail, the instance restarts. */
  private fail(error: Error): void {
    if (this.stopped) return;
    this.log.warn({ err: error, room: this.id }, "a room's thread failed");
    this.stop();
    this.sink.fault(error);
  }

  start(from: EngineStart): Promise<unknown> {
    return this.call('start', from);
  }

  async join(member: MemberSnapshot, rejoined: boolean): Promise<unknown> {
    return this.call('join', member, rejoined);
  }

  async leave(memberId: string): Promise<void> {
    await this.call('leave', memberId);
  }

  presence(memberId: string, connectionId: string | undefined): void {
    this.post({ t: 'presence', member: memberId, connectionId });
  }

  message(memberId: string, type: string, data: unknown): Promise<unknown> {
    return this.call('message', memberId, type, data);
  }

  /** The worker imports the new version of the plug's module itself; only the versions cross. */
  async upgrade(_definition: Room, from: string, to: string): Promise<void> {
    await this.call('upgrade', from, to);
  }

  async dispose(): Promise<void> {
    await this.call('dispose').catch(() => undefined);
    this.stop();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeat);
    void this.worker.terminate();
    for (const waiter of this.pending.values()) waiter.reject(new MessageError(ErrorCode.handlerError, "the room's thread stopped before it answered; the room restarts"));
    this.pending.clear();
  }
}
