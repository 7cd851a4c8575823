// The room kinds of scenario 6, in a module of their own: a `thread` room's worker imports this module (its
// default export is the plug), so it must not start a server as bench/servers/switchboard.ts does.
import { definePlug, defineRoom, z, type RoomMessageContext } from '@switchboard/server';

/** What members send: the sender's seq and timestamp (shared clock), read in place by the load client. */
const tick = z.object({ seq: z.number().int().nonnegative(), t: z.number().nonnegative(), text: z.string().max(1024) });

type Tick = z.output<typeof tick>;

/** A room's state: small, as a game table's or a chat room's. `last` holds the last `move`, keyed by its seq. */
interface ChatState {
  topic: string;
  said: number;
  last: Record<string, Tick>;
}

const create = (): ChatState => ({ topic: 'the switchboard benchmark', said: 0, last: {} });

const messages = {
  /** A message to the others: one `$room.message` to each other member present; the state is not changed. */
  say: {
    input: tick,
    description: 'Broadcasts the payload to the other members as a room message "said"',
    handler(data: Tick, ctx: RoomMessageContext<ChatState>) {
      ctx.room.broadcast('said', data, { except: ctx.member.id });
    },
  },
  /**
   * A change of the state: every member present, the sender too, gets it as a `$room.state` patch. `last` is
   * keyed by seq, so the patch adds the whole tick object (an `add` with `{"seq":…}`) and removes the previous one.
   */
  move: {
    input: tick,
    description: 'Replaces the state\'s "last" with the payload: one $room.state patch to every member',
    handler(data: Tick, ctx: RoomMessageContext<ChatState>) {
      ctx.state.last = { [`m${data.seq}`]: data };
    },
  },
  /** Request/reply through the room's mailbox: the reply is the payload, nothing else happens. */
  echo: {
    input: tick,
    description: 'Replies with its payload',
    handler: (data: Tick) => data,
  },
};

/** Scenario 6's inline room: 4 members exchanging messages, the inline side of thread-vs-inline, the neighbour. */
const chat = defineRoom({
  description: 'Scenario 6: members say things to each other, move (change the state) and echo',
  access: 'public',
  maxMembers: 64,
  // The bench creates its rooms before anyone joins them: they must outlive the time it takes to join 4,000 members.
  emptyTimeoutMs: 600_000,
  create,
  messages,
});

/** An empty room that stays: what one instance costs in memory. */
const idle = defineRoom({
  description: 'Scenario 6: an instance with no members, kept for 10 minutes',
  access: 'public',
  emptyTimeoutMs: 600_000,
  create,
  messages: { echo: messages.echo },
});

/** The same logic in a worker thread of its own, plus a message that never returns. */
const heavy = defineRoom({
  description: 'Scenario 6: the chat room in a worker thread; "spin" blocks its thread until the watchdog ends it',
  access: 'public',
  maxMembers: 64,
  emptyTimeoutMs: 600_000,
  isolation: 'thread',
  module: import.meta.url,
  // The documented defaults, spelled out: the report quotes them.
  thread: { heartbeatMs: 250, deadlineMs: 2_000, maxOldGenerationSizeMb: 64 },
  create,
  messages: {
    ...messages,
    spin: {
      input: z.object({}),
      description: 'Never returns: an endless loop in the room\'s thread',
      handler(): never {
        for (;;) {
          // Stuck on purpose: only the watchdog can end this.
        }
      },
    },
  },
});

export default definePlug({ name: 'benchrooms', rooms: { chat, idle, heavy }, messages: {} });
