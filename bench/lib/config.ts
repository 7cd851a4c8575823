// Command-line options of `npm run bench` and the sizes and durations of each scenario, default and --quick.
import { parseArgs } from 'node:util';

/** Scenario names accepted by --only (comma-separated). `fanout` selects both fan-out parts. */
export const SCENARIOS = ['requests', 'fanout-rate', 'fanout-latency', 'memory', 'channels', 'live', 'rooms', 'audit', 'cluster'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

const ALIASES: Record<string, ScenarioName[]> = {
  fanout: ['fanout-rate', 'fanout-latency'],
  'request-reply': ['requests'],
  reqreply: ['requests'],
  'live-data': ['live'],
  room: ['rooms'],
  auditing: ['audit'],
  workers: ['cluster'],
  redis: ['cluster'],
};

/** Everything a run needs to know. */
export interface BenchConfig {
  quick: boolean;
  only: ScenarioName[];
  /** Write V8 CPU profiles of the server children to .tmp/bench-profiles/. */
  profile: boolean;
  /** Processes the subscribers of the fan-out, memory and channel scenarios are spread over. */
  generators: number;
  requests: { clients: number; warmupMs: number; durationMs: number };
  fanoutRate: { subscribers: number; startRate: number; maxSteps: number; refineSteps: number; stepMs: number; drainMs: number; maxP99Ms: number };
  fanoutLatency: { subscribers: number; rate: number; warmupMs: number; durationMs: number; drainMs: number; maxP99Ms: number };
  memory: { connections: number };
  channels: { subscribers: number; channels: number; rate: number; warmupMs: number; durationMs: number; drainMs: number };
  /**
   * Live data: `subscribers` following one resource of `records` records, measured beside a channel of the same
   * subscribers; the highest sustained rate (stepped like fanoutRate), a fixed `rate`, and `recover.rounds`
   * recoveries of `recover.operations` missed operations (after one unmeasured round).
   */
  live: {
    subscribers: number;
    records: number;
    startRate: number;
    maxSteps: number;
    refineSteps: number;
    stepMs: number;
    drainMs: number;
    maxP99Ms: number;
    rate: number;
    warmupMs: number;
    durationMs: number;
    recover: { operations: number; rounds: number; timeoutMs: number };
  };
  /**
   * Rooms: `rooms` instances of `members` members exchanging messages (a fixed `rate` for `durationMs`, then the
   * highest sustained rate, stepped like fanoutRate, of `say` and `move` in turn); `emptyRooms` empty instances and
   * `threadRooms` thread instances for memory and creation time; closed loops inline vs thread (`loopMembers`
   * members, `windows` windows of `windowMs` each); and a thread room stuck in an endless loop beside a neighbour.
   */
  rooms: {
    rooms: number;
    members: number;
    rate: number;
    warmupMs: number;
    durationMs: number;
    startRate: number;
    maxSteps: number;
    refineSteps: number;
    stepMs: number;
    drainMs: number;
    maxP99Ms: number;
    emptyRooms: number;
    threadRooms: number;
    loopMembers: number;
    windowMs: number;
    windows: number;
    stall: { neighbours: number; pings: number; intervalMs: number; baselineMs: number; timeoutMs: number };
  };
  /**
   * Audit: request/reply as scenario 1 (`clients` closed loops), auditing off vs a store that discards vs SQLite vs
   * PostgreSQL, `windows` windows of `windowMs` each, then `sustainMs` of uninterrupted load per server (does the store keep up?).
   */
  audit: { clients: number; warmupMs: number; windowMs: number; windows: number; sustainMs: number; settleTimeoutMs: number };
  /**
   * Cluster: (a) an agent with 1 worker and one with 2 (`subscribers` each, subscribed to one channel), broadcast and
   * channel fan-out at a fixed `rate` in alternating windows (`windows` of `windowMs` per cluster and message, after
   * a warm-up), then the highest sustained rate of broadcast and of a channel with history in each (stepped like
   * fanoutRate, the four searches in turn);
   * (b) two single-process nodes over a throwaway Redis: `redis.subscribers` on node B, a publisher on node A at
   * `redis.rate`, beside the same on one node without Redis and on node B alone over Redis, in rotating windows.
   */
  cluster: {
    subscribers: number;
    rate: number;
    warmupMs: number;
    windowMs: number;
    windows: number;
    drainMs: number;
    search: { startRate: number; maxSteps: number; refineSteps: number; stepMs: number; drainMs: number; maxP99Ms: number };
    /** The channel with history's search: as `search`, from its own start rate; and one process's step at `referenceRate`. */
    historySearch: { startRate: number; maxSteps: number; referenceRate: number };
    redis: { subscribers: number; rate: number; warmupMs: number; windowMs: number; windows: number; drainMs: number };
  };
}

export const USAGE = `Usage: npm run bench -- [--quick] [--only <names>] [--profile] [--generators <n>]

  --quick           shorter durations and smaller counts (about three minutes)
  --only <names>    comma-separated: ${SCENARIOS.join(', ')} (fanout = both fan-out parts;
                    live = live data: resource fan-out beside a channel, and recovery after a reconnect;
                    rooms = 1,000 rooms x 4 members, memory per room, thread vs inline rooms, a stuck thread room;
                    audit = request/reply with every message recorded to SQLite and PostgreSQL, vs not recorded;
                    cluster = fan-out through an agent with 1 and 2 workers, and across two nodes over Redis)
  --profile         write CPU profiles of the server processes to .tmp/bench-profiles/
  --generators <n>  load-generator processes for the subscribers (default 2)
`;

/** Parses argv; throws with the usage text on a bad option. */
export function parseConfig(argv: string[]): BenchConfig | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        profile: { type: 'boolean', default: false },
        generators: { type: 'string', default: '2' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    throw new Error(`${(error as Error).message}\n\n${USAGE}`, { cause: error });
  }
  if (values.help) return 'help';
  const only = new Set<ScenarioName>();
  for (const name of (values.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    const expanded = ALIASES[name] ?? ((SCENARIOS as readonly string[]).includes(name) ? [name as ScenarioName] : undefined);
    if (!expanded) throw new Error(`unknown scenario "${name}"\n\n${USAGE}`);
    for (const scenario of expanded) only.add(scenario);
  }
  const generators = Number(values.generators);
  if (!Number.isInteger(generators) || generators < 1 || generators > 8) throw new Error(`--generators must be 1 to 8\n\n${USAGE}`);
  const quick = values.quick;
  return {
    quick,
    only: SCENARIOS.filter((name) => only.has(name)),
    profile: values.profile,
    generators,
    requests: quick ? { clients: 50, warmupMs: 500, durationMs: 2_000 } : { clients: 50, warmupMs: 1_000, durationMs: 5_000 },
    fanoutRate: quick
      ? { subscribers: 500, startRate: 200, maxSteps: 6, refineSteps: 1, stepMs: 1_000, drainMs: 2_000, maxP99Ms: 200 }
      : { subscribers: 1_000, startRate: 100, maxSteps: 9, refineSteps: 2, stepMs: 2_000, drainMs: 3_000, maxP99Ms: 200 },
    fanoutLatency: quick
      ? { subscribers: 1_000, rate: 100, warmupMs: 500, durationMs: 2_000, drainMs: 3_000, maxP99Ms: 200 }
      : { subscribers: 5_000, rate: 100, warmupMs: 1_000, durationMs: 5_000, drainMs: 5_000, maxP99Ms: 200 },
    memory: { connections: quick ? 2_000 : 10_000 },
    channels: quick
      ? { subscribers: 1_000, channels: 100, rate: 100, warmupMs: 500, durationMs: 2_000, drainMs: 3_000 }
      : { subscribers: 5_000, channels: 100, rate: 100, warmupMs: 1_000, durationMs: 5_000, drainMs: 5_000 },
    live: quick
      ? {
          subscribers: 1_000, records: 100, startRate: 200, maxSteps: 6, refineSteps: 1, stepMs: 1_000, drainMs: 2_000, maxP99Ms: 200,
          rate: 500, warmupMs: 500, durationMs: 2_000, recover: { operations: 10_000, rounds: 3, timeoutMs: 10_000 },
        }
      : {
          subscribers: 1_000, records: 100, startRate: 100, maxSteps: 9, refineSteps: 2, stepMs: 2_000, drainMs: 3_000, maxP99Ms: 200,
          rate: 500, warmupMs: 1_000, durationMs: 5_000, recover: { operations: 10_000, rounds: 5, timeoutMs: 10_000 },
        },
    rooms: quick
      ? {
          rooms: 250, members: 4, rate: 1_000, warmupMs: 500, durationMs: 2_000, startRate: 2_000, maxSteps: 4, refineSteps: 1, stepMs: 1_000, drainMs: 2_000, maxP99Ms: 200,
          emptyRooms: 2_000, threadRooms: 2, loopMembers: 16, windowMs: 1_000, windows: 2,
          stall: { neighbours: 4, pings: 2, intervalMs: 10, baselineMs: 2_000, timeoutMs: 15_000 },
        }
      : {
          rooms: 1_000, members: 4, rate: 4_000, warmupMs: 1_000, durationMs: 5_000, startRate: 8_000, maxSteps: 6, refineSteps: 2, stepMs: 2_000, drainMs: 3_000, maxP99Ms: 200,
          emptyRooms: 10_000, threadRooms: 5, loopMembers: 16, windowMs: 1_000, windows: 4,
          stall: { neighbours: 4, pings: 2, intervalMs: 10, baselineMs: 3_000, timeoutMs: 15_000 },
        },
    audit: quick
      ? { clients: 50, warmupMs: 500, windowMs: 1_000, windows: 2, sustainMs: 3_000, settleTimeoutMs: 30_000 }
      : { clients: 50, warmupMs: 1_000, windowMs: 1_000, windows: 5, sustainMs: 10_000, settleTimeoutMs: 60_000 },
    cluster: quick
      ? {
          subscribers: 1_000, rate: 1_000, warmupMs: 500, windowMs: 1_000, windows: 2, drainMs: 3_000,
          search: { startRate: 800, maxSteps: 3, refineSteps: 1, stepMs: 1_000, drainMs: 2_000, maxP99Ms: 200 },
          historySearch: { startRate: 40, maxSteps: 3, referenceRate: 800 },
          redis: { subscribers: 100, rate: 100, warmupMs: 500, windowMs: 1_000, windows: 2, drainMs: 3_000 },
        }
      : {
          subscribers: 1_000, rate: 1_000, warmupMs: 1_000, windowMs: 2_000, windows: 3, drainMs: 3_000,
          search: { startRate: 400, maxSteps: 6, refineSteps: 2, stepMs: 1_500, drainMs: 3_000, maxP99Ms: 200 },
          historySearch: { startRate: 25, maxSteps: 6, referenceRate: 800 },
          redis: { subscribers: 100, rate: 100, warmupMs: 1_000, windowMs: 1_500, windows: 3, drainMs: 3_000 },
        },
  };
}
