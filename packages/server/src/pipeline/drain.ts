// In-flight accounting: what shutdown's drain waits for, and the per-connection in-flight limit.
import type { Connection } from '../connection/connection.ts';

/**
 * Counts messages being handled (including ones waiting on an async `authorize` hook), per connection and
 * in all, and resolves `drained()` when none is left.
 *
 * @example
 * inFlight.start(connection); … inFlight.done(connection);
 * await inFlight.drained();
 */
export class InFlight {
  count = 0;
  private waiters: (() => void)[] = [];

  start(connection: Connection): void {
    connection.inFlight++;
    this.count++;
  }

  done(connection: Connection): void {
    connection.inFlight--;
    if (--this.count === 0 && this.waiters.length > 0) {
      for (const resolve of this.waiters.splice(0)) resolve();
    }
  }

  /** Resolves when nothing is in flight. */
  drained(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
