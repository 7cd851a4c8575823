// What every bench server child answers besides its own commands: resource usage, with a forced GC on request.
import { setTimeout as sleep } from 'node:timers/promises';

/** A server process's resource usage at one instant. */
export interface Usage {
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Monotonic milliseconds, to turn CPU deltas into utilisation. */
  atMs: number;
}

/** Reads usage; with `gc`, first collects until RSS settles (needs --expose-gc). */
export async function usage(args: { gc?: boolean }): Promise<Usage> {
  if (args.gc) {
    if (typeof globalThis.gc !== 'function') throw new Error('start the server child with --expose-gc');
    // Several rounds with pauses between: weak callbacks and freed sockets settle over a few turns.
    for (let i = 0; i < 4; i++) {
      globalThis.gc();
      await sleep(50);
    }
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    externalBytes: memory.external,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    atMs: performance.now(),
  };
}
