// IPC between bench/run.ts and its child processes: numbered requests over the fork channel, one reply each.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Request {
  id: number;
  cmd: string;
  args: unknown;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** The first message a child sends: it is listening (servers) or ready for commands (generators). */
interface Ready {
  ready: Record<string, unknown>;
}

/** A command a child answers; the result must survive the IPC channel's JSON serialisation. */
export type Command = (args: any) => unknown;

/**
 * Runs in a child: answers requests from the parent and announces readiness.
 *
 * @example
 * serveCommands({ ping: () => 'pong' }, { port });
 */
export function serveCommands(commands: Record<string, Command>, ready: Record<string, unknown>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('this file is a bench child process: start it through `npm run bench`');
  process.on('message', (message: Request) => {
    if (message.cmd === 'exit') {
      // Exiting (not being killed) is what makes --cpu-prof write its profile.
      void Promise.resolve(commands.exit?.(message.args)).finally(() => process.exit(0));
      return;
    }
    const command = commands[message.cmd];
    if (!command) {
      send({ id: message.id, ok: false, error: `unknown command ${message.cmd}` } satisfies Reply);
      return;
    }
    Promise.resolve()
      .then(() => command(message.args))
      .then(
        (result: unknown) => send({ id: message.id, ok: true, result: result ?? null } satisfies Reply),
        (error: unknown) => send({ id: message.id, ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) } satisfies Reply),
      );
  });
  // The parent going away must never leave a load generator or server running.
  process.on('disconnect', () => process.exit(0));
  send({ ready } satisfies Ready);
}

/** A child process of the bench, driven by `call`. */
export class Child {
  readonly name: string;
  readonly ready: Record<string, unknown>;
  private readonly process: ChildProcess;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private exited = false;

  get pid(): number | undefined {
    return this.process.pid;
  }

  private constructor(name: string, child: ChildProcess, ready: Record<string, unknown>) {
    this.name = name;
    this.process = child;
    this.ready = ready;
    child.on('message', (message: Reply) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`${name}: ${message.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const waiter of this.pending.values()) waiter.reject(new Error(`${name} exited (${signal ?? code}) during a command`));
      this.pending.clear();
    });
  }

  /** Forks `file` (relative to bench/) and waits for its ready message. */
  static async start(name: string, file: string, options: { argv?: string[]; execArgv?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Child> {
    const path = fileURLToPath(new URL(`../${file}`, import.meta.url));
    const child = fork(path, options.argv ?? [], {
      execArgv: options.execArgv ?? [],
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${name} did not start within ${options.timeoutMs ?? 15_000} ms`));
      }, options.timeoutMs ?? 15_000);
      child.once('message', (message: Ready) => {
        clearTimeout(timer);
        resolve(message.ready);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${signal ?? code}) before it was ready`));
      });
    });
    return new Child(name, child, ready);
  }

  /** Runs a command in the child; rejects when it fails, the child dies, or `timeoutMs` passes. */
  call<T>(cmd: string, args: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} took more than ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.process.send({ id, cmd, args } satisfies Request);
    });
  }

  /** Asks the child to exit (so a CPU profile gets written), and kills it if it does not within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.call('exit', {}, graceMs).catch(() => undefined);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
