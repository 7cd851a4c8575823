// Server options: one schema for every option of createServer, its defaults, and errors that name what is wrong.
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Codec } from '@switchboard/protocol';
import type { Bus } from './bus/bus.ts';
import type { History } from './stream/history.ts';
import type { PresenceStore } from './presence/presence-store.ts';
import type { Store } from './store/store.ts';
import type { Transport } from './transport/transport.ts';
import { HOOK_NAMES, type AnyPlug, type Hooks } from './plug/define.ts';
import type { AuthOptions } from './auth/options.ts';
import { addressLimitsSchema } from './connection/address-limits.ts';
import { FaultPolicy } from './observe/faults.ts';
import { compileFormat } from './observe/access-log.ts';
import { DevErrorCode, SwitchboardError } from './errors.ts';

/** A generated file the server serves; `load` runs once, on the first request. */
export interface Asset {
  contentType: string;
  load(): Promise<string | Uint8Array>;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isFunction = (value: unknown): boolean => typeof value === 'function';

const limitsSchema = z.strictObject({
  /** Largest frame accepted, in bytes; larger ones close the connection with 1009. */
  maxPayload: z.number().int().min(64).default(1024 * 1024),
  /** Bytes that may wait to be sent to one connection before it is closed as a slow consumer (4001). */
  maxBufferedBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
  /** Open connections at most; further upgrades get HTTP 503. 0 = no limit. */
  maxConnections: z.number().int().min(0).default(0),
  /** Requests one connection may have running at once; more are refused with rate_limited. */
  maxInFlight: z.number().int().min(1).default(64),
  /** A handler that has not settled after this long fails with `timeout` and stops counting in flight. 0 = never. */
  handlerTimeoutMs: z.number().int().min(0).default(30_000),
  /** Frames a connection may send before `$welcome` (while onConnect hooks run); past it, 1008 once they are handled. */
  maxEarlyFrames: z.number().int().min(1).default(256),
  /** Bytes of frames a connection may send before `$welcome`. */
  maxEarlyBytes: z.number().int().min(1024).default(1024 * 1024),
  /** A TCP connection that has not completed its WebSocket upgrade (or HTTP request) after this long gets 408 and is closed. 0 = off. */
  upgradeTimeoutMs: z.number().int().min(0).default(5_000),
  rateLimit: z
    .strictObject({
      messagesPerSecond: z.number().min(0).default(200),
      burst: z.number().min(1).default(400),
      closeAfter: z.number().int().min(0).default(200),
      windowMs: z.number().int().min(1).default(10_000),
    })
    .prefault({}),
  /** Limits per remote address, across all of its connections (see docs/configuration.md). */
  perAddress: addressLimitsSchema.prefault({}),
});

const channelsSchema = z.strictObject({
  /** Channels one connection may be subscribed to at once. */
  maxPerConnection: z.number().int().min(1).default(100),
  /** Subscribers one channel may have on this node. */
  maxSubscribers: z.number().int().min(1).default(10_000),
  /** Largest `data` a client or HTTP publish may carry, measured as its JSON length. */
  maxMessageBytes: z.number().int().min(1).default(64 * 1024),
  /** Channels whose messages are kept, so that a subscriber can recover what it missed (docs/channels.md). */
  history: z
    .strictObject({
      /** Channel name patterns (`*` matches any run of characters) that keep history. Default: none. */
      channels: z.array(z.string().min(1)).default([]),
      /** Messages kept per channel, the newest. */
      maxPublications: z.number().int().min(1).default(100),
      /** How long a message is kept, in ms. */
      maxAgeMs: z.number().int().min(1).default(5 * 60_000),
      /** Most messages one `$subscribe` replays; more missed is "not recovered". */
      maxRecover: z.number().int().min(1).default(1000),
      /**
       * Messages this node may hold waiting for their place in a history that answers asynchronously (Redis, a
       * cluster's agent), across its channels; past it a publish is refused with `rate_limited`.
       */
      maxPending: z.number().int().min(1).default(10_000),
      /**
       * What those messages may weigh together, measured as their data's JSON length; past it a publish is
       * refused alike. With `maxPending` alone, 10,000 messages of 64 KiB would be 640 MiB.
       */
      maxPendingBytes: z.number().int().min(1).default(64 * 1024 * 1024),
    })
    .prefault({}),
});

const resourcesSchema = z.strictObject({
  /** Resource subscriptions (views) one connection may hold at once. */
  maxPerConnection: z.number().int().min(1).default(100),
  /** Records one resource may hold, unless its definition says otherwise; a create past it gets limit_exceeded. */
  maxRecords: z.number().int().min(1).default(100_000),
  /** The operations kept per resource, so that a subscriber can recover what it missed (docs/live-data.md). */
  history: z
    .strictObject({
      /** Operations kept per resource, the newest. */
      maxOperations: z.number().int().min(1).default(10_000),
      /** How long an operation is kept, in ms. */
      maxAgeMs: z.number().int().min(1).default(5 * 60_000),
    })
    .prefault({}),
  /** Most operations one `$live.subscribe` replays; more missed gets a fresh snapshot. */
  maxRecover: z.number().int().min(1).default(10_000),
  /** Most bytes (JSON) of operations one `$live.subscribe` replays; more gets a fresh snapshot (keep it under `limits.maxBufferedBytes`). */
  maxRecoverBytes: z.number().int().min(1024).default(4 * 1024 * 1024),
});

const roomsSchema = z.strictObject({
  /** Room instances this server runs at most; a create past it gets limit_exceeded. */
  maxInstances: z.number().int().min(1).default(10_000),
  /** Members one room may have unless its kind says otherwise. */
  maxMembers: z.number().int().min(1).default(100),
  /** Rooms one connection may be a member of. */
  maxPerConnection: z.number().int().min(1).default(20),
  /** How long an instance with no member lives on, in ms, unless its kind says otherwise. */
  emptyTimeoutMs: z.number().int().min(0).default(30_000),
  /** How long a member whose connection dropped keeps its seat, in ms. */
  seatHoldMs: z.number().int().min(0).default(10_000),
  /** A task of a room's code (a handler, a timer) that has not settled after this long counts as a failure. */
  taskTimeoutMs: z.number().int().min(1).default(10_000),
  /** Restart intensity: restarts allowed within a window before an instance is stopped. */
  restart: z
    .strictObject({
      maxRestarts: z.number().int().min(0).default(3),
      withinMs: z.number().int().min(1).default(10_000),
    })
    .prefault({}),
  /** State patches kept per instance, so a member that reconnects catches up without a snapshot. */
  history: z.strictObject({ maxPatches: z.number().int().min(1).default(1_000) }).prefault({}),
});

const auditSchema = z.strictObject({
  /** Record every message (in and out) and every grant change and admin action. Default: on when a store is set. */
  enabled: z.boolean().optional(),
  /** Keep payloads in the records (redacted). */
  payloads: z.boolean().default(true),
  redact: z
    .strictObject({
      /** Message types whose payload is never recorded. */
      types: z.array(z.string().min(1)).default(['$auth']),
      /** Field names replaced by "[redacted]" at any depth. */
      fields: z.array(z.string().min(1)).default(['password', 'token', 'secret', 'authorization']),
    })
    .prefault({}),
  /** Records per store write. */
  batchSize: z.number().int().min(1).default(500),
  /**
   * Write records from a worker thread when the store can be opened there (SqliteStore on a file,
   * PostgresStore): the database driver's work then stays off the event loop. false: on the main thread.
   */
  thread: z.boolean().default(true),
  /** A record waits at most this long, in ms, before it is written. */
  flushMs: z.number().int().min(1).default(200),
  /** Records held in memory at most; beyond, they go to the spool (or are dropped without one). */
  maxQueue: z.number().int().min(1).default(50_000),
  /** The spool file used while the store is unavailable; false: none (records are dropped, counted). */
  spool: z.union([z.string().min(1), z.literal(false)]).default(false),
  /** The spool's size limit in bytes. */
  maxSpoolBytes: z.number().int().min(1024).default(512 * 1024 * 1024),
  /** How long audit records and closed connections are kept, in ms (0: forever). */
  retentionMs: z.number().int().min(0).default(30 * 24 * 3_600_000),
});

const accessLogSchema = z.strictObject({
  /** The file lines are appended to; reopened by `server.reopenLogs()` (SIGUSR1 under `handleSignals()`). Default: stdout. */
  file: z.string().min(1).optional(),
  /** The line's template, with nginx variable names (docs/configuration.md#access-log). Default: nginx `combined`. */
  format: z
    .string()
    .min(1)
    .optional()
    .superRefine((format, ctx) => {
      if (format === undefined) return;
      try {
        compileFormat(format);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }),
});

// auth is checked in detail by resolveAuthOptions (keys, algorithms, grants); here only its keys are known.
const AUTH_KEYS = [
  'secret',
  'publicKeys',
  'jwksUrl',
  'algorithms',
  'issuer',
  'audience',
  'anonymous',
  'defaultGrants',
  'authenticate',
  'authorize',
  'grantsClaim',
  'infoClaim',
  'onExpiry',
  'expiryWarningMs',
  'authTimeoutMs',
] as const;
const authSchema = z.strictObject(Object.fromEntries(AUTH_KEYS.map((key) => [key, z.unknown().optional()])) as Record<(typeof AUTH_KEYS)[number], z.ZodOptional<z.ZodUnknown>>);

const hooksSchema = z.custom<Hooks>(isObject, { message: 'must be an object of hook functions' }).superRefine((hooks, ctx) => {
  for (const [name, fn] of Object.entries(hooks)) {
    if (!(HOOK_NAMES as readonly string[]).includes(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `unknown hook${suggestion(name, HOOK_NAMES)}; hooks are ${HOOK_NAMES.join(', ')}`, params: { hook: true } });
    } else if (typeof fn !== 'function') {
      ctx.addIssue({ code: 'custom', path: [name], message: `must be a function, got ${fn === null ? 'null' : typeof fn}`, params: { hook: true } });
    }
  }
});

/** Every option of `createServer`, validated, with its default; see docs/configuration.md. */
export const optionsSchema = z.strictObject({
  /** Interface to listen on. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(3000),
  /** Where WebSocket upgrades are accepted. */
  path: z.string().startsWith('/').default('/ws'),
  /** Prefix of the admin HTTP API. */
  adminPath: z.string().startsWith('/').default('/admin'),
  /** Bearer token for the admin API. Without one, the admin API answers loopback clients only. */
  adminToken: z.string().min(16, 'adminToken must be at least 16 characters').optional(),
  /** Health check for load balancers and orchestrators: 200 while serving, 503 while shutting down; false turns it off. */
  healthPath: z.union([z.string().startsWith('/'), z.literal(false)]).default('/healthz'),
  /** Prometheus metrics (text exposition format), protected like the admin API; false turns it off. */
  metricsPath: z.union([z.string().startsWith('/'), z.literal(false)]).default('/metrics'),
  /** One line per HTTP request and WebSocket upgrade (nginx `combined` by default), to a file or stdout; off by default. */
  accessLog: z.union([accessLogSchema, z.literal(false)]).default(false),
  /** Folder of static files to serve, or false. */
  public: z.union([z.string().min(1), z.literal(false)]).default(false),
  /** A folder of plug files (watched when `watch` is true), or plug objects (static mode). */
  plugs: z.union([z.string().min(1), z.array(z.custom<AnyPlug>(isObject, { message: 'must be a plug from definePlug' }))]).default([]),
  /** Reload plugs when their files change. */
  watch: z.boolean().default(false),
  heartbeat: z
    .strictObject({
      /** Ping every connection this often; one that has not answered the previous ping is dropped. 0 = off. */
      intervalMs: z.number().int().min(0).default(30_000),
    })
    .prefault({}),
  /** Close connections that sent nothing for this long (4000). 0 = off. */
  idleTimeoutMs: z.number().int().min(0).default(0),
  /** How long graceful shutdown waits for handlers and clients before forcing. */
  shutdownTimeoutMs: z.number().int().min(0).default(10_000),
  limits: limitsSchema.prefault({}),
  /** What happens when plug code fails outside a handler, and when the event loop blocks (docs/plugs.md). */
  faults: z
    .strictObject({
      policy: z.enum([FaultPolicy.keepServing, FaultPolicy.unloadPlug, FaultPolicy.exit]).default(FaultPolicy.keepServing),
      /** Event-loop blocks at least this long are logged (SB_EVENT_LOOP_STALL) and counted. 0 = off. */
      stallMs: z.number().int().min(0).default(1_000),
    })
    .prefault({}),
  /**
   * Development checks: pushes and channel events a plug declares are validated against their schemas when
   * sent. Defaults to on unless NODE_ENV is `production`.
   */
  development: z.boolean().default(() => process.env.NODE_ENV !== 'production'),
  /** Global lifecycle hooks (docs/hooks.md). */
  hooks: hooksSchema.default({}),
  /** A pino logger; by default one at SWITCHBOARD_LOG_LEVEL (info). */
  logger: z.custom<Logger>((value) => isObject(value) && isFunction(value.info) && isFunction(value.child), { message: 'must be a pino logger' }).optional(),
  /** Codecs offered, the first one the default. JSON only in protocol v1. */
  codecs: z.array(z.custom<Codec>((value) => isObject(value) && isFunction(value.encode) && isFunction(value.decode), { message: 'must be a codec' })).optional(),
  /** Where channels with history keep their streams (default: in memory, bounded by `channels.history`). */
  history: z.custom<History>((value) => isObject(value) && isFunction(value.append) && isFunction(value.since), { message: 'must be a History' }).optional(),
  /** Who is in each presence channel, shared by the nodes of a cluster (default: in memory, this node only). */
  presence: z
    .custom<PresenceStore>((value) => isObject(value) && isFunction(value.add) && isFunction(value.remove) && isFunction(value.list) && isFunction(value.removeNode), {
      message: 'must be a PresenceStore',
    })
    .optional(),
  /** The fan-out bus (default: in memory). */
  bus: z.custom<Bus>((value) => isObject(value) && isFunction(value.publish) && isFunction(value.subscribe), { message: 'must be a Bus' }).optional(),
  /** The WebSocket transport (default: ws). */
  transport: z.custom<Transport>((value) => isObject(value) && isFunction(value.attach) && isFunction(value.prepare), { message: 'must be a Transport' }).optional(),
  /** Generated files served at fixed paths (the CLI serves the browser SDK at /switchboard.js this way). */
  assets: z.record(z.string().startsWith('/'), z.custom<Asset>((value) => isObject(value) && isFunction(value.load), { message: 'must be { contentType, load() }' })).optional(),
  /** Identity and grants (docs/auth.md); checked in detail by the auth feature. */
  auth: authSchema.optional(),
  /** Channel limits (docs/channels.md). */
  channels: channelsSchema.prefault({}),
  /** Live-data limits and history (docs/live-data.md). */
  resources: resourcesSchema.prefault({}),
  /** Room limits, timeouts and supervision (docs/rooms.md). */
  rooms: roomsSchema.prefault({}),
  /** Where connections, the audit log and runtime grants are kept (`new SqliteStore(...)`, a PostgresStore); none by default. */
  store: z.custom<Store>((value) => isObject(value) && isFunction(value.appendAudit) && isFunction(value.migrate), { message: 'must be a Store' }).optional(),
  /**
   * Addresses of the proxies in front of the server (a load balancer, nginx). A connection from one of them is
   * the client the proxy names in X-Forwarded-For: its records, per-address limits and logs use that address.
   */
  trustProxy: z.array(z.string().min(1)).default([]),
  /** This server's name on every record (default: the host name). */
  node: z.string().min(1).max(200).optional(),
  /**
   * Other nodes whose connections this server closes in the store when it starts, as it closes its own node's
   * (close code 1006): dead cluster workers, whose node names are not reused. The agent sets it.
   */
  staleNodes: z.array(z.string().min(1).max(200)).max(1_000).default([]),
  /** What is recorded and how (docs/operations.md). */
  audit: auditSchema.prefault({}),
  /**
   * Node liveness in a cluster whose presence store tracks it (RedisPresence): every `heartbeatMs` the node
   * says it is alive for `nodeTtlMs` and sweeps the nodes that stopped saying so, announcing their members' leaves.
   */
  cluster: z
    .strictObject({
      heartbeatMs: z.number().int().min(10).default(5_000),
      nodeTtlMs: z.number().int().min(30).default(15_000),
    })
    .refine((cluster) => cluster.nodeTtlMs > cluster.heartbeatMs, { message: 'nodeTtlMs must be longer than heartbeatMs' })
    .prefault({}),
});

/** What `createServer` accepts. */
export type ServerOptions = Omit<z.input<typeof optionsSchema>, 'auth' | 'hooks'> & {
  /** Global lifecycle hooks (docs/hooks.md). */
  hooks?: Hooks;
  /** Identity and grants: tokens, hooks, default grants, expiry (see docs/auth.md). */
  auth?: AuthOptions;
};

/** Options after validation and defaults. */
export type ResolvedOptions = Omit<z.output<typeof optionsSchema>, 'auth' | 'hooks'> & { auth: AuthOptions | undefined; hooks: Hooks };

/** `createServer({ channels })`: the limits of channels. See docs/channels.md. */
export type ChannelOptions = z.input<typeof channelsSchema>;
/** Channel options after validation and defaults. */
export type ResolvedChannelOptions = z.output<typeof channelsSchema>;

/** Audit options after validation and defaults. */
export type ResolvedAuditOptions = z.output<typeof auditSchema>;

/** Room options after validation and defaults. */
export type ResolvedRoomOptions = z.output<typeof roomsSchema>;

/** Resource options after validation and defaults. */
export type ResolvedResourceOptions = z.output<typeof resourcesSchema>;

/** Edit distance, for "did you mean". Hand-written: a dozen lines for option names of a few letters. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** ` "x"; did you mean "y"?` for the closest known name, or ` "x"` when none is close. */
export function suggestion(name: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const close = best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3));
  return close ? ` "${name}"; did you mean "${best}"?` : ` "${name}"`;
}

interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
}

/** The object shape inside a schema, through its wrappers (optional, default, prefault). */
function shapeOf(schema: z.ZodType): Record<string, z.ZodType> {
  let def = (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
  while (def.innerType && def.type !== 'object') def = (def.innerType as unknown as { _zod: { def: SchemaDef } })._zod.def;
  return def.shape ?? {};
}

/** The keys a (nested) object schema of `optionsSchema` knows, for suggestions. */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = optionsSchema;
  for (const key of path) {
    const next = shapeOf(schema)[String(key)];
    if (!next) return [];
    schema = next;
  }
  return Object.keys(shapeOf(schema));
}

/**
 * Validates options and fills in defaults. An unknown option is SB_CONFIG_UNKNOWN_OPTION naming the key and
 * the closest valid one; a bad global hook is SB_HOOK_INVALID; anything else is SB_CONFIG_INVALID naming
 * each bad field.
 *
 * @example
 * resolveOptions({ prot: 3000 }) // throws SB_CONFIG_UNKNOWN_OPTION: unknown option "prot"; did you mean "port"?
 */
export function resolveOptions(options: ServerOptions): ResolvedOptions {
  if (!isObject(options)) throw new SwitchboardError(DevErrorCode.configInvalid, 'invalid server options: createServer takes an object');
  const parsed = optionsSchema.safeParse(options);
  if (parsed.success) return parsed.data as ResolvedOptions;
  const unknown: string[] = [];
  const hooks: string[] = [];
  const problems: string[] = [];
  for (const issue of parsed.error.issues) {
    const where = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys) unknown.push(`unknown option${suggestion(where ? `${where}.${key}` : key, known.map((k) => (where ? `${where}.${k}` : k)))}`);
    } else if (issue.path[0] === 'hooks') {
      hooks.push(`hooks.${issue.path.slice(1).map(String).join('.')}: ${issue.message}`);
    } else {
      problems.push(`${where || '(options)'}: ${issue.message}`);
    }
  }
  if (unknown.length > 0) throw new SwitchboardError(DevErrorCode.configUnknownOption, `${unknown.join('; ')} (docs/configuration.md lists every option)`);
  if (hooks.length > 0) throw new SwitchboardError(DevErrorCode.hookInvalid, `invalid global hooks: ${hooks.join('; ')}`);
  throw new SwitchboardError(DevErrorCode.configInvalid, `invalid server options: ${problems.join('; ')}`);
}
