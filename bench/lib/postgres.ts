// A throwaway PostgreSQL for scenario 7, as packages/postgres/test/pg.ts starts one for the tests: initdb into a
// temporary folder, started on 127.0.0.1 and a free port, trust authentication, stopped and deleted afterwards.
// Unlike the tests' server it keeps PostgreSQL's default durability (fsync, synchronous_commit on): the audit is
// measured against a database that commits the way a deployed one does. The machine's binaries
// (/usr/lib/postgresql/<version>/bin, or PG_BIN); as root they run as the `postgres` user (or `nobody`).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where the PostgreSQL binaries are: PG_BIN, else the newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl. */
function findBin(): string | undefined {
  if (process.env.PG_BIN) return existsSync(join(process.env.PG_BIN, 'initdb')) ? process.env.PG_BIN : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')) && existsSync(join(root, name, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** How to run a binary: directly, or (as root, which initdb and postgres refuse) as another user. */
function runner(): { wrap(argv: string[]): [string, string[]]; user: string; uid: number; gid: number } | string {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { wrap: (argv) => [argv[0]!, argv.slice(1)], user: 'the current user', uid, gid: process.getgid?.() ?? -1 };
  const name = spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody';
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  const [userId, groupId] = [id('-u'), id('-g')];
  const setpriv = which('setpriv');
  if (setpriv) return { wrap: (argv) => [setpriv, [`--reuid=${userId}`, `--regid=${groupId}`, '--clear-groups', '--', ...argv]], user: name, uid: userId, gid: groupId };
  const runuser = which('runuser');
  if (runuser) return { wrap: (argv) => [runuser, ['-u', name, '--', ...argv]], user: name, uid: userId, gid: groupId };
  return 'running as root, and neither setpriv nor runuser exists to run PostgreSQL as another user';
}

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
export interface BenchPostgres {
  /** The database URL, as the superuser `postgres`. */
  url: string;
  version: string;
  /** The postmaster and its children (backends, checkpointer, WAL writer): their CPU is the bench's, not someone else's. */
  pids(): number[];
  close(): Promise<void>;
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

/** Starts a throwaway PostgreSQL, or returns why there is none (no binaries, no way to run them). */
export async function startPostgres(): Promise<BenchPostgres | string> {
  const bin = findBin();
  if (bin === undefined) return process.env.PG_BIN ? `no initdb in PG_BIN=${process.env.PG_BIN}` : 'no PostgreSQL binaries in /usr/lib/postgresql/<version>/bin (apt-get install postgresql, or set PG_BIN)';
  const as = runner();
  if (typeof as === 'string') return as;
  let dir = mkdtempSync(join(tmpdir(), 'sb-bench-pg-'));
  const own = (folder: string) => {
    if (as.uid !== process.getuid?.()) chownSync(folder, as.uid, as.gid);
    const [command, args] = as.wrap(['test', '-w', folder]);
    return spawnSync(command, args).status === 0;
  };
  if (!own(dir)) {
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync('/tmp/sb-bench-pg-');
    if (!own(dir)) throw new Error(`${as.user} cannot write ${dir}`);
  }
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  const port = await freePort();
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
  const options = `-p ${port} -k '${dir}' -c listen_addresses=127.0.0.1 -c max_connections=50`;
  // The bench must never leave a PostgreSQL behind, whatever way it ends.
  let running = false;
  const stopNow = () => {
    if (!running) return;
    running = false;
    const [command, argv] = as.wrap([join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
    spawnSync(command, argv, { cwd: dir, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  // Ctrl-C or a kill: stop it, then let the signal do what it would have done.
  const onSignal = (signal: NodeJS.Signals) => {
    stopNow();
    process.kill(process.pid, signal);
  };
  const unhook = () => {
    process.off('exit', stopNow);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.once('exit', stopNow);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions']);
    await pg('pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
    running = true;
  } catch (error) {
    unhook();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const version = (await pg('postgres', ['--version'])).trim();
  const postmaster = () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    version,
    pids() {
      try {
        const root = postmaster();
        return [root, ...descendants(root)];
      } catch {
        return [];
      }
    },
    async close() {
      if (running) {
        try {
          await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
          running = false;
        } catch {
          stopNow();
        }
      }
      unhook();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
