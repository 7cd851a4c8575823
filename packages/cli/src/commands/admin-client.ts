// The CLI's client of a running server's admin HTTP API: requests with its token, every failure a clear
// CommandError (exit 1); and the text output helpers the admin commands share.
import { CommandError } from '../args.ts';
import type { ServerTarget } from '../config.ts';

/** How long the server has to answer one admin request. */
const REQUEST_TIMEOUT_MS = 10_000;

/** The admin API of one server: requests with its token, and every failure turned into a CommandError. */
export class AdminClient {
  private readonly target: ServerTarget;
  private readonly program: string;

  private readonly what: string;
  private readonly start: string;

  /**
   * `what`: the admin route family a command uses (`rooms`, `audit`), for the hint on a 404; `start`: how to
   * start what the command talks to, for the hint when nothing answers (default `<program> dev`).
   */
  constructor(target: ServerTarget, program: string, what: string, start = `${program} dev`) {
    this.target = target;
    this.program = program;
    this.what = what;
    this.start = start;
  }

  /** One request; `timeoutMs` is how long the server has to answer (default 10 s). */
  async request<T>(method: string, path: string, body?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    const url = `${this.target.url}${this.target.adminPath}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.target.adminToken !== undefined) headers.authorization = `Bearer ${this.target.adminToken}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw this.unreachable(error, timeoutMs);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (response.ok && parsed !== undefined) return parsed as T;
    const failure = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (typeof failure?.code !== 'string') {
      const how = this.target.urlFromFlag ? 'Check --url.' : 'Pass --url with its address.';
      throw new CommandError(`${method} ${url} answered HTTP ${response.status}, not as the Switchboard admin API does: is a Switchboard server there? ${how}`);
    }
    const message = typeof failure.message === 'string' ? failure.message : '';
    throw new CommandError(`the server refused: ${failure.code}: ${message} (HTTP ${response.status})${this.hint(failure.code, response.status)}`);
  }

  private unreachable(error: unknown, timeoutMs: number): CommandError {
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    const name = (error as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new CommandError(`the server at ${this.target.url} did not answer within ${timeoutMs / 1000} s`);
    }
    const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (error as Error).message;
    const how = this.target.urlFromFlag ? 'Check --url.' : `Start it with "${this.start}", or pass --url with its address.`;
    return new CommandError(`cannot reach a server at ${this.target.url} (${why}): is it running? ${how}`);
  }

  private hint(code: string, status: number): string {
    if (code === 'unauthorized') {
      return this.target.adminToken === undefined
        ? '\n  The server has an admin token: set SWITCHBOARD_ADMIN_TOKEN (or pass --admin-token).'
        : '\n  The admin token given is not the server\'s.';
    }
    if (code === 'forbidden' && status === 403) return '\n  Without an adminToken set, a server answers its admin API on its own machine only.';
    if (code === 'not_found') return `\n  The server has no ${this.target.adminPath}/${this.what}: check --url, the config file's adminPath, and that the server has ${this.what}.`;
    if (code === 'no_store') return '\n  The server records nothing: it has no store.';
    return '';
  }
}


export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** `2025-01-31T09:30:00.123Z` → `2025-01-31 09:30:00Z`. */
export function time(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Columns padded to their widest cell; the last one is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n') + '\n';
}
