// The agent's ledger of worker nodes whose connection records may still be open in the store: a worker that
// died (SIGKILL, out of memory, a crash) never closed its records, and its node name (it holds the pid) is never
// reused, so the records stay open unless a later worker closes them. The agent hands them to the next worker
// it forks, which closes them in the store at start-up (createServer's `staleNodes`).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The environment variable that carries the nodes a worker closes at start-up (a JSON array of node names). */
export const STALE_NODES_ENV = 'SWITCHBOARD_STALE_NODES';

/** The nodes named in `STALE_NODES_ENV`, or none when it is unset or not a JSON array of strings. */
export function staleNodesOf(env: NodeJS.ProcessEnv = process.env): string[] {
  return nodeList(env[STALE_NODES_ENV]);
}

/**
 * Which nodes may have open records: the running workers' (until they exit cleanly) and the dead ones' (until a
 * worker that was told to close them listens). With a `file`, the ledger survives the agent: an agent that was
 * killed with its workers (a kill of the process group, a reboot) hands them all to the next run's workers.
 *
 * @example
 * const ledger = new NodeLedger('data/agent-nodes.json');
 * ledger.started('build-7/w0-4711');
 * ledger.exited('build-7/w0-4711', false); // it died: its records are left open
 * ledger.stale();                          // ['build-7/w0-4711'], for the replacement to close
 */
export class NodeLedger {
  private readonly running = new Set<string>();
  private readonly dead = new Set<string>();
  private readonly file: string | undefined;
  private readonly onError: (error: Error) => void;

  /** `onError` hears a ledger that could not be written (a full disk): the agent goes on, the file lags. */
  constructor(file?: string, onError: (error: Error) => void = () => {}) {
    this.file = file;
    this.onError = onError;
    if (file === undefined) return;
    // Every node of an earlier run is dead by now: its agent is (the pid file says so) and workers exit with it.
    for (const node of nodeList(readIfThere(file))) this.dead.add(node);
  }

  /** The dead nodes whose records nobody closed yet. */
  stale(): string[] {
    return [...this.dead];
  }

  started(node: string): void {
    this.running.add(node);
    this.save();
  }

  /** A worker exited: `clean` (exit code 0, no signal) when it closed its records itself. */
  exited(node: string, clean: boolean): void {
    this.running.delete(node);
    if (!clean) this.dead.add(node);
    this.save();
  }

  /** A worker that was given `nodes` listens: it has closed their records. */
  swept(nodes: readonly string[]): void {
    if (nodes.length === 0) return;
    for (const node of nodes) this.dead.delete(node);
    this.save();
  }

  private save(): void {
    if (this.file === undefined) return;
    const nodes = [...this.running, ...this.dead];
    try {
      if (nodes.length === 0) {
        rmSync(this.file, { force: true });
        return;
      }
      // Written aside, then renamed: a kill mid-write leaves the previous ledger, never half of one.
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(`${this.file}.tmp`, `${JSON.stringify(nodes)}\n`);
      renameSync(`${this.file}.tmp`, this.file);
    } catch (error) {
      // The ledger only helps a later run close records: it never stops this one from supervising its workers.
      this.onError(error as Error);
    }
  }
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A JSON array's node names; none when `text` is missing or not such an array (a hand-edited file, say). */
function nodeList(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  try {
    const nodes: unknown = JSON.parse(text);
    return Array.isArray(nodes) ? nodes.filter((node): node is string => typeof node === 'string' && node !== '') : [];
  } catch {
    return [];
  }
}
