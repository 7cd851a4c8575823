// `switchboard audit`: queries a running server's audit log over its admin API — by user, connection, type,
// channel, room, resource or time — as a table or JSON lines, and follows it live with --follow.
import { UsageError, type ParsedArgs } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import type { TargetFlags } from '../config.ts';
import { AdminClient, table, time } from './admin-client.ts';

/** An audit record as `GET /admin/audit` returns it (the server's AuditRecord). */
interface AuditRecord {
  id: number;
  at: number;
  type: string;
  node: string;
  identityId?: string;
  connectionId?: string;
  channel?: string;
  room?: string;
  resource?: string;
  messageType?: string;
  size?: number;
  outcome?: string;
  recipients?: number;
  data?: Record<string, unknown>;
  /** A request's reply, recorded with it. */
  reply?: { at: number; size: number; outcome: string; data?: Record<string, unknown> };
}

interface AuditFlags extends TargetFlags {
  user?: string;
  connection?: string;
  type?: string;
  'message-type'?: string;
  channel?: string;
  room?: string;
  resource?: string;
  since?: string;
  until?: string;
  limit?: string;
  json?: boolean;
  follow?: boolean;
}

/** How often --follow asks for what is new. */
const FOLLOW_EVERY_MS = 1_000;

/** A time flag: ms since the epoch, ISO 8601, or a duration ago (`15m`, `2h`, `1d`). */
function parseTime(flag: string, text: string, now: number): number {
  const ago = /^(\d+)(s|m|h|d)$/.exec(text);
  if (ago) return now - Number(ago[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 's' | 'm' | 'h' | 'd'];
  const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(value)) throw new UsageError(`--${flag}: expected a time (2026-12-01T10:00:00Z, ms since the epoch, or 15m / 2h / 1d ago), got ${JSON.stringify(text)}`, 'audit');
  return value;
}

function query(flags: AuditFlags, now: number): URLSearchParams {
  const params = new URLSearchParams();
  const fields: [keyof AuditFlags, string][] = [
    ['user', 'identityId'],
    ['connection', 'connectionId'],
    ['type', 'type'],
    ['message-type', 'messageType'],
    ['channel', 'channel'],
    ['room', 'room'],
    ['resource', 'resource'],
  ];
  for (const [flag, field] of fields) {
    const value = flags[flag];
    if (typeof value !== 'string') continue;
    if (value.trim() === '') throw new UsageError(`--${flag}: expected a non-empty value`, 'audit');
    params.set(field, value);
  }
  if (flags.since !== undefined) params.set('since', String(parseTime('since', flags.since, now)));
  if (flags.until !== undefined) params.set('until', String(parseTime('until', flags.until, now)));
  if (flags.limit !== undefined) {
    if (!/^[1-9]\d*$/.test(flags.limit)) throw new UsageError(`--limit: expected a positive integer, got ${JSON.stringify(flags.limit)}`, 'audit');
    params.set('limit', flags.limit);
  }
  return params;
}

/** Characters of a record's details the table shows (`--json` has them whole). */
const DETAIL_CHARS = 80;

/** `value` as JSON, cut at `DETAIL_CHARS` with an ellipsis. */
function shortJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS - 1)}…` : text;
}

/**
 * What a record holds beyond the other columns, on one line: an admin request's method, path and answer, from
 * where, and the body it sent; otherwise its details (a message's payload and its reply's, a grant change's grants and result)
 * as JSON, cut at `DETAIL_CHARS`.
 */
function detailOf(record: AuditRecord): string {
  const data = record.data;
  if (record.type === 'admin.request' && data !== undefined) {
    const asked = `${String(data.method)} ${String(data.path)} → ${String(data.status)}${data.authorized === false ? ', token refused' : ''}, from ${String(data.remoteAddress)}`;
    return data.payload === undefined ? asked : `${asked}: ${shortJson(data.payload)}`;
  }
  const details = record.reply?.data === undefined ? data : { ...data, reply: record.reply.data };
  return details === undefined ? '' : shortJson(details);
}

function rowOf(record: AuditRecord): string[] {
  const where = record.channel ?? record.room ?? record.resource ?? '';
  const to = record.recipients !== undefined && record.type === 'message.fanout' ? `→${record.recipients}` : '';
  // A request and its reply: both sizes, the admission's outcome then the reply's, and how long it took.
  const reply = record.reply;
  return [
    time(new Date(record.at).toISOString()),
    record.type,
    record.messageType ?? '',
    record.identityId ?? '',
    record.connectionId ?? '',
    where,
    `${record.size ?? ''}${reply === undefined ? '' : ` → ${reply.size}`}`,
    `${record.outcome ?? ''}${to}${reply === undefined ? '' : ` → ${reply.outcome} in ${Math.round((reply.at - record.at) * 10) / 10} ms`}`,
    detailOf(record),
  ];
}

const HEADER = ['TIME', 'TYPE', 'MESSAGE', 'USER', 'CONNECTION', 'WHERE', 'BYTES', 'OUTCOME', 'DETAIL'];

async function run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}; filters are flags (--user ada)`, 'audit');
  const flags = args.values as AuditFlags;
  const params = query(flags, Date.now());
  const { resolveServerTarget } = await import('../config.ts');
  const admin = new AdminClient(await resolveServerTarget(flags, ctx.env, ctx.cwd), ctx.program, 'audit');
  const fetchRecords = async (extra: URLSearchParams): Promise<AuditRecord[]> =>
    (await admin.request<{ records: AuditRecord[] }>('GET', `/audit?${extra.toString()}`)).records;
  const print = (records: AuditRecord[], header: boolean): void => {
    if (records.length === 0) return;
    if (flags.json) ctx.out(records.map((record) => JSON.stringify(record)).join('\n') + '\n');
    else ctx.out(table(header ? [HEADER, ...records.map(rowOf)] : records.map(rowOf)));
  };
  // Newest first from the server; printed oldest first, as a log reads.
  const first = (await fetchRecords(params)).reverse();
  if (first.length === 0 && !flags.follow && !flags.json) ctx.out('no audit records match\n');
  print(first, true);
  if (!flags.follow) return 0;
  let last = first.at(-1);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_EVERY_MS));
    const next = new URLSearchParams(params);
    next.delete('until');
    next.set('limit', '1000');
    if (last !== undefined) next.set('since', String(last.at));
    const fresh = (await fetchRecords(next)).reverse().filter((record) => last === undefined || record.id > last.id);
    print(fresh, false);
    last = fresh.at(-1) ?? last;
  }
}

/** `switchboard audit`. */
export const auditCommand: Command = {
  name: 'audit',
  summary: "Query a running server's audit log (messages, grant changes, admin actions)",
  usage: 'audit [filters] [--follow] [--json]',
  help: `Asks a running server's admin HTTP API (/admin/audit) for its audit records, oldest first.

Filters (all given must match):
      --user <id>            The identity id
      --connection <id>      The connection id
      --type <type>          The record type: message.in, message.out, message.fanout, grants.revoke, admin.request, …
      --message-type <type>  The message type: chat.send, $subscribe, …
      --channel <name>       --room <id>      --resource <name>
      --since <time>         At or after: ISO 8601, ms since the epoch, or 15m / 2h / 1d ago
      --until <time>         Before
      --limit <n>            At most n records (default 100, the newest)

Output:
      --json                 One JSON record per line
  -f, --follow               Keep printing new records as they are written (every second); Ctrl-C stops

Flags:
      --url <url>            The server's base URL; default: the address the project serves on
      --admin-token <token>  The admin API's token (env SWITCHBOARD_ADMIN_TOKEN, config "adminToken")
  -c, --config <file>        Config file (env SWITCHBOARD_CONFIG, default ./switchboard.config.ts)
  -h, --help                 Show this help

Records appear once written (within the server's audit.flushMs, 200 ms by default). See docs/operations.md.

Exit codes: 0 done, 1 the server refused or could not be reached (or records nothing: no store), 2 a wrong flag.

Examples:
  switchboard audit --user ada --since 1h
  switchboard audit --type grants.revoke --json
  switchboard audit --channel orders.eu --follow`,
  options: {
    url: { type: 'string' },
    'admin-token': { type: 'string' },
    user: { type: 'string' },
    connection: { type: 'string' },
    type: { type: 'string' },
    'message-type': { type: 'string' },
    channel: { type: 'string' },
    room: { type: 'string' },
    resource: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    follow: { type: 'boolean', short: 'f' },
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
  },
  maxPositionals: 1,
  run,
};
