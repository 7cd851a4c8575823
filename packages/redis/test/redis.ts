// A throwaway Redis for a test file: redis-server on 127.0.0.1 and a free port, no persistence (no RDB, no AOF),
// its working folder a temporary one, killed and deleted after the file. Uses REDIS_SERVER, else redis-server
// from PATH (Debian's package puts it in /usr/bin).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The redis-server binary: REDIS_SERVER, else the first redis-server on PATH (or in /usr/bin, /usr/sbin). */
export function findRedisServer(): string | undefined {
  if (process.env.REDIS_SERVER) return existsSync(process.env.REDIS_SERVER) ? process.env.REDIS_SERVER : undefined;
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin', '/usr/local/bin'])) {
    if (dir && existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server');
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (bound, then released for redis-server to take). */
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
export interface TestRedis {
  port: number;
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** Kills the server (SIGKILL, as a crash would): connections drop, and with no persistence every key is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Kills it and deletes its folder. */
  close(): Promise<void>;
}

function banner(reason: string): void {
  process.stderr.write(
    `\n${'!'.repeat(78)}\n!! REDIS TESTS SKIPPED: ${reason}.\n` +
      `!! Install Redis with "apt-get install -y redis-server" (or set REDIS_SERVER to the binary) to run them.\n${'!'.repeat(78)}\n\n`,
  );
}

/**
 * Starts a throwaway Redis, or returns the reason there is none (after printing it in a banner to stderr)
 * when the machine has no redis-server. A server that exists but fails to start throws.
 *
 * @example
 * const redis = await startTestRedis();
 * if (typeof redis === 'string') test('RedisBus', { skip: redis }, () => {});
 * else after(() => redis.close());
 */
export async function startTestRedis(): Promise<TestRedis | string> {
  const bin = findRedisServer();
  if (bin === undefined) {
    const reason = process.env.REDIS_SERVER ? `no redis-server at REDIS_SERVER=${process.env.REDIS_SERVER}` : 'no redis-server on PATH';
    banner(reason);
    return reason;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'notice'];
      const server = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = server;
      let output = '';
      const timer = setTimeout(() => fail(new Error('did not become ready in 10 s')), 10_000);
      const fail = (error: Error) => {
        clearTimeout(timer);
        server.kill('SIGKILL');
        reject(new Error(`${bin} ${args.join(' ')} failed: ${error.message}\n${output.slice(-4000)}`));
      };
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer);
          server.stdout!.off('data', onData);
          server.stdout!.resume();
          server.stderr!.resume();
          resolve();
        }
      };
      server.stdout!.on('data', onData);
      server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      server.once('error', fail);
      server.once('exit', (code, signal) => fail(new Error(`exited (${signal ?? code})`)));
    });

  const stop = async (): Promise<void> => {
    const server = child;
    child = undefined;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    server.removeAllListeners('exit');
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
  };

  // If the process ends without close() (a crash, Ctrl-C), the server must not outlive it.
  const stopNow = () => {
    child?.kill('SIGKILL');
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
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    async close() {
      await stop();
      process.off('exit', stopNow);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
