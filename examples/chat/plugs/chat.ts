// The chat plug: a message sent by one signed-in user goes to every connection, and late joiners get the history.
import { randomUUID } from 'node:crypto';
import { definePlug, z } from '@switchboard/server';
import { ROLES, signedInUser } from '../auth.ts';

/** How many messages `chat.history` can return; older ones are forgotten. */
export const HISTORY_LIMIT = 100;

/** A chat message as every client receives it (in `chat.message` pushes and in `chat.history`). */
export const chatMessage = z.object({
  /**
   * Which run of the chat this message belongs to: a random id made when the plug's state is created, so it
   * stays the same across hot swaps and changes when the server restarts (and `seq` starts again at 1).
   */
  epoch: z.string(),
  /** Increases by one per message within an epoch, so a page can drop what it has already shown after a reconnect. */
  seq: z.number().int(),
  /** The sender's identity id: pages compare it with their own to mark their messages. */
  from: z.string(),
  /** The sender's name from their token, not from the request, so nobody can post as someone else. */
  name: z.string(),
  /** Pages badge staff messages. */
  role: z.enum(ROLES),
  text: z.string(),
  /** ISO 8601 time the server accepted the message. */
  at: z.string(),
});
export type ChatMessage = z.output<typeof chatMessage>;

interface ChatState {
  epoch: string;
  seq: number;
  history: ChatMessage[];
}

// Plug state lives in ctx.state, which survives hot swaps of this file; module variables would not. It does
// not survive a restart: the new epoch tells pages that the messages they show are from a previous run.
function chatState(state: Map<string, unknown>): ChatState {
  let chat = state.get('chat') as ChatState | undefined;
  if (!chat) {
    chat = { epoch: randomUUID(), seq: 0, history: [] };
    state.set('chat', chat);
  }
  return chat;
}

export default definePlug({
  name: 'chat',
  // Typed end to end: `broadcast` below must send a ChatMessage, and `client.on('chat.message', …)` gets one.
  pushes: { 'chat.message': chatMessage },
  messages: {
    'chat.send': {
      description: 'Sends a message to everyone in the chat, as the signed-in user',
      input: z.object({ text: z.string().trim().min(1).max(500) }),
      output: z.object({ epoch: z.string(), seq: z.number().int() }),
      handler(data, ctx) {
        const user = signedInUser(ctx.connection);
        const chat = chatState(ctx.state);
        const message: ChatMessage = { epoch: chat.epoch, seq: ++chat.seq, from: user.id, name: user.name, role: user.role, text: data.text, at: new Date().toISOString() };
        chat.history.push(message);
        if (chat.history.length > HISTORY_LIMIT) chat.history.splice(0, chat.history.length - HISTORY_LIMIT);
        // The sender gets its own message as a push too, so every page renders messages from one place.
        ctx.server.broadcast('chat.message', message);
        return { epoch: message.epoch, seq: message.seq };
      },
    },
    'chat.history': {
      description: 'The most recent messages, oldest first, and the epoch they belong to',
      input: z.object({ limit: z.number().int().min(1).max(HISTORY_LIMIT).default(50) }),
      // `epoch` is here too, so a page learns of a restart even when the new run has no messages yet.
      output: z.object({ epoch: z.string(), messages: z.array(chatMessage) }),
      handler(data, ctx) {
        const chat = chatState(ctx.state);
        return { epoch: chat.epoch, messages: chat.history.slice(-data.limit) };
      },
    },
  },
});
