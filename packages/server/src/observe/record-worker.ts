// The recorder's writer thread: opens the store it is told (`Store.threaded()`), prepares the payloads of each
// batch it gets (a frame kept, or parsed and redacted), writes it, in order, and answers done or failed.
// The main thread's store keeps serving queries, migrations and grants.
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { Store } from '../store/store.ts';
import { Payloads } from './audit-payload.ts';
import { preparedJob, unpackJobs, writeJobs, WRITER_NICENESS, type FromRecordWorker, type RecordWorkerData, type ToRecordWorker } from './record-writer.ts';

// Writing the audit is background work: this thread yields the CPU to the event loop (and to everything else
// the machine runs at the normal priority) and takes what is left. When it was as eager as the event loop,
// each batch handed over woke it straight onto the loop's core, and on a busy machine every microsecond it
// spent writing was one the message path waited (docs/performance.md, finding 8). The queue is bounded and
// spooled, so a writer that falls behind loses nothing silently. On Linux a nice value is a thread's own
// (setpriority on the calling thread, pid 0); elsewhere it is the process's, so it is left alone there.
if (process.platform === 'linux') {
  try {
    setPriority(0, Math.min(19, getPriority(0) + WRITER_NICENESS));
  } catch {
    // Not permitted (a sandbox): the thread runs at the process's priority, as it would elsewhere.
  }
}

const { store: spec, policy } = workerData as RecordWorkerData;
const payloads = new Payloads(policy);
const port = parentPort!;
const module = (await import(spec.module)) as Record<string, new (options: unknown) => Store>;
const StoreClass = module[spec.name];
if (typeof StoreClass !== 'function') throw new Error(`${spec.module} has no store class "${spec.name}"`);
const store = new StoreClass(spec.options);

// One batch at a time, in the order they came: the recorder sends the next only after this one answered.
let tail: Promise<void> = Promise.resolve();
port.on('message', (message: ToRecordWorker) => {
  tail = tail.then(async () => {
    let answer: FromRecordWorker;
    try {
      if (message.t === 'write') await writeJobs(store, unpackJobs(message.packed).map((job) => preparedJob(payloads, job)));
      else await store.close();
      answer = { t: 'done', seq: message.seq };
    } catch (error) {
      answer = { t: 'failed', seq: message.seq, message: (error as Error)?.message ?? String(error) };
    }
    port.postMessage(answer);
  });
});
