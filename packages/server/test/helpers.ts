// A raw `ws` test client: sends envelopes, waits for replies and pushes, records close codes.
import WebSocket from 'ws';
import type { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Envelope } from '@switchboard/protocol';
import type { Connection } from '@switchboard/server';

/** A plain ws client that speaks protocol v1 by hand, for tests that must not depend on the SDK. */
export class RawClient implements AsyncDisposable {
  readonly ws: WebSocket;
  readonly received: Envelope[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private nextId = 1;
  private waiters: { match: (e: Envelope) => boolean; resolve: (e: Envelope) => void }[] = [];
  private readonly closed: Promise<number>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const envelope = JSON.parse(data.toString()) as Envelope;
      this.received.push(envelope);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.match(envelope)) return true;
        waiter.resolve(envelope);
        return false;
      });
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      }),
    );
  }

  /** Connects and waits for `$welcome`. */
  static async connect(url: string, options?: WebSocket.ClientOptions & { protocols?: string[] }): Promise<RawClient> {
    const ws = new WebSocket(url, options?.protocols ?? [], options);
    const client = new RawClient(ws);
    const welcome = client.next((e) => e.type === '$welcome');
    // When the upgrade is refused, the wait for $welcome is moot: do not let it reject unobserved.
    welcome.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    await welcome;
    return client;
  }

  /** Resolves with the first message (already received or future) that matches. */
  next(match: (envelope: Envelope) => boolean, timeoutMs = 5000): Promise<Envelope> {
    const seen = this.received.find(match);
    if (seen) {
      this.received.splice(this.received.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (envelope) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(envelope), 1);
          resolve(envelope);
        },
      });
    });
  }

  /** Sends a request and resolves with its reply (data or error). */
  request(type: string, data?: unknown, timeoutMs = 5000): Promise<Envelope> {
    const id = this.nextId++;
    const reply = this.next((e) => e.id === id, timeoutMs);
    this.ws.send(JSON.stringify({ type, id, data }));
    return reply;
  }

  sendRaw(frame: string | Buffer): void {
    this.ws.send(frame);
  }

  waitClose(): Promise<number> {
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    }
  }
}

/** Resolves with the close code the server reports (its `close` event) for one connection. */
export function closeCodeOf(server: { events: EventEmitter<any> }, connectionId: string): Promise<number> {
  return new Promise((resolve) => {
    const listener = (connection: Connection, code: number) => {
      if (connection.id !== connectionId) return;
      server.events.off('close', listener);
      resolve(code);
    };
    server.events.on('close', listener);
  });
}

/**
 * A pino logger at `info` that keeps every line it writes, parsed, for a test to look for.
 *
 * @example
 * const { logger, lines } = capturingLogger();
 * await using t = await startTestServer({ logger });
 */
export function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}
