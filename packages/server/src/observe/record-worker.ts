// The recorder's writer thread: opens the store it is told (`Store.threaded()`), prepares the payloads of each
// batch it gets (a frame kept, or parsed and redacted), writes it, in order, and answers done or failed.
// The main thread's store keeps serving queries, migrations and grants.
import { parentPort, workerData } from 'node:worker_threads';
import type { Store } from '../store/store.ts';
import { Payloads } from './audit-payload.ts';
import { unpackJobs, writeJobs, type FromRecordWorker, type RecordWorkerData, type ToRecordWorker } from './record-writer.ts';

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
      if (message.t === 'write') await writeJobs(store, unpackJobs(message.packed).map((job) => payloads.prepare(job)));
      else await store.close();
      answer = { t: 'done', seq: message.seq };
    } catch (error) {
      answer = { t: 'failed', seq: message.seq, message: (error as Error)?.message ?? String(error) };
    }
    port.postMessage(answer);
  });
});
