// Per remote address limits: how fast it may open connections, how many it may hold, and one message budget shared by all of them.
import { z } from 'zod';
import { ErrorCode } from '@switchboard/protocol';

/**
 * `limits.perAddress`-style options: limits per remote address, on top of the per-connection ones. The
 * defaults are generous on purpose: test suites open hundreds of connections from 127.0.0.1, and clients
 * behind one NAT or proxy share an address. Tighten them for a public server; the address is the socket's
 * peer, so behind a reverse proxy every client shares the proxy's address.
 *
 * @example
 * addressLimitsSchema.parse({ maxConnectionsPerAddress: 20 });
 * // { connectionsPerSecond: 50, connectionBurst: 100, maxConnectionsPerAddress: 20, messagesPerSecond: 2000, burst: 4000 }
 */
export const addressLimitsSchema = z
  .object({
    /** New connections per second one address may open, sustained. 0 = off. Refused upgrades get HTTP 429. */
    connectionsPerSecond: z.number().min(0).default(50),
    /** New connections one address may open at once above the sustained rate. */
    connectionBurst: z.number().min(1).default(100),
    /** Connections one address may hold open at once. 0 = off. Refused upgrades get HTTP 429. */
    maxConnectionsPerAddress: z.number().int().min(0).default(0),
    /** Messages per second, sustained, shared by all connections of one address. 0 = off. */
    messagesPerSecond: z.number().min(0).default(2000),
    /** Messages one address may send at once above the sustained rate. */
    burst: z.number().min(1).default(4000),
  })
  .strict();

/** What `addressLimitsSchema` accepts (every field optional). */
export type AddressLimitsOptions = z.input<typeof addressLimitsSchema>;
/** The options with their defaults filled in. */
export type ResolvedAddressLimits = z.output<typeof addressLimitsSchema>;

/** The answer to `admit`: its refusal has the transport's `UpgradeDecision` shape, ready to return. */
export type AddressAdmission = { ok: true } | { ok: false; status: 429; message: string; code: ErrorCode };

const ADMITTED: AddressAdmission = { ok: true };

/** How often, at most, `admit` sweeps out idle entries. */
const SWEEP_INTERVAL_MS = 1000;

/** One address's state: its open connections and two token buckets. */
interface AddressEntry {
  open: number;
  connectionTokens: number;
  connectionsRefilledAt: number;
  messageTokens: number;
  messagesRefilledAt: number;
}

/**
 * Limits per remote address. The server calls `admit` on each upgrade, `opened` and `closed` as connections
 * come and go, and `takeMessage` for every inbound frame (one Map lookup and a few arithmetic operations).
 *
 * Memory is bounded: an address with no open connection is forgotten once both its buckets are full again
 * (two seconds after its last activity with the defaults), when it closes its last connection or at the
 * next sweep, which `admit` runs at most once a second. So the table holds the addresses with open
 * connections plus those active in the last few seconds.
 *
 * `admit` counts connections already open, not handshakes still running, so an address can pass
 * `maxConnectionsPerAddress` by as many handshakes as it has in flight; the connection rate bounds those.
 *
 * @example
 * const limits = new AddressLimits({ maxConnectionsPerAddress: 20 });
 * const admission = limits.admit(address);
 * if (!admission.ok) return admission; // HTTP 429 to the upgrade
 * limits.opened(address);
 * if (!limits.takeMessage(address)) reply(ErrorCode.rateLimited);
 * limits.closed(address);
 */
export class AddressLimits {
  readonly options: ResolvedAddressLimits;
  private readonly entries = new Map<string, AddressEntry>();
  private readonly now: () => number;
  private sweptAt: number;

  constructor(options: AddressLimitsOptions = {}, now: () => number = () => performance.now()) {
    this.options = addressLimitsSchema.parse(options);
    this.now = now;
    this.sweptAt = now();
  }

  /** Addresses tracked now (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Decides whether `address` may open one more connection, and takes a token from its connection bucket when it may. */
  admit(address: string): AddressAdmission {
    const now = this.now();
    if (now - this.sweptAt >= SWEEP_INTERVAL_MS) this.sweep(now);
    const { connectionsPerSecond, connectionBurst, maxConnectionsPerAddress } = this.options;
    const entry = this.entry(address, now);
    if (maxConnectionsPerAddress > 0 && entry.open >= maxConnectionsPerAddress) {
      return {
        ok: false,
        status: 429,
        message: `too many open connections from this address (at most ${maxConnectionsPerAddress})`,
        code: ErrorCode.limitExceeded,
      };
    }
    if (connectionsPerSecond > 0) {
      entry.connectionTokens = refill(entry.connectionTokens, now - entry.connectionsRefilledAt, connectionsPerSecond, connectionBurst);
      entry.connectionsRefilledAt = now;
      if (entry.connectionTokens < 1) {
        return {
          ok: false,
          status: 429,
          message: `too many new connections from this address (${connectionsPerSecond}/s, bursts of ${connectionBurst}); retry later`,
          code: ErrorCode.rateLimited,
        };
      }
      entry.connectionTokens -= 1;
    }
    return ADMITTED;
  }

  /** A connection from `address` opened (after `admit` allowed it). */
  opened(address: string): void {
    this.entry(address, this.now()).open++;
  }

  /** A connection from `address` closed; the address is forgotten when nothing about it is left to remember. */
  closed(address: string): void {
    const entry = this.entries.get(address);
    if (entry === undefined) return;
    if (entry.open > 0) entry.open--;
    if (entry.open === 0 && this.idle(entry, this.now())) this.entries.delete(address);
  }

  /**
   * Takes one message from the budget `address` shares among its connections; false when it is spent
   * (the server then refuses the message with `rate_limited`).
   */
  takeMessage(address: string): boolean {
    const { messagesPerSecond, burst } = this.options;
    if (messagesPerSecond <= 0) return true;
    const now = this.now();
    // An address with open connections always has an entry; one never `opened` starts with a full bucket.
    const entry = this.entries.get(address) ?? this.entry(address, now);
    const elapsed = now - entry.messagesRefilledAt;
    if (elapsed > 0) {
      entry.messageTokens = refill(entry.messageTokens, elapsed, messagesPerSecond, burst);
      entry.messagesRefilledAt = now;
    }
    if (entry.messageTokens < 1) return false;
    entry.messageTokens -= 1;
    return true;
  }

  /** Forgets every address with no open connection whose buckets have refilled. `admit` calls it once a second at most. */
  sweep(now: number = this.now()): void {
    this.sweptAt = now;
    for (const [address, entry] of this.entries) {
      if (entry.open === 0 && this.idle(entry, now)) this.entries.delete(address);
    }
  }

  private entry(address: string, now: number): AddressEntry {
    let entry = this.entries.get(address);
    if (entry === undefined) {
      entry = {
        open: 0,
        connectionTokens: this.options.connectionBurst,
        connectionsRefilledAt: now,
        messageTokens: this.options.burst,
        messagesRefilledAt: now,
      };
      this.entries.set(address, entry);
    }
    return entry;
  }

  /** Whether both buckets would be full now: forgetting the entry then loses nothing. */
  private idle(entry: AddressEntry, now: number): boolean {
    const { connectionsPerSecond, connectionBurst, messagesPerSecond, burst } = this.options;
    const connectionsFull =
      connectionsPerSecond <= 0 ||
      refill(entry.connectionTokens, now - entry.connectionsRefilledAt, connectionsPerSecond, connectionBurst) >= connectionBurst;
    const messagesFull =
      messagesPerSecond <= 0 || refill(entry.messageTokens, now - entry.messagesRefilledAt, messagesPerSecond, burst) >= burst;
    return connectionsFull && messagesFull;
  }
}

function refill(tokens: number, elapsedMs: number, perSecond: number, burst: number): number {
  return elapsedMs > 0 ? Math.min(burst, tokens + (elapsedMs * perSecond) / 1000) : tokens;
}
