// A throwaway PostgreSQL for a test file: initdb into a temporary folder, started on 127.0.0.1 and a free port,
// trust authentication, no durability (fsync off), stopped and deleted after the file. Uses the machine's
// PostgreSQL binaries (Debian's /usr/lib/postgresql/<version>/bin, or PG_BIN); as root, runs them as an
// unprivileged user, since initdb and postgres refuse to run as root.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';

const run = promisify(execFile);

/** Where the PostgreSQL binaries are: PG_BIN, else the newest /usr/lib/postgresql/<version>/bin with initdb. */
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

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** The runner for this process: as root, the `postgres` user when it exists (Debian's package makes it), else `nobody`. */
function runner(): Runner | string {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { wrap: (argv) => [argv[0]!, argv.slice(1)], user: 'the current user', uid, gid: process.getgid?.() ?? -1 };
  const name = process.env.PG_TEST_USER ?? (spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody');
  const ids = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  const [userId, groupId] = [ids('-u'), ids('-g')];
  const setpriv = which('setpriv');
  if (setpriv) return { wrap: (argv) => [setpriv, [`--reuid=${userId}`, `--regid=${groupId}`, '--clear-groups', '--', ...argv]], user: name, uid: userId, gid: groupId };
  const runuser = which('runuser');
  if (runuser) return { wrap: (argv) => [runuser, ['-u', name, '--', ...argv]], user: name, uid: userId, gid: groupId };
  return 'running as root, and neither setpriv nor runuser exists to run PostgreSQL as another user';
}

/** A free TCP port on 127.0.0.1 (bound, then released for PostgreSQL to take). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A running throwaway PostgreSQL. */
export interface TestPostgres {
  port: number;
  /** The URL of `database` on it, as the superuser `postgres`. */
  url(database?: string): string;
  /** Creates a new empty database (`sb_test_<n>`) and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server at once (`pg_ctl -m immediate stop`), as a crash would: connections drop, nothing is flushed. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its folder. */
  close(): Promise<void>;
}

function banner(reason: string): void {
  process.stderr.write(
    `\n${'!'.repeat(78)}\n!! POSTGRESQL TESTS SKIPPED: ${reason}.\n` +
      `!! Install PostgreSQL with "apt-get install -y postgresql" (or set PG_BIN to its bin folder) to run them.\n${'!'.repeat(78)}\n\n`,
  );
}

/**
 * Starts a throwaway PostgreSQL, or returns the reason there is none (after printing it in a banner to
 * stderr) when the machine has no PostgreSQL binaries. A server that exists but fails to start throws.
 *
 * @example
 * const pg = await startTestPostgres();
 * if (typeof pg === 'string') test('PostgresStore', { skip: pg }, () => {});
 * else after(() => pg.close());
 */
export async function startTestPostgres(): Promise<TestPostgres | string> {
  const bin = findPostgresBin();
  if (bin === undefined) {
    const reason = process.env.PG_BIN ? `no initdb in PG_BIN=${process.env.PG_BIN}` : 'no PostgreSQL binaries in /usr/lib/postgresql/<version>/bin';
    banner(reason);
    return reason;
  }
  const as = runner();
  if (typeof as === 'string') {
    banner(as);
    return as;
  }

  // The folder must be the running user's; /tmp is the fallback if TMPDIR is somewhere that user cannot enter.
  let dir = mkdtempSync(join(tmpdir(), 'sb-pg-'));
  const own = (folder: string) => {
    if (as.uid !== process.getuid?.()) chownSync(folder, as.uid, as.gid);
    const [command, args] = as.wrap(['test', '-w', folder]);
    return spawnSync(command, args).status === 0;
  };
  if (!own(dir)) {
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync('/tmp/sb-pg-');
    if (!own(dir)) throw new Error(`${as.user} cannot write ${dir}`);
  }
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  const port = await freePort();

  /** Runs a binary of `bin` as the runner's user, with the folder as its working directory. */
  const pg = async (name: string, args: string[]): Promise<void> => {
    const [command, argv] = as.wrap([join(bin, name), ...args]);
    try {
      await run(command, argv, { cwd: dir, timeout: 60_000, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    } catch (error) {
      const failed = error as Error & { stdout?: string; stderr?: string };
      const server = existsSync(log) ? `\n--- ${log}:\n${readFileSync(log, 'utf8').slice(-4000)}` : '';
      throw new Error(`${name} ${args.join(' ')} (as ${as.user}) failed:\n${failed.stdout ?? ''}${failed.stderr ?? failed.message}${server}`, { cause: error });
    }
  };
  // No fsync (a test server need not survive the machine); commits still reach the OS, so they survive a crash of PostgreSQL.
  const options = `-p ${port} -k '${dir}' -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100`;
  const start = () => pg('pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
  const stop = () => pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);

  // If the process ends without close() (a crash, Ctrl-C), the server must not outlive it.
  let running = false;
  const stopNow = () => {
    if (!running) return;
    running = false;
    const [command, argv] = as.wrap([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
    spawnSync(command, argv, { cwd: dir, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stopNow();
    process.kill(process.pid, signal);
  };
  process.once('exit', stopNow);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    await start();
    running = true;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const admin = postgres(url(), { max: 1, onnotice: () => {} });
  let databases = 0;
  return {
    port,
    url,
    async createDatabase() {
      const name = `sb_test_${++databases}`;
      await admin`CREATE DATABASE ${admin(name)}`;
      return url(name);
    },
    async stop() {
      await stop();
    },
    async start() {
      await start();
    },
    async close() {
      await admin.end({ timeout: 1 });
      if (running) await stop().catch(() => {});
      running = false;
      process.off('exit', stopNow);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
