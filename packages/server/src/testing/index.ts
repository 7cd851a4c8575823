// Test helpers: a real server on 127.0.0.1 and port 0, cleaned up with `await using`.
import { pino } from 'pino';
import { createServer, type ListenInfo, type SwitchboardServer } from '../server.ts';
import type { Connection, ServerOptions } from '../index.ts';
import { CloseCode } from '@switchboard/protocol';

/** A started server for a test. */
export interface TestServer extends AsyncDisposable {
  server: SwitchboardServer;
  url: string;
  wsUrl: string;
  port: number;
  /** Stops the server and starts a new one with the same options on the same port. */
  restart(): Promise<void>;
  /**
   * Destroys every open socket (or those `match` picks) at once, with no close frame: clients see 1006, as
   * after a network failure.
   *
   * @example
   * t.dropConnections();
   * t.dropConnections((connection) => connection.id === client.connectionId);
   */
  dropConnections(match?: (connection: Connection) => boolean): void;
  /**
   * Closes every open connection politely, with a close frame (by default 1001, as a server going away).
   *
   * @example
   * t.closeConnections(CloseCode.tryAgainLater, 'full');
   */
  closeConnections(code?: number, reason?: string): void;
  close(): Promise<void>;
}

/**
 * Starts a server on 127.0.0.1, port 0, with logging off unless SWITCHBOARD_TEST_LOG is set.
 *
 * @example
 * await using t = await startTestServer({ plugs: [echo] });
 * const ws = new WebSocket(t.wsUrl);
 */
export async function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  const logger = options.logger ?? pino({ level: process.env.SWITCHBOARD_TEST_LOG ?? 'silent' });
  let server = createServer({ host: '127.0.0.1', port: 0, ...options, logger });
  let info: ListenInfo = await server.listen();
  const port = info.port;
  const handle: TestServer = {
    get server() {
      return server;
    },
    get url() {
      return info.url;
    },
    get wsUrl() {
      return info.wsUrl;
    },
    port,
    async restart() {
      await server.close({ timeoutMs: 1000 });
      server = createServer({ host: '127.0.0.1', ...options, port, logger });
      info = await server.listen();
    },
    dropConnections(match) {
      // A snapshot: the server forgets each connection as its socket closes.
      for (const connection of [...server.connections()]) if (!match || match(connection)) connection.socket.terminate();
    },
    closeConnections(code: number = CloseCode.goingAway, reason = 'test closed the connection') {
      for (const connection of [...server.connections()]) connection.close(code, reason);
    },
    close: () => server.close({ timeoutMs: 2000 }),
    [Symbol.asyncDispose]: () => server.close({ timeoutMs: 2000 }),
  };
  return handle;
}

// The contract suites every back end must pass (a bus, a history, a presence store, a store): call one
// with a factory for your implementation inside a node:test file.
export { busContract } from './bus-contract.ts';
export { historyContract } from './history-contract.ts';
export { presenceContract } from './presence-contract.ts';
export { storeContract } from './store-contract.ts';
