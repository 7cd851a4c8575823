// `switchboard rooms list|create|inspect|close`: the room instances of a running server, over its admin HTTP API.
import { UsageError, type ParsedArgs } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import type { TargetFlags } from '../config.ts';
import { AdminClient, json, table, time } from './admin-client.ts';

/** A room instance as `GET /admin/rooms` describes it (the server's RoomInfo). */
interface RoomInfo {
  id: string;
  kind: string;
  plug: string;
  plugVersion: string;
  createdAt: string;
  members: { id: string; present: boolean }[];
  restarts: number;
  position: { epoch: string; offset: number };
  isolation: string;
}

interface RoomsFlags extends TargetFlags {
  kind?: string;
  options?: string;
  id?: string;
  message?: string;
  json?: boolean;
}

/** Each subcommand: its one argument (if any), and the flags of its own it takes besides the shared ones. */
const SUBCOMMANDS = {
  list: { argument: undefined, flags: ['kind'] },
  create: { argument: 'kind', flags: ['options', 'id'] },
  inspect: { argument: 'id', flags: [] },
  close: { argument: 'id', flags: ['message'] },
} as const satisfies Record<string, { argument: string | undefined; flags: readonly (keyof RoomsFlags)[] }>;
type Subcommand = keyof typeof SUBCOMMANDS;
const OWN_FLAGS = ['kind', 'options', 'id', 'message'] as const;

function isSubcommand(name: string): name is Subcommand {
  return Object.hasOwn(SUBCOMMANDS, name);
}

/** The subcommand, its argument and its flags, checked: a mistake is a UsageError (exit 2). */
function parse(args: ParsedArgs, program: string): { subcommand: Subcommand; argument: string | undefined; flags: RoomsFlags } {
  const [name, argument, extra] = args.positionals;
  const names = Object.keys(SUBCOMMANDS).join(', ');
  if (name === undefined) throw new UsageError(`say what to do: ${names}, as in "${program} rooms list"`, 'rooms');
  if (!isSubcommand(name)) throw new UsageError(`unknown subcommand ${JSON.stringify(name)} for "rooms"; use one of ${names}`, 'rooms');
  const spec = SUBCOMMANDS[name];
  const flags = args.values as RoomsFlags;
  if (spec.argument === undefined && argument !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(argument)} for "rooms ${name}"`, 'rooms');
  if (spec.argument !== undefined && argument === undefined) {
    const example = spec.argument === 'kind' ? 'tictactoe' : 'Hq3vX9kLm2Ab';
    throw new UsageError(`name the room ${spec.argument === 'kind' ? 'kind' : 'id'}, as in "${program} rooms ${name} ${example}"`, 'rooms');
  }
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)} for "rooms ${name}"`, 'rooms');
  for (const flag of OWN_FLAGS) {
    if (flags[flag] === undefined || (spec.flags as readonly string[]).includes(flag)) continue;
    const owner = (Object.keys(SUBCOMMANDS) as Subcommand[]).find((candidate) => (SUBCOMMANDS[candidate].flags as readonly string[]).includes(flag));
    throw new UsageError(`--${flag} is for "rooms ${owner}", not "rooms ${name}"`, 'rooms');
  }
  for (const flag of ['kind', 'id', 'url', 'admin-token'] as const) {
    if (flags[flag] !== undefined && flags[flag].trim() === '') throw new UsageError(`--${flag}: expected a non-empty value`, 'rooms');
  }
  return { subcommand: name, argument, flags };
}

/** `--options '<json>'`: any JSON value, handed to the room kind's `create` (which checks it). */
function parseOptions(text: string | undefined): { given: boolean; value: unknown } {
  if (text === undefined) return { given: false, value: undefined };
  try {
    return { given: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    throw new UsageError(`--options: expected JSON, as in --options '{"title":"Retro"}' (${(error as Error).message})`, 'rooms');
  }
}

function membersCell(room: RoomInfo): string {
  return `${room.members.filter((member) => member.present).length}/${room.members.length}`;
}

function describe(room: RoomInfo & { state?: unknown }): string {
  const present = room.members.filter((member) => member.present).length;
  const lines = [
    `Room ${room.id} (${room.kind})`,
    `  plug       ${room.plug} ${room.plugVersion}`,
    `  created    ${time(room.createdAt)}`,
    `  restarts   ${room.restarts}`,
    `  position   epoch ${room.position.epoch}, offset ${room.position.offset}`,
    `  isolation  ${room.isolation}`,
    `  members    ${room.members.length === 0 ? 'none' : `${room.members.length} (${present} present)`}`,
    ...room.members.map((member) => `    ${member.id}  ${member.present ? 'present' : 'away (seat held)'}`),
    'State:',
  ];
  return `${lines.join('\n')}\n${json(room.state)}`;
}

// ---------------------------------------------------------------- the command

async function run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
  const { subcommand, argument, flags } = parse(args, ctx.program);
  const options = parseOptions(flags.options);
  // Loaded here so that argument errors answer without loading the server (config files import it).
  const { resolveServerTarget } = await import('../config.ts');
  const admin = new AdminClient(await resolveServerTarget(flags, ctx.env, ctx.cwd), ctx.program, 'rooms');
  const out = flags.json === true ? (value: unknown, _text: string) => ctx.out(json(value)) : (_value: unknown, text: string) => ctx.out(text);
  switch (subcommand) {
    case 'list': {
      const query = flags.kind === undefined ? '' : `?kind=${encodeURIComponent(flags.kind)}`;
      const { rooms } = await admin.request<{ rooms: RoomInfo[] }>('GET', `/rooms${query}`);
      const header = ['ID', 'KIND', 'MEMBERS', 'RESTARTS', 'CREATED'];
      const empty = flags.kind === undefined ? 'No rooms.\n' : `No ${flags.kind} rooms.\n`;
      out(rooms, rooms.length === 0 ? empty : table([header, ...rooms.map((room) => [room.id, room.kind, membersCell(room), String(room.restarts), time(room.createdAt)])]));
      return 0;
    }
    case 'create': {
      const body: Record<string, unknown> = { kind: argument };
      if (options.given) body.options = options.value;
      if (flags.id !== undefined) body.id = flags.id;
      const room = await admin.request<RoomInfo>('POST', '/rooms', body);
      // Just the id, so that scripts can take it: ROOM=$(switchboard rooms create tictactoe)
      out(room, `${room.id}\n`);
      return 0;
    }
    case 'inspect': {
      const room = await admin.request<RoomInfo & { state: unknown }>('GET', `/rooms/${encodeURIComponent(argument!)}`);
      out(room, describe(room));
      return 0;
    }
    case 'close': {
      const query = flags.message === undefined ? '' : `?message=${encodeURIComponent(flags.message)}`;
      const closed = await admin.request<{ closed: string }>('DELETE', `/rooms/${encodeURIComponent(argument!)}${query}`);
      out(closed, `Closed room ${closed.closed}; its members were told${flags.message === undefined ? '' : ` (${JSON.stringify(flags.message)})`}.\n`);
      return 0;
    }
  }
}

/** `switchboard rooms`. */
export const roomsCommand: Command = {
  name: 'rooms',
  summary: "List, create, inspect and close a running server's rooms",
  usage: 'rooms <subcommand> [flags]',
  help: `Talks to a running server's admin HTTP API (/admin/rooms) about its room instances.

Subcommands:
  list [--kind <kind>]                  Every instance: id, kind, members present/total, restarts, created
  create <kind> [--options <json>] [--id <id>]
                                        Creates an instance of a room kind and prints its id
  inspect <id>                          One instance: its plug, members, stream position, and its state
  close <id> [-m, --message <text>]     Ends an instance; its members get $room.closed (reason "closed")

Flags:
      --url <url>            The server's base URL; default: the address the project serves on (PORT
                             and HOST, then the config file's port and host), else http://127.0.0.1:3000
      --admin-token <token>  The admin API's token (env SWITCHBOARD_ADMIN_TOKEN, config "adminToken")
      --json                 Print the server's JSON answer instead of text
  -c, --config <file>        Config file (env SWITCHBOARD_CONFIG, default ./switchboard.config.ts)
  -h, --help                 Show this help

Prefer SWITCHBOARD_ADMIN_TOKEN to --admin-token: command lines are visible to every user of the machine
(ps). A server without an admin token answers its admin API on its own machine only. The admin API is at
<url><adminPath>/rooms: adminPath is the config file's (default /admin), and --url may carry a path
prefix when a proxy serves the server under one (https://example.com/sb).

Exit codes: 0 done, 1 the server refused (its error code and message are printed) or could not be
reached, 2 a wrong subcommand, argument or flag.

Examples:
  switchboard rooms list
  switchboard rooms list --kind tictactoe --json
  switchboard rooms create board --options '{"title":"Retro"}'
  ROOM=$(switchboard rooms create tictactoe --id final)
  switchboard rooms inspect final
  switchboard rooms close final --message "the tournament is over"
  SWITCHBOARD_ADMIN_TOKEN=... switchboard rooms list --url https://games.example.com`,
  options: {
    url: { type: 'string' },
    'admin-token': { type: 'string' },
    kind: { type: 'string' },
    options: { type: 'string' },
    id: { type: 'string' },
    message: { type: 'string', short: 'm' },
    json: { type: 'boolean' },
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
  },
  maxPositionals: 3,
  run,
};
