// Room load client (scenario 6): lite WebSocket connections that join room instances and, on command, send room
// messages at a fixed rate (every member in turn) and count what reaches the other members, or run closed-loop
// requests (a room's echo, a plain $ping) in named loops measured side by side, or stall a thread room.
import { cpuUsage } from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import { serveCommands } from '../lib/ipc.ts';
import { LiteSocket, nowUs, type LiteHandlers } from '../lib/lite-ws.ts';

const TEXT = 'hello from the switchboard benchmark';
const SEQ_KEY = Buffer.from('{"seq":');
const T_KEY = Buffer.from('"t":');
const ID_KEY = Buffer.from('"id":');
const ERROR_KEY = Buffer.from('"error":');
// Pushes that carry a member's message: a room message (`say`) or a state patch (`move`).
const DELIVERY_PREFIXES = [Buffer.from('{"type":"$room.message"'), Buffer.from('{"type":"$room.state"')];

interface Reply {
  type?: string;
  id?: number;
  data?: unknown;
  error?: { code: string; message: string };
}

const sockets: LiteSocket[] = [];
let closedCount = 0;
let nextId = 1;

function readUint(buffer: Buffer, at: number, end: number): number {
  let value = 0;
  for (; at < end; at++) {
    const digit = buffer[at]! - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Where `key` is in `buffer[start, end)`, or -1. Bounded: the shared read buffer is 256 KiB, and an unbounded
 * `indexOf` for a key a frame does not hold (`"error":` in a good reply) would scan all of it, stale bytes included.
 */
function find(buffer: Buffer, key: Buffer, start: number, end: number): number {
  const at = buffer.subarray(start, end).indexOf(key);
  return at < 0 ? -1 : start + at;
}

function startsWith(buffer: Buffer, start: number, end: number, prefix: Buffer): boolean {
  return end - start >= prefix.length && buffer.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0;
}

function count(codes: Record<string, number>, code: string): void {
  codes[code] = (codes[code] ?? 0) + 1;
}

// ---------------------------------------------------------------- one-off requests (joins, probes, the spin)

const waiters = new Map<number, (reply: Reply, atUs: number) => void>();

function request(socket: LiteSocket, type: string, data: unknown, timeoutMs: number): Promise<Reply & { ms: number }> {
  const id = nextId++;
  const sentUs = nowUs();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiters.delete(id);
      resolve({ error: { code: 'no_reply', message: `no reply to ${type} within ${timeoutMs} ms` }, ms: timeoutMs });
    }, timeoutMs);
    waiters.set(id, (reply, atUs) => {
      clearTimeout(timer);
      resolve({ ...reply, ms: (atUs - sentUs) / 1000 });
    });
    socket.send(JSON.stringify({ type, id, data }));
  });
}

// ---------------------------------------------------------------- members: which room each socket is in

/** Local room index of each socket (-1: none), and each local room's id. */
const roomOf: number[] = [];
const roomIds: string[] = [];
/** The sockets of each local room. */
const membersOf: number[][] = [];

// ---------------------------------------------------------------- open loop at a fixed rate: room traffic

const rate = {
  minSeq: 0,
  /** Deliveries each socket should get per message a room-mate sends: `say` reaches the others, `move` everyone. */
  includeSelf: false,
  replies: 0,
  errors: {} as Record<string, number>,
  other: 0,
  stale: 0,
  firstUs: 0,
  lastUs: 0,
  cpu: cpuUsage(),
  startedMs: 0,
};
const received: number[] = [];
const sentBy: number[] = [];
const deliveryHistogram = new Histogram();

function onDelivery(socket: LiteSocket, buffer: Buffer, start: number, end: number, atUs: number): void {
  const seqAt = find(buffer, SEQ_KEY, start, end);
  const tAt = seqAt < 0 ? -1 : find(buffer, T_KEY, seqAt, end);
  if (seqAt < 0 || tAt < 0) {
    rate.other++;
    return;
  }
  if (readUint(buffer, seqAt + SEQ_KEY.length, end) < rate.minSeq) {
    rate.stale++;
    return;
  }
  received[socket.index]!++;
  deliveryHistogram.record(atUs - readUint(buffer, tAt + T_KEY.length, end));
  if (rate.firstUs === 0) rate.firstUs = atUs;
  rate.lastUs = atUs;
}

interface RunArgs {
  /** Room message type: `say` or `move`. */
  type: string;
  seqStart: number;
  count: number;
  /** Messages per second from this process, all its members in turn. */
  rate: number;
}

/** Sends `count` room messages at `rate`, from each member in turn, stamped with the shared clock. */
function runRate(args: RunArgs): Promise<{ sent: number; firstUs: number; lastUs: number; ms: number }> {
  const members = sockets.filter((socket) => roomOf[socket.index]! >= 0);
  if (members.length === 0) throw new Error('rate.run: no socket is in a room');
  const started = performance.now();
  // Bounded in time as well as in count: a server that stops reading must not keep this loop going.
  const deadline = started + (args.count / args.rate) * 1000 + 30_000;
  let sent = 0;
  let firstUs = 0;
  let lastUs = 0;
  let turn = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(args.count, Math.floor(((now - started) * args.rate) / 1000) + 1);
      for (; sent < due; sent++) {
        const socket = members[turn++ % members.length]!;
        if (socket.closed) continue;
        lastUs = nowUs();
        firstUs ||= lastUs;
        sentBy[socket.index]!++;
        const room = roomIds[roomOf[socket.index]!]!;
        socket.send(`{"type":"$room.send","id":${nextId++},"data":{"room":"${room}","type":"${args.type}","data":{"seq":${args.seqStart + sent},"t":${lastUs},"text":"${TEXT}"}}}`);
      }
      if (sent >= args.count || now > deadline) {
        clearInterval(timer);
        resolve({ sent, firstUs, lastUs, ms: performance.now() - started });
      }
    };
    const timer = setInterval(tick, 2);
    tick();
  });
}

// ---------------------------------------------------------------- closed loops: one request outstanding per socket

/** A named closed loop over some sockets: a room's echo, or a plain message such as $ping. */
interface Loop {
  name: string;
  sockets: number[];
  /** The frame a socket sends, given a fresh id. */
  frame: (id: number) => string;
  /** Each socket sends at most once per `intervalMs` (0: as soon as the reply is in). */
  intervalMs: number;
  running: boolean;
  measuring: boolean;
  completed: number;
  outstanding: number;
  errors: Record<string, number>;
  histogram: Histogram;
  stopAt: number;
}

const loops = new Map<string, Loop>();
/** For each socket in a loop: its loop, the id it waits for, and when that request went out. */
const loopOf: (Loop | undefined)[] = [];
const expectedId: number[] = [];
const sentAtUs: number[] = [];
/** A loop runs at most this long, whatever its commands say: the backstop of a bound in time. */
const LOOP_MAX_MS = 120_000;

function loopSend(loop: Loop, socket: LiteSocket): void {
  const id = nextId++;
  expectedId[socket.index] = id;
  sentAtUs[socket.index] = nowUs();
  loop.outstanding++;
  socket.send(loop.frame(id));
}

function onLoopReply(loop: Loop, socket: LiteSocket, buffer: Buffer, start: number, end: number, atUs: number): void {
  loop.outstanding--;
  if (loop.measuring) {
    if (find(buffer, ERROR_KEY, start, end) >= 0) count(loop.errors, (JSON.parse(buffer.toString('utf8', start, end)) as Reply).error?.code ?? 'unknown');
    else {
      loop.completed++;
      loop.histogram.record(atUs - sentAtUs[socket.index]!);
    }
  }
  if (!loop.running || socket.closed || performance.now() >= loop.stopAt) return;
  const waitMs = loop.intervalMs - (atUs - sentAtUs[socket.index]!) / 1000;
  if (waitMs < 1) return loopSend(loop, socket);
  setTimeout(() => {
    if (loop.running && !socket.closed && loopOf[socket.index] === loop) loopSend(loop, socket);
  }, waitMs);
}

type LoopTarget = { room: string; type: string } | { plain: string };

function frameOf(target: LoopTarget): (id: number) => string {
  if ('plain' in target) return (id) => `{"type":"${target.plain}","id":${id}}`;
  return (id) => `{"type":"$room.send","id":${id},"data":{"room":"${target.room}","type":"${target.type}","data":{"seq":${id},"t":0,"text":"${TEXT}"}}}`;
}

interface LoopFigures {
  name: string;
  completed: number;
  errors: Record<string, number>;
  elapsedMs: number;
  histogram: HistogramData;
}

function measureStart(names: string[]): Loop[] {
  return names.map((name) => {
    const loop = loops.get(name);
    if (!loop) throw new Error(`no loop ${name}`);
    loop.completed = 0;
    loop.errors = {};
    loop.histogram.reset();
    loop.measuring = true;
    return loop;
  });
}

function measureEnd(measured: Loop[], startedMs: number): LoopFigures[] {
  const elapsedMs = performance.now() - startedMs;
  return measured.map((loop) => {
    loop.measuring = false;
    return { name: loop.name, completed: loop.completed, errors: { ...loop.errors }, elapsedMs, histogram: loop.histogram.toData() };
  });
}

// ---------------------------------------------------------------- frames

const handlers: LiteHandlers = {
  message(socket, buffer, start, end, atUs) {
    if (startsWith(buffer, start, end, DELIVERY_PREFIXES[0]!) || startsWith(buffer, start, end, DELIVERY_PREFIXES[1]!)) {
      onDelivery(socket, buffer, start, end, atUs);
      return;
    }
    // A reply: its id comes right after the type.
    const idAt = find(buffer, ID_KEY, start, Math.min(end, start + 64));
    if (idAt < 0) {
      rate.other++;
      return;
    }
    const id = readUint(buffer, idAt + ID_KEY.length, end);
    const waiter = waiters.get(id);
    if (waiter) {
      waiters.delete(id);
      waiter(JSON.parse(buffer.toString('utf8', start, end)) as Reply, atUs);
      return;
    }
    const loop = loopOf[socket.index];
    if (loop && expectedId[socket.index] === id) {
      onLoopReply(loop, socket, buffer, start, end, atUs);
      return;
    }
    rate.replies++;
    if (find(buffer, ERROR_KEY, start, end) >= 0) count(rate.errors, (JSON.parse(buffer.toString('utf8', start, end)) as Reply).error?.code ?? 'unknown');
  },
  close() {
    closedCount++;
  },
};

interface ConnectArgs {
  port: number;
  path: string;
  count: number;
  concurrency?: number;
  timeoutMs?: number;
}

async function connectAll(args: ConnectArgs): Promise<{ connected: number; failed: number; firstError: string; ms: number; first: number }> {
  const started = performance.now();
  const options = { host: '127.0.0.1', port: args.port, path: args.path, awaitGreeting: true, timeoutMs: args.timeoutMs ?? 15_000 };
  const first = sockets.length;
  let next = 0;
  let connected = 0;
  let failed = 0;
  let firstError = '';
  const opened: (LiteSocket | undefined)[] = [];
  const worker = async () => {
    while (next < args.count) {
      const slot = next++;
      try {
        opened[slot] = await LiteSocket.open(first + slot, options, handlers);
        connected++;
      } catch (error) {
        failed++;
        firstError ||= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency ?? 100, args.count) }, worker));
  if (failed > 0) {
    for (const socket of opened) socket?.destroy();
    return { connected: 0, failed, firstError, ms: performance.now() - started, first };
  }
  for (const socket of opened) {
    sockets.push(socket!);
    roomOf.push(-1);
    received.push(0);
    sentBy.push(0);
    loopOf.push(undefined);
    expectedId.push(0);
    sentAtUs.push(0);
  }
  return { connected, failed, firstError, ms: performance.now() - started, first };
}

serveCommands(
  {
    connect: (args: ConnectArgs) => connectAll(args),

    /**
     * Sockets `from`, `from + 1`, … join `rooms` by id, `perRoom` sockets each, in order; at most `concurrency`
     * joins in flight. Throws with the first refusal.
     */
    async join(args: { rooms: string[]; perRoom: number; from: number; concurrency?: number; timeoutMs?: number }) {
      const started = performance.now();
      const jobs: { socket: number; room: number }[] = [];
      for (let r = 0; r < args.rooms.length; r++) {
        const local = roomIds.push(args.rooms[r]!) - 1;
        membersOf[local] = [];
        for (let m = 0; m < args.perRoom; m++) jobs.push({ socket: args.from + r * args.perRoom + m, room: local });
      }
      if (jobs.some((job) => sockets[job.socket] === undefined)) throw new Error(`join: sockets ${args.from}… are not all connected`);
      const codes: Record<string, number> = {};
      let firstError = '';
      let next = 0;
      const worker = async () => {
        while (next < jobs.length) {
          const job = jobs[next++]!;
          const reply = await request(sockets[job.socket]!, '$room.join', { room: roomIds[job.room] }, args.timeoutMs ?? 20_000);
          if (reply.error) {
            count(codes, reply.error.code);
            firstError ||= `${reply.error.code}: ${reply.error.message}`;
            continue;
          }
          roomOf[job.socket] = job.room;
          membersOf[job.room]!.push(job.socket);
        }
      };
      await Promise.all(Array.from({ length: Math.min(args.concurrency ?? 50, jobs.length) }, worker));
      if (firstError) throw new Error(`${Object.values(codes).reduce((a, b) => a + b, 0)} of ${jobs.length} joins refused: ${firstError}`);
      // The join announcements ($room.member) to the members already seated are in flight; let them land.
      await sleep(200);
      return { joined: jobs.length, ms: performance.now() - started };
    },

    /** Starts counting deliveries with seq >= minSeq (earlier ones are stragglers of a previous step). */
    'rate.reset'(args: { minSeq: number; includeSelf: boolean }) {
      received.fill(0);
      sentBy.fill(0);
      deliveryHistogram.reset();
      Object.assign(rate, { minSeq: args.minSeq, includeSelf: args.includeSelf, replies: 0, errors: {}, other: 0, stale: 0, firstUs: 0, lastUs: 0, cpu: cpuUsage(), startedMs: performance.now() });
    },

    'rate.run': (args: RunArgs) => runRate(args),

    /** Deliveries so far, and how many the room-mates' messages call for. */
    'rate.totals'() {
      let got = 0;
      let expected = 0;
      for (const members of membersOf) {
        const sent = members.reduce((n, i) => n + sentBy[i]!, 0);
        for (const i of members) {
          got += received[i]!;
          expected += rate.includeSelf ? sent : sent - sentBy[i]!;
        }
      }
      return { received: got, expected, replies: rate.replies };
    },

    /** What each member is short of is a loss. */
    'rate.collect'() {
      let got = 0;
      let expected = 0;
      let missing = 0;
      let extra = 0;
      let short = 0;
      for (const members of membersOf) {
        const sent = members.reduce((n, i) => n + sentBy[i]!, 0);
        for (const i of members) {
          const want = rate.includeSelf ? sent : sent - sentBy[i]!;
          got += received[i]!;
          expected += want;
          if (received[i]! < want) {
            short++;
            missing += want - received[i]!;
          } else extra += received[i]! - want;
        }
      }
      const cpu = cpuUsage(rate.cpu);
      return {
        received: got,
        expected,
        missing,
        extra,
        short,
        replies: rate.replies,
        errors: { ...rate.errors },
        other: rate.other,
        stale: rate.stale,
        closed: closedCount,
        firstUs: rate.firstUs,
        lastUs: rate.lastUs,
        cpuUs: cpu.user + cpu.system,
        wallMs: performance.now() - rate.startedMs,
        histogram: deliveryHistogram.toData(),
      };
    },

    /** Defines (or redefines) a closed loop over `count` sockets from `from`, sending to `target`. */
    'loop.define'(args: { name: string; from: number; count: number; target: LoopTarget; intervalMs?: number }) {
      const members = Array.from({ length: args.count }, (_, i) => args.from + i);
      if (members.some((i) => sockets[i] === undefined)) throw new Error(`loop.define: sockets ${args.from}… are not all connected`);
      const loop: Loop = {
        name: args.name,
        sockets: members,
        frame: frameOf(args.target),
        intervalMs: args.intervalMs ?? 0,
        running: false,
        measuring: false,
        completed: 0,
        outstanding: 0,
        errors: {},
        histogram: new Histogram(),
        stopAt: 0,
      };
      loops.set(args.name, loop);
      for (const i of members) loopOf[i] = loop;
    },

    /** Starts loops: one request outstanding per socket, the next sent when the reply arrives (for LOOP_MAX_MS at most). */
    'loop.start'(args: { names: string[] }) {
      for (const name of args.names) {
        const loop = loops.get(name);
        if (!loop) throw new Error(`no loop ${name}`);
        if (loop.running) continue;
        loop.running = true;
        loop.stopAt = performance.now() + LOOP_MAX_MS;
        for (const i of loop.sockets) if (!sockets[i]!.closed) loopSend(loop, sockets[i]!);
      }
    },

    async 'loop.measure'(args: { names: string[]; durationMs: number }) {
      const measured = measureStart(args.names);
      const started = performance.now();
      const cpu = cpuUsage();
      await sleep(args.durationMs);
      const used = cpuUsage(cpu);
      return { loops: measureEnd(measured, started), cpuUs: used.user + used.system };
    },

    /** Stops loops and waits (3 s at most) for their last replies. */
    async 'loop.stop'(args: { names: string[] }) {
      const stopping = args.names.map((name) => loops.get(name)).filter((loop): loop is Loop => loop !== undefined);
      for (const loop of stopping) loop.running = false;
      const deadline = performance.now() + 3_000;
      while (stopping.some((loop) => loop.outstanding > 0) && performance.now() < deadline) await sleep(10);
      return { outstanding: stopping.reduce((n, loop) => n + loop.outstanding, 0) };
    },

    /** One request from one socket: the reply and how long it took. */
    request: (args: { socket: number; type: string; data: unknown; timeoutMs?: number }) => {
      const socket = sockets[args.socket];
      if (!socket) throw new Error(`request: no socket ${args.socket}`);
      return request(socket, args.type, args.data, args.timeoutMs ?? 10_000);
    },

    /**
     * Stalls a thread room: measures `loops` while socket `socket` sends `spin` to `room` (its thread loops
     * forever), until the watchdog ends the thread (the spin's error reply) and the restarted room answers an
     * `echo` again (probed every `probeMs`, `timeoutMs` at most for all of it).
     */
    async stall(args: { socket: number; room: string; loops: string[]; probeMs: number; timeoutMs: number }) {
      const socket = sockets[args.socket];
      if (!socket) throw new Error(`stall: no socket ${args.socket}`);
      const measured = measureStart(args.loops);
      const started = performance.now();
      const cpu = cpuUsage();
      const spin = await request(socket, '$room.send', { room: args.room, type: 'spin', data: {} }, args.timeoutMs);
      const endedMs = performance.now() - started;
      let back: (Reply & { ms: number }) | undefined;
      let probes = 0;
      const probeErrors: Record<string, number> = {};
      while (performance.now() - started < args.timeoutMs) {
        probes++;
        const probe = await request(socket, '$room.send', { room: args.room, type: 'echo', data: { seq: probes, t: 0, text: TEXT } }, Math.max(1, args.timeoutMs - (performance.now() - started)));
        if (!probe.error) {
          back = probe;
          break;
        }
        count(probeErrors, probe.error.code);
        await sleep(args.probeMs);
      }
      const backMs = performance.now() - started;
      const used = cpuUsage(cpu);
      return {
        spin: { error: spin.error, ms: spin.ms },
        endedMs,
        backMs: back ? backMs : null,
        probes,
        probeErrors,
        loops: measureEnd(measured, started),
        cpuUs: used.user + used.system,
      };
    },

    exit() {
      for (const socket of sockets) socket.destroy();
    },
  },
  { pid: process.pid },
);
