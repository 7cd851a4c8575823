// A shared whiteboard as a room: members put sticky notes on it, move, edit, recolour and remove them, and
// everyone sees each change as it happens. Every note is checked, and a board holds at most MAX_NOTES.
import { definePlug, defineRoom, MessageError, z } from '@switchboard/server';

export const NOTE_COLORS = ['yellow', 'pink', 'blue', 'green'] as const;
export type NoteColor = (typeof NOTE_COLORS)[number];
/** Notes on one board at most; `add` past it is refused with `board_full`. */
export const MAX_NOTES = 500;
export const MAX_TEXT = 280;

/** A sticky note. `x` and `y` place its top-left corner as fractions of the board (0 to 1), so every screen agrees. */
export interface Note {
  id: string;
  text: string;
  color: NoteColor;
  x: number;
  y: number;
  /** Stacking order: the note moved or added last is on top. */
  z: number;
  /** The member id of who wrote it. */
  author: string;
}

export interface BoardState {
  title: string;
  /** The notes by id (`n1`, `n2`, …): a change to one is a small patch. */
  notes: Record<string, Note>;
  /** Display names members chose (`name`), by member id. */
  names: Record<string, string>;
  /** Counts every note ever added (the next id) and every raise (the next `z`). */
  next: number;
}

/** The codes the board's messages refuse with (besides the server's own, such as `invalid_payload`). */
export const BoardErrorCode = {
  /** The board holds MAX_NOTES notes: remove some first. */
  boardFull: 'board_full',
  /** No note with that id (it was removed, maybe by someone else a moment ago). */
  noSuchNote: 'no_such_note',
} as const;
export type BoardErrorCode = (typeof BoardErrorCode)[keyof typeof BoardErrorCode];

const position = z.number().min(0).max(1);
const text = z.string().trim().min(1).max(MAX_TEXT);
const noteId = z.string().min(1).max(16);

/** The options a new board takes: its title. */
export const boardOptionsSchema = z.object({ title: z.string().trim().min(1).max(60).optional() }).optional();

function noteOf(state: BoardState, id: string): Note {
  const note = Object.hasOwn(state.notes, id) ? state.notes[id] : undefined;
  if (note === undefined) throw new MessageError(BoardErrorCode.noSuchNote, `no note ${id} on this board`);
  return note;
}

/** The room kind `board`. */
export const board = defineRoom({
  description: 'A shared whiteboard of sticky notes',
  access: 'public',
  options: boardOptionsSchema,
  pushes: {
    /** Someone cleared the board: who, and how many notes went. */
    cleared: z.object({ by: z.string(), removed: z.number().int().min(0) }),
  },
  create: (options): BoardState => ({
    title: (options as z.output<typeof boardOptionsSchema>)?.title ?? 'Shared board',
    notes: {},
    names: {},
    next: 1,
  }),
  onLeave(member, ctx) {
    delete ctx.state.names[member.id];
  },
  messages: {
    add: {
      description: 'Puts a new note on the board; replies with its id',
      input: z.object({ text, color: z.enum(NOTE_COLORS).default('yellow'), x: position, y: position }),
      handler({ text, color, x, y }, ctx) {
        const state = ctx.state;
        if (Object.keys(state.notes).length >= MAX_NOTES) throw new MessageError(BoardErrorCode.boardFull, `a board holds ${MAX_NOTES} notes; remove some first`);
        const id = `n${state.next}`;
        state.notes[id] = { id, text, color, x, y, z: state.next, author: ctx.member.id };
        state.next++;
        return { id };
      },
    },
    move: {
      description: 'Moves a note (and puts it on top)',
      input: z.object({ id: noteId, x: position, y: position }),
      handler({ id, x, y }, ctx) {
        const note = noteOf(ctx.state, id);
        note.x = x;
        note.y = y;
        note.z = ctx.state.next++;
        return { id };
      },
    },
    edit: {
      description: "Changes a note's text or colour",
      input: z.object({ id: noteId, text: text.optional(), color: z.enum(NOTE_COLORS).optional() }),
      handler({ id, text, color }, ctx) {
        const note = noteOf(ctx.state, id);
        if (text !== undefined) note.text = text;
        if (color !== undefined) note.color = color;
        return { id };
      },
    },
    remove: {
      description: 'Takes a note off the board',
      input: z.object({ id: noteId }),
      handler({ id }, ctx) {
        noteOf(ctx.state, id);
        delete ctx.state.notes[id];
        return { id };
      },
    },
    clear: {
      description: 'Takes every note off the board; the others are told who did it',
      input: z.object({}),
      handler(_data, ctx) {
        const removed = Object.keys(ctx.state.notes).length;
        ctx.state.notes = {};
        ctx.room.broadcast('cleared', { by: ctx.member.id, removed }, { except: ctx.member.id });
        return { removed };
      },
    },
    name: {
      description: 'Sets the name the other members see for you',
      input: z.object({ name: z.string().trim().min(1).max(32) }),
      handler({ name }, ctx) {
        ctx.state.names[ctx.member.id] = name;
        return { name };
      },
    },
  },
});

export default definePlug({ name: 'board', rooms: { board }, messages: {} });
