// RequestError: how every failed request reaches the application, carrying the server's error code.
import type { ErrorCode, ErrorPayload, Issue } from '@switchboard/protocol';

/**
 * A request failed: the server replied with an error, or the SDK gave up (`timeout`, `disconnected`).
 * Match on `code` (a protocol `ErrorCode` or an application code from a plug's `MessageError`), never on
 * `message`.
 *
 * @example
 * try {
 *   await client.request('chat.send', { text: '' });
 * } catch (error) {
 *   if (error instanceof RequestError && error.code === 'invalid_payload') showIssues(error.issues);
 * }
 */
export class RequestError extends Error {
  override name = 'RequestError';
  /** The stable error code. */
  readonly code: ErrorCode | (string & {});
  /** For `invalid_payload`: every failing path of the payload. */
  readonly issues: Issue[] | undefined;
  /** Everything else the server sent with the error (`grant` for `forbidden`, a plug's own details). */
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, details: Record<string, unknown> & { issues?: Issue[] } = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.issues = details.issues;
    this.details = details;
  }
}

/** The RequestError for an `error` member received from the server. */
export function errorFromPayload(payload: ErrorPayload): RequestError {
  const { code, message, ...details } = payload;
  return new RequestError(typeof code === 'string' ? code : 'unknown', typeof message === 'string' ? message : '', details);
}
