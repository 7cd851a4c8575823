// Recovering subscriber child (scenario 5): one @switchboard/client live copy of a resource, driven over IPC. On
// command it goes away (its link drops and stays down) and comes back: the SDK resubscribes from the position it
// holds, and the time from sending that `$live.subscribe { since }` to the copy being synced again is measured.
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { connect, type Client, type LiveCollection, type StreamPosition } from '@switchboard/client';
import { serveCommands } from '../lib/ipc.ts';

// While away, the client's reconnects go to a port that accepts and drops every connection, so it keeps retrying
// (every RETRY_MS) until it may come back. The timing starts only when it sends `$live.subscribe`: none of this counts.
const RETRY_MS = 20;
const refuser = createTcpServer((socket) => socket.destroy());
await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve));
const refuseUrl = `ws://127.0.0.1:${(refuser.address() as AddressInfo).port}/ws`;

let away = false;
/** The client's current socket: the one `away` closes. */
const link: { socket?: TimedWebSocket } = {};

/** One recovery as this process saw it; times from performance.now(). */
interface Timing {
  sentAt: number;
  repliedAt: number;
  replyBytes: number;
}
let timing: Timing = { sentAt: 0, repliedAt: 0, replyBytes: 0 };

/** The global WebSocket, noting when the resubscription is sent and when its reply has arrived (not yet parsed). */
class TimedWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(away ? refuseUrl : url, protocols);
    link.socket = this;
    // Registered before the client sets `onmessage`, so it runs first: the frame is in, the SDK has not parsed it.
    this.addEventListener('message', (event: MessageEvent) => {
      const data: unknown = event.data;
      if (timing.sentAt === 0 || timing.repliedAt !== 0 || typeof data !== 'string') return;
      if (!data.slice(0, 100).includes('"type":"$live.subscribe"')) return;
      timing.repliedAt = performance.now();
      timing.replyBytes = Buffer.byteLength(data);
    });
  }

  override send(data: Parameters<WebSocket['send']>[0]): void {
    if (typeof data === 'string' && timing.sentAt === 0 && data.includes('"$live.subscribe"') && data.includes('"since"')) timing.sentAt = performance.now();
    super.send(data);
  }
}

let client: Client | undefined;
let live: LiveCollection | undefined;

function positionOf(collection: LiveCollection): StreamPosition {
  const position = collection.position;
  if (position === undefined) throw new Error('the live copy holds no position');
  return position;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

serveCommands(
  {
    /** Connects and follows `resource` (all of it); resolves at the first snapshot. */
    async open(args: { port: number; path: string; resource: string; timeoutMs?: number }) {
      client = connect(`ws://127.0.0.1:${args.port}${args.path}`, {
        WebSocket: TimedWebSocket,
        heartbeatMs: 0,
        requestTimeoutMs: args.timeoutMs ?? 10_000,
        reconnect: { initialDelayMs: RETRY_MS, factor: 1, jitter: 0 },
      });
      live = client.live(args.resource);
      await withTimeout(live.ready, args.timeoutMs ?? 10_000, 'no snapshot');
      return { records: live.records.size, position: positionOf(live) };
    },

    /** Drops the link and keeps it down; resolves once the client has seen the close. */
    async away(args: { timeoutMs?: number }) {
      const socket = link.socket;
      if (!client || !live || !socket) throw new Error('away: not open');
      const closed = new Promise<void>((resolve) => {
        const off = client!.events.on('close', () => {
          off();
          resolve();
        });
      });
      away = true;
      const position = positionOf(live);
      socket.close();
      await withTimeout(closed, args.timeoutMs ?? 5_000, 'the link did not close');
      return { position, state: live.state };
    },

    /** Lets the client reconnect; resolves when its copy is synced again, with what that took. */
    async back(args: { timeoutMs?: number }) {
      if (!live) throw new Error('back: not open');
      const collection = live;
      const before = positionOf(collection);
      timing = { sentAt: 0, repliedAt: 0, replyBytes: 0 };
      const synced = new Promise<{ recovered: boolean; at: number }>((resolve) => {
        const off = collection.on('synced', (info) => {
          off();
          resolve({ recovered: info.recovered, at: performance.now() });
        });
      });
      away = false;
      const done = await withTimeout(synced, args.timeoutMs ?? 10_000, 'not synced again');
      const after = positionOf(collection);
      return {
        recovered: done.recovered,
        before,
        after,
        operations: after.epoch === before.epoch ? after.offset - before.offset : -1,
        records: collection.records.size,
        replyBytes: timing.replyBytes,
        // From sending $live.subscribe to the reply's last byte (server: history read, encode; loopback; WebSocket framing).
        replyMs: timing.repliedAt - timing.sentAt,
        // From there to the copy synced: the SDK parses the reply and applies every operation.
        applyMs: done.at - timing.repliedAt,
        totalMs: done.at - timing.sentAt,
      };
    },

    /** The copy's records, to check they equal the server's. */
    records() {
      return [...(live?.records ?? new Map<string, unknown>())].map(([key, value]) => ({ key, value }));
    },

    exit() {
      client?.close();
      refuser.close();
    },
  },
  { pid: process.pid },
);
