// A throwaway Redis for scenario 8, as packages/redis/test/redis.ts starts one for the tests: redis-server on
// 127.0.0.1 and a free port, no persistence (no RDB, no AOF), its working folder a temporary one, killed and deleted
// afterwards. Uses REDIS_SERVER, else redis-server from PATH (Debian's package puts it in /usr/bin).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The redis-server binary: REDIS_SERVER, else the first redis-server on PATH (or in /usr/bin, /usr/sbin, /usr/local/bin). */
function findRedisServer(): string | undefined {
  if (process.env.REDIS_SERVER) return existsSync(process.env.REDIS_SERVER) ? process.env.REDIS_SERVER : undefined;
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin', '/usr/local/bin'])) {
    if (dir && existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server');
  }
  return undefined;
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

/** A running throwaway Redis. */
export interface BenchRedis {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** redis-server's pid, for its CPU figures. */
  pid: number;
  /** `redis-server --version`'s version, e.g. `7.0.15`. */
  version: string;
  /** Kills it and deletes its folder. */
  close(): Promise<void>;
}

/**
 * Starts a throwaway Redis, or returns why there is none (no redis-server on this machine). A server that exists
 * but does not start throws.
 */
export async function startRedis(): Promise<BenchRedis | string> {
  const bin = findRedisServer();
  if (bin === undefined) {
    return process.env.REDIS_SERVER
      ? `no redis-server at REDIS_SERVER=${process.env.REDIS_SERVER}`
      : 'no redis-server on PATH (apt-get install -y redis-server, or set REDIS_SERVER to the binary)';
  }
  let version = 'unknown';
  try {
    version = /v=(\S+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    // The version is for the report only.
  }
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'notice'];
  const child: ChildProcess = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  // The bench must never leave it running, whatever way it ends.
  const killNow = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killNow);
  try {
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => fail(new Error('did not become ready in 10 s')), 10_000);
      const fail = (error: Error) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`${bin} ${args.join(' ')} failed: ${error.message}\n${output.slice(-2000)}`));
      };
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          child.stderr!.resume();
          child.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null, signal: string | null) => fail(new Error(`exited (${signal ?? code})`));
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('error', fail);
      child.once('exit', onExit);
    });
  } catch (error) {
    process.off('exit', killNow);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    version,
    async close() {
      process.off('exit', killNow);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
