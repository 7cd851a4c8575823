// Throwaway servers for the tests and the bench: a free port on 127.0.0.1, a redis-server with no persistence, and a
// PostgreSQL made by initdb, each in a temporary folder that goes with it, even when the process ends without closing
// them. packages/redis/test, packages/postgres/test, deploy/test and bench/lib start theirs here.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A free TCP port on 127.0.0.1: bound, then released for the server the caller starts next to take.
 *
 * @example
 * const port = await freePort();
 * spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1']);
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Prints a banner to stderr saying what is skipped and why, so that a skipped suite is not missed in the output.
 *
 * @example
 * skipBanner('REDIS TESTS', 'no redis-server on PATH', 'Install Redis with "apt-get install -y redis-server" to run them');
 */
export function skipBanner(what: string, reason: string, remedy: string): void {
  process.stderr.write(`\n${'!'.repeat(78)}\n!! ${what} SKIPPED: ${reason}.\n!! ${remedy}.\n${'!'.repeat(78)}\n\n`);
}

/** The first `command` on PATH, else in `fallback` (folders a package puts it in that PATH may lack). */
function which(command: string, fallback: string[]): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(fallback)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/**
 * Calls `cleanup` if the process ends without the server's close(): at exit, or on Ctrl-C or a kill, after which the
 * signal does what it would have done. `cleanup` may run more than once. Returns what removes the hooks.
 */
function onProcessEnd(cleanup: () => void): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.kill(process.pid, signal);
  };
  process.once('exit', cleanup);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('exit', cleanup);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

// ---------------------------------------------------------------- Redis

/** The redis-server binary: REDIS_SERVER, else the first redis-server on PATH (or in /usr/bin, /usr/sbin, /usr/local/bin). */
export function findRedisServer(): string | undefined {
  if (process.env.REDIS_SERVER) return existsSync(process.env.REDIS_SERVER) ? process.env.REDIS_SERVER : undefined;
  return which('redis-server', ['/usr/bin', '/usr/sbin', '/usr/local/bin']);
}

export interface RedisOptions {
  /** How the temporary folder's name starts, so that a leftover one says who made it. Default `sb-redis-`. */
  prefix?: string;
  /** Added in brackets to the reason when there is no redis-server on PATH: how to get one. */
  hint?: string;
}

/** A running throwaway Redis. */
export interface ThrowawayRedis {
  port: number;
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** redis-server's pid (a new one after `start()`), for its CPU figures. */
  readonly pid: number;
  /** `redis-server --version`'s version, e.g. `7.0.15`, or `unknown`. */
  version(): Promise<string>;
  /** Kills the server (SIGKILL, as a crash would): connections drop, and with no persistence every key is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Kills it and deletes its folder. */
  close(): Promise<void>;
}

/**
 * Starts redis-server on 127.0.0.1 and a free port with no persistence (no RDB, no AOF) and a temporary working
 * folder, or returns why there is none (no redis-server on this machine). A server that exists but does not start
 * throws.
 *
 * @example
 * const redis = await startThrowawayRedis();
 * if (typeof redis === 'string') test('RedisBus', { skip: redis }, () => {});
 * else after(() => redis.close());
 */
export async function startThrowawayRedis(options: RedisOptions = {}): Promise<ThrowawayRedis | string> {
  const bin = findRedisServer();
  if (bin === undefined) {
    if (process.env.REDIS_SERVER) return `no redis-server at REDIS_SERVER=${process.env.REDIS_SERVER}`;
    return options.hint ? `no redis-server on PATH (${options.hint})` : 'no redis-server on PATH';
  }
  const dir = mkdtempSync(join(tmpdir(), options.prefix ?? 'sb-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'notice'];
  let child: ChildProcess | undefined;

  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const server = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = server;
      let output = '';
      const timer = setTimeout(() => fail(new Error('did not become ready in 10 s')), 10_000);
      const fail = (error: Error) => {
        clearTimeout(timer);
        server.kill('SIGKILL');
        reject(new Error(`${bin} ${args.join(' ')} failed: ${error.message}\n${output.slice(-4000)}`));
      };
      const onExit = (code: number | null, signal: string | null) => fail(new Error(`exited (${signal ?? code})`));
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer);
          server.stdout!.off('data', onData);
          server.stdout!.resume();
          server.stderr!.resume();
          server.off('exit', onExit);
          resolve();
        }
      };
      server.stdout!.on('data', onData);
      server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      server.once('error', fail);
      server.once('exit', onExit);
    });

  const stop = async (): Promise<void> => {
    const server = child;
    child = undefined;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
  };

  const unhook = onProcessEnd(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    await start();
  } catch (error) {
    unhook();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let version: Promise<string> | undefined;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? -1;
    },
    version() {
      // The version is for reports only: a binary that does not say is `unknown`.
      version ??= run(bin, ['--version']).then(
        ({ stdout }) => /v=(\S+)/.exec(stdout)?.[1] ?? 'unknown',
        () => 'unknown',
      );
      return version;
    },
    stop,
    start,
    async close() {
      await stop();
      unhook();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- PostgreSQL

/** Where the PostgreSQL binaries are: PG_BIN, else the newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl. */
export function findPostgresBin(): string | undefined {
  if (process.env.PG_BIN) return existsSync(join(process.env.PG_BIN, 'initdb')) ? process.env.PG_BIN : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')) && existsSync(join(root, name, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** How to run a PostgreSQL binary: directly, or as root through setpriv/runuser as another user. */
interface Runner {
  /** The command and arguments that run `argv` as that user. */
  wrap(argv: string[]): [string, string[]];
  /** Who runs the binaries, for messages. */
  user: string;
  uid: number;
  gid: number;
}

/** The runner for this process: as root (which initdb and postgres refuse), `user`, else `postgres` when it exists (Debian's package makes it), else `nobody`. */
function runner(user: string | undefined): Runner | string {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { wrap: (argv) => [argv[0]!, argv.slice(1)], user: 'the current user', uid, gid: process.getgid?.() ?? -1 };
  const name = user ?? (spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody');
  const ids = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  const [userId, groupId] = [ids('-u'), ids('-g')];
  const fallback = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  const setpriv = which('setpriv', fallback);
  if (setpriv) return { wrap: (argv) => [setpriv, [`--reuid=${userId}`, `--regid=${groupId}`, '--clear-groups', '--', ...argv]], user: name, uid: userId, gid: groupId };
  const runuser = which('runuser', fallback);
  if (runuser) return { wrap: (argv) => [runuser, ['-u', name, '--', ...argv]], user: name, uid: userId, gid: groupId };
  return 'running as root, and neither setpriv nor runuser exists to run PostgreSQL as another user';
}

/** Children of a process, recursively, read from /proc (empty where there is no /proc). */
function descendants(root: number): number[] {
  let parents: Map<number, number[]>;
  try {
    parents = new Map();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const list = parents.get(ppid) ?? [];
        list.push(Number(entry));
        parents.set(ppid, list);
      } catch {
        // The process ended meanwhile.
      }
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const child of parents.get(pid) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

export interface PostgresOptions {
  /** How the temporary folder's name starts, so that a leftover one says who made it. Default `sb-pg-`. */
  prefix?: string;
  /**
   * Keep PostgreSQL's default durability: fsync and full-page writes on, and initdb syncing its files. Off by default:
   * a test server need not survive the machine, and its commits still reach the OS, so they survive a crash of
   * PostgreSQL. The bench turns it on to measure against a database that commits the way a deployed one does.
   */
  durable?: boolean;
  /** `max_connections`. Default 100. */
  maxConnections?: number;
  /** Whom to run the binaries as when this process is root. Default `postgres` when that user exists, else `nobody`. */
  user?: string | undefined;
  /**
   * How `close()` stops the server: `immediate` (the default: at once, as a crash would) or `fast` (a clean
   * shutdown with a checkpoint; immediate if that fails).
   */
  shutdown?: 'immediate' | 'fast';
  /** Added in brackets to the reason when there are no binaries in /usr/lib/postgresql: how to get them. */
  hint?: string;
}

/** A running throwaway PostgreSQL. */
export interface ThrowawayPostgres {
  port: number;
  /** The URL of `database` on it (default `postgres`), as the superuser `postgres`. */
  url(database?: string): string;
  /** `postgres --version`, e.g. `postgres (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)`. */
  version(): Promise<string>;
  /** The postmaster and its children (backends, checkpointer, WAL writer), for their CPU figures; empty when it is stopped. */
  pids(): number[];
  /** Stops the server at once (`pg_ctl -m immediate stop`), as a crash would: connections drop, nothing is flushed. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it (see `shutdown`) and deletes its folder. */
  close(): Promise<void>;
}

/**
 * Starts a PostgreSQL made by initdb in a temporary folder, on 127.0.0.1 and a free port with trust authentication,
 * from the machine's binaries (see findPostgresBin), or returns why there is none (no binaries, no way to run them
 * as another user than root). A server that exists but does not start throws.
 *
 * @example
 * const pg = await startThrowawayPostgres({ durable: true });
 * if (typeof pg === 'string') console.log(`SKIPPED: ${pg}`);
 * else await pg.close();
 */
export async function startThrowawayPostgres(options: PostgresOptions = {}): Promise<ThrowawayPostgres | string> {
  const bin = findPostgresBin();
  if (bin === undefined) {
    if (process.env.PG_BIN) return `no initdb in PG_BIN=${process.env.PG_BIN}`;
    const reason = 'no PostgreSQL binaries in /usr/lib/postgresql/<version>/bin';
    return options.hint ? `${reason} (${options.hint})` : reason;
  }
  const as = runner(options.user);
  if (typeof as === 'string') return as;

  // The folder must be the running user's; /tmp is the fallback if TMPDIR is somewhere that user cannot enter.
  const prefix = options.prefix ?? 'sb-pg-';
  let dir = mkdtempSync(join(tmpdir(), prefix));
  const own = (folder: string) => {
    if (as.uid !== process.getuid?.()) chownSync(folder, as.uid, as.gid);
    const [command, args] = as.wrap(['test', '-w', folder]);
    return spawnSync(command, args).status === 0;
  };
  if (!own(dir)) {
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join('/tmp', prefix));
    if (!own(dir)) throw new Error(`${as.user} cannot write ${dir}`);
  }
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  const port = await freePort();

  /** Runs a binary of `bin` as the runner's user, with the folder as its working directory; resolves with its stdout. */
  const pg = async (name: string, args: string[]): Promise<string> => {
    const [command, argv] = as.wrap([join(bin, name), ...args]);
    try {
      return (await run(command, argv, { cwd: dir, timeout: 60_000, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } })).stdout;
    } catch (error) {
      const failed = error as Error & { stdout?: string; stderr?: string };
      const server = existsSync(log) ? `\n--- ${log}:\n${readFileSync(log, 'utf8').slice(-4000)}` : '';
      throw new Error(`${name} ${args.join(' ')} (as ${as.user}) failed:\n${failed.stdout ?? ''}${failed.stderr ?? failed.message}${server}`, { cause: error });
    }
  };
  const durability = options.durable ? '' : ' -c fsync=off -c full_page_writes=off';
  const settings = `-p ${port} -k '${dir}' -c listen_addresses=127.0.0.1${durability} -c max_connections=${options.maxConnections ?? 100}`;
  let running = false;
  const start = async () => {
    await pg('pg_ctl', ['-D', data, '-l', log, '-o', settings, '-w', '-t', '60', 'start']);
    running = true;
  };
  const stopWith = async (mode: 'immediate' | 'fast') => {
    await pg('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    running = false;
  };

  const stopNow = () => {
    if (running) {
      running = false;
      const [command, argv] = as.wrap([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
      spawnSync(command, argv, { cwd: dir, stdio: 'ignore' });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const unhook = onProcessEnd(stopNow);
  try {
    await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', ...(options.durable ? [] : ['--no-sync']), '--no-instructions']);
    await start();
  } catch (error) {
    unhook();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let version: Promise<string> | undefined;
  return {
    port,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    version() {
      version ??= pg('postgres', ['--version']).then((stdout) => stdout.trim());
      return version;
    },
    pids() {
      try {
        const root = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
        return [root, ...descendants(root)];
      } catch {
        return [];
      }
    },
    stop: () => stopWith('immediate'),
    start,
    async close() {
      if (running) await stopWith(options.shutdown ?? 'immediate').catch(stopNow);
      unhook();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
