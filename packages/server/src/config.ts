// Server options: their defaults, and validation that names exactly what is wrong.
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Codec } from '@switchboard/protocol';
import type { Bus } from './bus/bus.ts';
import type { Transport } from './transport/transport.ts';
import type { AnyPlug, Hooks } from './plug/define.ts';
import type { AuthOptions } from './auth/options.ts';
import type { ChannelOptions } from './channel/options.ts';
import { DevErrorCode, SwitchboardError } from './errors.ts';

const limitsSchema = z.object({
  /** Largest frame accepted, in bytes; larger ones close the connection with 1009. */
  maxPayload: z.number().int().min(64).default(1024 * 1024),
  /** Bytes that may wait to be sent to one connection before it is closed as a slow consumer (4001). */
  maxBufferedBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
  /** Open connections at most; further upgrades get HTTP 503. 0 = no limit. */
  maxConnections: z.number().int().min(0).default(0),
  /** Requests one connection may have running at once; more are refused with rate_limited. */
  maxInFlight: z.number().int().min(1).default(64),
  rateLimit: z
    .object({
      messagesPerSecond: z.number().min(0).default(200),
      burst: z.number().min(1).default(400),
      closeAfter: z.number().int().min(0).default(200),
      windowMs: z.number().int().min(1).default(10_000),
    })
    .prefault({}),
});

/** Options of `createServer`, validated and with their defaults; see docs/configuration.md. */
export const optionsSchema = z.object({
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
  /** Folder of static files to serve, or false. */
  public: z.union([z.string().min(1), z.literal(false)]).default(false),
  /** A folder of plug files (watched when `watch` is true), or plug objects (static mode). */
  plugs: z.union([z.string().min(1), z.array(z.custom<AnyPlug>((v) => typeof v === 'object' && v !== null))]).default([]),
  /** Reload plugs when their files change. */
  watch: z.boolean().default(false),
  heartbeat: z
    .object({
      /** Ping every connection this often; one that has not answered the previous ping is dropped. 0 = off. */
      intervalMs: z.number().int().min(0).default(30_000),
    })
    .prefault({}),
  /** Close connections that sent nothing for this long (4000). 0 = off. */
  idleTimeoutMs: z.number().int().min(0).default(0),
  /** How long graceful shutdown waits for handlers and clients before forcing. */
  shutdownTimeoutMs: z.number().int().min(0).default(10_000),
  limits: limitsSchema.prefault({}),
});

/** What `createServer` accepts. */
export type ServerOptions = z.input<typeof optionsSchema> & {
  hooks?: Hooks;
  logger?: Logger;
  /** Codecs offered, the first one the default. JSON only in protocol v1. */
  codecs?: Codec[];
  bus?: Bus;
  transport?: Transport;
  /** Generated files served at fixed paths (the CLI serves the browser SDK at /switchboard.js this way). */
  assets?: Record<string, Asset>;
  /** Identity and grants: tokens, hooks, default grants, expiry (see docs/auth.md). Validated by createServer. */
  auth?: AuthOptions;
  /** Channel limits (see docs/channels.md). Validated by createServer. */
  channels?: ChannelOptions;
};

/** A generated file the server serves; `load` runs once, on the first request. */
export interface Asset {
  contentType: string;
  load(): Promise<string | Uint8Array>;
}

/** Options after validation and defaults. */
export type ResolvedOptions = z.output<typeof optionsSchema>;

/** Validates options; a problem becomes SB_CONFIG_INVALID naming each bad field. */
export function resolveOptions(options: ServerOptions): ResolvedOptions {
  const { hooks: _h, logger: _l, codecs: _c, bus: _b, transport: _t, assets: _as, auth: _au, channels: _ch, ...plain } = options;
  const parsed = optionsSchema.safeParse(plain);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(options)'}: ${issue.message}`);
    throw new SwitchboardError(DevErrorCode.configInvalid, `invalid server options: ${problems.join('; ')}`);
  }
  return parsed.data;
}
