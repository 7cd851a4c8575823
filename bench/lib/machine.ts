// Machine-wide CPU use from /proc/stat: it includes the kernel's loopback (softirq) work that no process is billed
// for, and other people's processes, neither of which per-process figures show.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** Cumulative jiffies at one instant; undefined where /proc/stat does not exist. */
export interface CpuSample {
  busy: number;
  softirq: number;
  steal: number;
  total: number;
}

export function sampleCpu(): CpuSample | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal …
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    return { busy: total - idle - iowait, softirq, steal, total };
  } catch {
    return undefined;
  }
}

// /proc/<pid>/stat counts in clock ticks; Linux has used 100 per second on every common architecture for decades.
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, microseconds) of another process, read from /proc without asking it: a server whose
 * event loop is seconds behind still answers. Undefined where /proc does not exist.
 */
export function processCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  return statCpuUs(`/proc/${pid}/stat`);
}

/**
 * CPU time (user + system, µs) of one thread of a process, from /proc/<pid>/task/<tid>/stat; the main thread's
 * id is the process's. undefined when it cannot be read (not Linux, the process gone).
 */
export function threadCpuUs(pid: number | undefined, tid: number | undefined = pid): number | undefined {
  if (pid === undefined || tid === undefined) return undefined;
  return statCpuUs(`/proc/${pid}/task/${tid}/stat`);
}

/** How often a thread was preempted (`nonvoluntary_ctxt_switches`, /proc/<pid>/task/<tid>/status); undefined off Linux. */
export function threadPreemptions(pid: number | undefined, tid: number | undefined = pid): number | undefined {
  if (pid === undefined || tid === undefined) return undefined;
  try {
    const match = /^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function statCpuUs(file: string): number | undefined {
  try {
    const stat = readFileSync(file, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Machine CPU use between two samples, in % of ONE core (so 2 fully busy cores read 200%). */
export interface CpuUse {
  busyPercent: number;
  softirqPercent: number;
  stealPercent: number;
  /** The bench's own processes (servers, generators, this one), when known. */
  benchPercent?: number;
  /** What is left: other people's processes. Above ~20% the window's figures are disturbed. */
  otherPercent?: number;
}

export function cpuBetween(before: CpuSample | undefined, after: CpuSample | undefined): CpuUse | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  const scale = (100 * cpus().length) / (after.total - before.total);
  return {
    busyPercent: (after.busy - before.busy) * scale,
    softirqPercent: (after.softirq - before.softirq) * scale,
    stealPercent: (after.steal - before.steal) * scale,
  };
}

function benchCpuUs(pids: (number | undefined)[]): number {
  const own = process.cpuUsage();
  return pids.reduce<number>((sum, pid) => sum + (processCpuUs(pid) ?? 0), own.user + own.system);
}

/**
 * A measuring window over the machine and the bench's processes: at its end, how busy the machine was and how much
 * of that was someone else.
 *
 * @example
 * const window = CpuWindow.start([server.pid, generator.pid]);
 * // … measure …
 * describeCpu(window.end()) // 'machine 190% of 200% (softirq 30%, other processes 4%)'
 */
export class CpuWindow {
  private readonly pids: (number | undefined)[];
  private readonly machine: CpuSample | undefined;
  private readonly benchUs: number;
  private readonly startedMs = performance.now();

  private constructor(pids: (number | undefined)[]) {
    this.pids = pids;
    this.machine = sampleCpu();
    this.benchUs = benchCpuUs(pids);
  }

  static start(pids: (number | undefined)[]): CpuWindow {
    return new CpuWindow(pids);
  }

  end(): CpuUse | undefined {
    const use = cpuBetween(this.machine, sampleCpu());
    if (!use) return undefined;
    const benchPercent = (100 * (benchCpuUs(this.pids) - this.benchUs)) / 1000 / Math.max(1, performance.now() - this.startedMs);
    return { ...use, benchPercent, otherPercent: Math.max(0, use.busyPercent - use.softirqPercent - benchPercent) };
  }
}

/** How busy the machine is with nothing of the bench running, over `ms`. */
export async function backgroundLoad(ms = 1_000): Promise<CpuUse | undefined> {
  const before = sampleCpu();
  await sleep(ms);
  return cpuBetween(before, sampleCpu());
}

export function describeCpu(use: CpuUse | undefined): string {
  if (!use) return 'machine CPU n/a';
  const other = use.otherPercent === undefined ? '' : `, other processes ${use.otherPercent.toFixed(0)}%`;
  return `machine ${use.busyPercent.toFixed(0)}% of ${cpus().length * 100}% (softirq ${use.softirqPercent.toFixed(0)}%${other})`;
}
