// Load generator child: opens lite WebSocket connections and, on command, runs closed-loop requests, counts and
// times deliveries as a subscriber, or publishes at a fixed rate.
import { cpuUsage } from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import { serveCommands } from '../lib/ipc.ts';
import { LiteSocket, nowUs, type LiteHandlers } from '../lib/lite-ws.ts';

/** A short chat-sized text so frames are realistic (≈100 bytes), not empty. */
const TEXT = 'hello from the switchboard benchmark';
// A delivery's tick object opens with `{"seq":` and has `"t":` right after. Searching for the opening brace (rare in
// a frame) rather than for `"seq":` (a quote, which every key has) keeps the search's cost independent of where the
// tick sits in the frame: at the end of a `$live.op`, after ~40 quotes, the old needle cost 0.7 µs against 0.2.
const SEQ_KEY = Buffer.from('{"seq":');
const T_KEY = Buffer.from('"t":');

interface Reply {
  type?: string;
  id?: number;
  data?: unknown;
  error?: { code: string; message: string };
}

type Mode = 'idle' | 'json' | 'requests' | 'subscriber';
let mode: Mode = 'idle';
const sockets: LiteSocket[] = [];
let closedCount = 0;

// ---------------------------------------------------------------- JSON requests (subscribe, probes)

let nextRequestId = 1;
const waiters = new Map<number, (reply: Reply) => void>();

function request(socket: LiteSocket, type: string, data: unknown, timeoutMs: number): Promise<Reply> {
  const id = nextRequestId++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiters.delete(id);
      resolve({ error: { code: 'no_reply', message: `no reply to ${type} within ${timeoutMs} ms` } });
    }, timeoutMs);
    waiters.set(id, (reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
    socket.send(JSON.stringify({ type, id, data }));
  });
}

function onJson(buffer: Buffer, start: number, end: number): void {
  const reply = JSON.parse(buffer.toString('utf8', start, end)) as Reply;
  if (typeof reply.id !== 'number') return;
  const waiter = waiters.get(reply.id);
  if (!waiter) return;
  waiters.delete(reply.id);
  waiter(reply);
}

// ---------------------------------------------------------------- closed-loop request/reply

const requestState = { running: false, measuring: false, completed: 0, outstanding: 0, errors: {} as Record<string, number> };
/** Every request sent and every reply to one since the process started, measured or not (scenario 7 counts the audit's rows against them). */
const requestTotals = { sent: 0, replies: 0, errorReplies: 0 };
const requestHistogram = new Histogram();
const expectedId: number[] = [];
const sentAt: number[] = [];

function sendRequest(socket: LiteSocket): void {
  const id = (expectedId[socket.index] ?? 0) + 1;
  expectedId[socket.index] = id;
  sentAt[socket.index] = performance.now();
  requestState.outstanding++;
  requestTotals.sent++;
  socket.send(`{"type":"bench.echo","id":${id},"data":{"seq":${id},"text":"${TEXT}"}}`);
}

function onReply(socket: LiteSocket, buffer: Buffer, start: number, end: number): void {
  const reply = JSON.parse(buffer.toString('utf8', start, end)) as Reply;
  if (reply.id !== expectedId[socket.index]) {
    requestState.errors.unexpected_frame = (requestState.errors.unexpected_frame ?? 0) + 1;
    return;
  }
  requestState.outstanding--;
  requestTotals.replies++;
  if (reply.error) requestTotals.errorReplies++;
  if (requestState.measuring) {
    if (reply.error) requestState.errors[reply.error.code] = (requestState.errors[reply.error.code] ?? 0) + 1;
    else {
      requestState.completed++;
      requestHistogram.record((performance.now() - sentAt[socket.index]!) * 1000);
    }
  }
  if (requestState.running && !socket.closed) sendRequest(socket);
}

// ---------------------------------------------------------------- subscriber

const subscriber = { minSeq: 0, stale: 0, other: 0, otherSample: '', firstUs: 0, lastUs: 0, bytes: 0, cpu: cpuUsage(), startedMs: 0 };
const received: number[] = [];
const deliveryHistogram = new Histogram();

function readUint(buffer: Buffer, at: number, end: number): number {
  let value = 0;
  for (; at < end; at++) {
    const digit = buffer[at]! - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return value;
}

function onDelivery(socket: LiteSocket, buffer: Buffer, start: number, end: number, atUs: number): void {
  // Read seq and the publisher's timestamp in place: parsing JSON per delivery would make this process the bottleneck.
  const seqAt = buffer.indexOf(SEQ_KEY, start);
  const tAt = seqAt < 0 || seqAt >= end ? -1 : buffer.indexOf(T_KEY, seqAt);
  if (seqAt < 0 || seqAt >= end || tAt < 0 || tAt >= end) {
    subscriber.other++;
    if (!subscriber.otherSample) subscriber.otherSample = buffer.toString('utf8', start, Math.min(end, start + 300));
    return;
  }
  if (readUint(buffer, seqAt + SEQ_KEY.length, end) < subscriber.minSeq) {
    subscriber.stale++;
    return;
  }
  received[socket.index]!++;
  subscriber.bytes += end - start;
  deliveryHistogram.record(atUs - readUint(buffer, tAt + T_KEY.length, end));
  if (subscriber.firstUs === 0) subscriber.firstUs = atUs;
  subscriber.lastUs = atUs;
}

// ---------------------------------------------------------------- anything else (the publisher's socket)

// The server may refuse what the publisher sends (rate limits): those `$error` pushes are losses at the source.
const refused: Record<string, number> = {};

function onOther(buffer: Buffer, start: number, end: number): void {
  const at = buffer.indexOf('"error"', start);
  if (at < 0 || at >= end) return;
  const reply = JSON.parse(buffer.toString('utf8', start, end)) as Reply;
  const code = reply.error?.code ?? 'unknown';
  refused[code] = (refused[code] ?? 0) + 1;
}

// ---------------------------------------------------------------- sockets

const handlers: LiteHandlers = {
  message(socket, buffer, start, end, atUs) {
    switch (mode) {
      case 'subscriber':
        return onDelivery(socket, buffer, start, end, atUs);
      case 'requests':
        return onReply(socket, buffer, start, end);
      case 'json':
        return onJson(buffer, start, end);
      case 'idle':
        return onOther(buffer, start, end);
    }
  },
  close() {
    closedCount++;
  },
};

interface ConnectArgs {
  port: number;
  path: string;
  count: number;
  greeting: boolean;
  concurrency?: number;
  timeoutMs?: number;
}

async function connectAll(args: ConnectArgs): Promise<{ connected: number; failed: number; firstError: string; ms: number }> {
  const started = performance.now();
  const options = { host: '127.0.0.1', port: args.port, path: args.path, awaitGreeting: args.greeting, timeoutMs: args.timeoutMs ?? 15_000 };
  let next = 0;
  let connected = 0;
  let failed = 0;
  let firstError = '';
  const base = sockets.length;
  // A bounded number of handshakes in flight: a burst of thousands overflows the listen backlog.
  const worker = async () => {
    while (next < args.count) {
      const index = base + next++;
      try {
        const socket = await LiteSocket.open(index, options, handlers);
        sockets[index] = socket;
        received[index] = 0;
        connected++;
      } catch (error) {
        failed++;
        firstError ||= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency ?? 100, args.count) }, worker));
  // Failed slots leave holes; keep the array dense so indices stay valid.
  for (let i = sockets.length - 1; i >= base; i--) if (!sockets[i]) sockets.splice(i, 1);
  return { connected, failed, firstError, ms: performance.now() - started };
}

function cpuSince(since: NodeJS.CpuUsage): number {
  const now = cpuUsage(since);
  return now.user + now.system;
}

interface PublishArgs {
  type: string;
  seqStart: number;
  count: number;
  rate: number;
  extra?: Record<string, unknown>;
}

/** Sends `count` messages at `rate` per second from the first socket, stamping each with the shared clock. */
function publish(args: PublishArgs): Promise<{ sent: number; firstUs: number; lastUs: number; ms: number }> {
  const socket = sockets[0];
  if (!socket) throw new Error('publish: no connection');
  const extra = args.extra && Object.keys(args.extra).length > 0 ? `,${JSON.stringify(args.extra).slice(1, -1)}` : '';
  const started = performance.now();
  const deadline = started + (args.count / args.rate) * 1000 + 30_000;
  let sent = 0;
  let firstUs = 0;
  let lastUs = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Catch up to the schedule rather than one message per timer: timers fire late, the rate must not drift.
      const due = Math.min(args.count, Math.floor(((now - started) * args.rate) / 1000) + 1);
      if (due > sent && !socket.closed) {
        const batch: string[] = [];
        for (; sent < due; sent++) {
          lastUs = nowUs();
          firstUs ||= lastUs;
          batch.push(`{"type":"${args.type}","data":{"seq":${args.seqStart + sent},"t":${lastUs},"text":"${TEXT}"${extra}}}`);
        }
        socket.sendMany(batch);
      }
      if (sent >= args.count || socket.closed || now > deadline) {
        clearInterval(timer);
        resolve({ sent, firstUs, lastUs, ms: performance.now() - started });
      }
    };
    const timer = setInterval(tick, 2);
    tick();
  });
}

type ChannelSpec = { name: string } | { prefix: string; spread: number };

serveCommands(
  {
    connect: (args: ConnectArgs) => connectAll(args),

    /** Sends one request on the first socket and returns the reply (probes, e.g. whether `$subscribe` exists). */
    async request(args: { type: string; data: unknown; timeoutMs?: number }) {
      const socket = sockets[0];
      if (!socket) throw new Error('request: no connection');
      mode = 'json';
      return request(socket, args.type, args.data, args.timeoutMs ?? 5_000);
    },

    /** Subscribes every socket to each channel; `offset` is this generator's first global connection index. */
    async subscribe(args: { channels: ChannelSpec[]; offset: number; timeoutMs?: number }) {
      mode = 'json';
      const pending: Promise<Reply>[] = [];
      for (const socket of sockets) {
        for (const spec of args.channels) {
          const channel = 'name' in spec ? spec.name : `${spec.prefix}${(args.offset + socket.index) % spec.spread}`;
          pending.push(request(socket, '$subscribe', { channel }, args.timeoutMs ?? 20_000));
        }
      }
      const codes: Record<string, number> = {};
      let ok = 0;
      let firstError = '';
      for (const reply of await Promise.all(pending)) {
        if (!reply.error) ok++;
        else {
          codes[reply.error.code] = (codes[reply.error.code] ?? 0) + 1;
          firstError ||= `${reply.error.code}: ${reply.error.message}`;
        }
      }
      return { ok, failed: pending.length - ok, codes, firstError };
    },

    /**
     * Sends the same request from every socket (e.g. `$live.subscribe`) and counts the replies; `replyBytes` is
     * the size of the first reply, as a sample.
     */
    async 'request.all'(args: { type: string; data: unknown; timeoutMs?: number }) {
      mode = 'json';
      const replies = await Promise.all(sockets.map((socket) => request(socket, args.type, args.data, args.timeoutMs ?? 20_000)));
      const codes: Record<string, number> = {};
      let ok = 0;
      let firstError = '';
      for (const reply of replies) {
        if (!reply.error) ok++;
        else {
          codes[reply.error.code] = (codes[reply.error.code] ?? 0) + 1;
          firstError ||= `${reply.error.code}: ${reply.error.message}`;
        }
      }
      const sample = replies.find((reply) => !reply.error);
      return { ok, failed: replies.length - ok, codes, firstError, replyBytes: sample ? JSON.stringify(sample).length : 0 };
    },

    /** Starts every socket's closed loop: one request outstanding each, the next sent when the reply arrives. */
    'requests.start'() {
      mode = 'requests';
      requestState.running = true;
      for (const socket of sockets) if (!socket.closed) sendRequest(socket);
    },

    async 'requests.measure'(args: { durationMs: number }) {
      requestHistogram.reset();
      requestState.completed = 0;
      requestState.errors = {};
      const cpu = cpuUsage();
      const started = performance.now();
      requestState.measuring = true;
      await sleep(args.durationMs);
      requestState.measuring = false;
      const elapsedMs = performance.now() - started;
      return {
        completed: requestState.completed,
        errors: requestState.errors,
        elapsedMs,
        cpuUs: cpuSince(cpu),
        closed: closedCount,
        histogram: requestHistogram.toData(),
      };
    },

    async 'requests.stop'() {
      requestState.running = false;
      const deadline = performance.now() + 3_000;
      while (requestState.outstanding > 0 && performance.now() < deadline) await sleep(10);
      mode = 'idle';
      return { outstanding: requestState.outstanding };
    },

    'requests.totals': () => ({ ...requestTotals, outstanding: requestState.outstanding }),

    /** Starts counting deliveries with seq >= minSeq (earlier ones are stragglers of a previous step). */
    'subscriber.reset'(args: { minSeq: number }) {
      mode = 'subscriber';
      received.fill(0);
      deliveryHistogram.reset();
      Object.assign(subscriber, { minSeq: args.minSeq, stale: 0, other: 0, otherSample: '', firstUs: 0, lastUs: 0, bytes: 0, cpu: cpuUsage(), startedMs: performance.now() });
    },

    'subscriber.totals'() {
      let total = 0;
      for (let i = 0; i < sockets.length; i++) total += received[i]!;
      return { received: total, closed: closedCount };
    },

    /** Counts against `expected` deliveries per socket: what each one is short of is a loss. */
    'subscriber.collect'(args: { expected: number }) {
      let total = 0;
      let short = 0;
      let missing = 0;
      let extra = 0;
      for (let i = 0; i < sockets.length; i++) {
        const count = received[i]!;
        total += count;
        if (count < args.expected) {
          short++;
          missing += args.expected - count;
        } else extra += count - args.expected;
      }
      return {
        received: total,
        subscribers: sockets.length,
        short,
        missing,
        extra,
        closed: closedCount,
        stale: subscriber.stale,
        other: subscriber.other,
        otherSample: subscriber.otherSample,
        firstUs: subscriber.firstUs,
        lastUs: subscriber.lastUs,
        bytes: subscriber.bytes,
        cpuUs: cpuSince(subscriber.cpu),
        wallMs: performance.now() - subscriber.startedMs,
        histogram: deliveryHistogram.toData() satisfies HistogramData,
      };
    },

    publish: (args: PublishArgs) => publish(args),

    /** Errors the server pushed to this process's sockets outside a request, since the last call. */
    'refused.take'() {
      const taken = { ...refused };
      for (const code of Object.keys(refused)) delete refused[code];
      return taken;
    },

    exit() {
      for (const socket of sockets) socket.destroy();
    },
  },
  { pid: process.pid },
);
