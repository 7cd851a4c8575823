// Application logs off the event loop: a pino logger whose lines a worker thread writes, and flushing at shutdown.
//
// pino formats a line on the calling thread either way (it is a string concatenation); what can block is the
// write. pino's default destination writes synchronously, so a slow stdout (a full pipe, a slow terminal, a
// log collector that stopped reading) stalls the event loop and every connection with it. With
// `pino.transport()` the line is copied into a buffer shared with a worker thread, and the worker does the
// writing (`pino/file`, to stdout or a file).
//
// Inside the single executable (`npm run build:exe`) there are no module files for a worker to load, so
// there the logger writes with pino's asynchronous destination instead: SonicBoom in asynchronous mode, whose
// writes run on libuv's thread pool, also off the event loop. Either way, `flushLogger` at shutdown writes
// what is buffered, and pino ends the stream on process exit.
import { isSea } from 'node:sea';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** `createTransportLogger` options. */
export interface TransportLoggerOptions {
  /** pino's level. Default `info`. */
  level?: string;
  /** The `name` field of every line. Default `switchboard`. */
  name?: string;
  /** Where lines go: a file path, or 1 for stdout (the default), 2 for stderr. */
  destination?: string | 1 | 2;
}

// One worker per destination and process: every logger writing to stdout shares it.
const destinations = new Map<string | number, DestinationStream>();

function destinationFor(destination: string | 1 | 2): DestinationStream {
  let stream = destinations.get(destination);
  if (stream === undefined) {
    stream = isSea()
      ? pino.destination({ dest: destination, sync: false, mkdir: true })
      : (pino.transport({ target: 'pino/file', options: { destination, mkdir: true } }) as DestinationStream);
    destinations.set(destination, stream);
  }
  return stream;
}

/**
 * A JSON pino logger whose writes never block the event loop (a worker thread writes them). For production;
 * `switchboard start` logs through one. Several loggers to the same destination share one worker.
 *
 * @example
 * const log = createTransportLogger({ level: 'info' });
 * const server = createServer({ logger: log, plugs: './plugs' });
 */
export function createTransportLogger(options: TransportLoggerOptions = {}): Logger {
  const pinoOptions: LoggerOptions = { name: options.name ?? 'switchboard', level: options.level ?? 'info' };
  return pino(pinoOptions, destinationFor(options.destination ?? 1));
}

/**
 * Resolves once the lines `log` has buffered are written (a transport's worker has taken them), or after
 * `timeoutMs` at the latest; never rejects. The server calls it at the end of `close()`.
 *
 * @example
 * log.info('server stopped');
 * await flushLogger(log);
 */
export function flushLogger(log: Logger, timeoutMs = 2_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      log.flush(done);
    } catch {
      // A destination that is closed already, or a stand-in logger without a stream: nothing to flush.
      done();
    }
  });
}
