// Errors: the developer-facing catalogue (SB_*) and MessageError, the error a handler sends to its client.
import type { Issue } from '@switchboard/protocol';

/**
 * Developer errors: each has a stable code and says what to change.
 * docs/errors.md lists them; a test fails when the two disagree.
 */
export const DevErrorCode = {
  /** A configuration value is missing, of the wrong type or out of range. */
  configInvalid: 'SB_CONFIG_INVALID',
  /** `createServer` was given an option that does not exist (a typo, an option of a later version). */
  configUnknownOption: 'SB_CONFIG_UNKNOWN_OPTION',
  /** A global hook (`createServer({ hooks })`) has an unknown name or is not a function. */
  hookInvalid: 'SB_HOOK_INVALID',
  /** A push or channel event a plug declares was sent with data that does not match its schema (development). */
  pushInvalid: 'SB_PUSH_INVALID',
  /** The configuration file could not be loaded. */
  configLoadFailed: 'SB_CONFIG_LOAD_FAILED',
  /** A plug file failed to import (syntax error, throws at import, missing dependency). */
  plugLoadFailed: 'SB_PLUG_LOAD_FAILED',
  /** A plug's default export is not a valid `definePlug({...})` definition. */
  plugInvalid: 'SB_PLUG_INVALID',
  /** Two plugs claim the same plug name or the same message type. */
  plugConflict: 'SB_PLUG_CONFLICT',
  /** A plug's `onLoad` hook threw. */
  plugOnLoadFailed: 'SB_PLUG_ONLOAD_FAILED',
  /** The plugs folder does not exist or cannot be read. */
  plugsDirMissing: 'SB_PLUGS_DIR_MISSING',
  /** The server could not listen (port in use, permission denied). */
  listenFailed: 'SB_LISTEN_FAILED',
  /** A server API was called with an invalid argument (bad channel name, unknown grant form). */
  badArgument: 'SB_BAD_ARGUMENT',
} as const;
export type DevErrorCode = (typeof DevErrorCode)[keyof typeof DevErrorCode];

/**
 * An error a developer must fix: a stable code plus a message that says what to change.
 *
 * @example
 * throw new SwitchboardError('SB_CONFIG_INVALID', 'port must be an integer from 0 to 65535, got "abc"');
 */
export class SwitchboardError extends Error {
  override name = 'SwitchboardError';
  readonly code: DevErrorCode;
  constructor(code: DevErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/**
 * Thrown by a handler to fail a request with an application error the client may see.
 * Anything else a handler throws reaches the client only as `handler_error`.
 *
 * @example
 * if (room.full) throw new MessageError('room_full', 'This room has 8 players already');
 */
export class MessageError extends Error {
  override name = 'MessageError';
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  readonly issues: Issue[] | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown> & { issues?: Issue[] }) {
    super(message);
    this.code = code;
    this.issues = details?.issues;
    this.details = details;
  }
}
