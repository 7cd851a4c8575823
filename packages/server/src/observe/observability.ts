// What the server wires in for operators: the Prometheus endpoint, the access log and flushing logs at shutdown.
// `server.ts` creates one and calls it from a few marked places (the request handler, the transport's upgrade
// answers, listen, close, and SIGUSR1).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AdminApi } from '../admin.ts';
import { DevErrorCode, SwitchboardError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { AccessLog } from './access-log.ts';
import { flushLogger } from './logging.ts';
import { Prometheus, type PrometheusSources } from './prometheus.ts';

/** What `Observability` is handed by `server.ts`. */
export interface ObservabilityOptions {
  options: Pick<ResolvedOptions, 'metricsPath' | 'accessLog'>;
  log: Logger;
  /** The admin API, whose check (loopback, or the admin token) protects the metrics endpoint. */
  admin: AdminApi;
  /** What the metrics read when scraped. */
  sources: PrometheusSources;
}

/**
 * The server's metrics endpoint, access log and log flushing.
 *
 * @example
 * const observe = new Observability({ options, log, admin, sources });
 * const onRequest = (req, res) => { if (observe.request(req, res)) return; ... };
 */
export class Observability {
  /** The Prometheus metrics; undefined when `metricsPath` is false. */
  readonly prometheus: Prometheus | undefined;
  private readonly accessLog: AccessLog | undefined;
  private readonly metricsPath: string | false;
  private readonly admin: AdminApi;
  private readonly log: Logger;
  private readonly file: string | undefined;

  constructor({ options, log, admin, sources }: ObservabilityOptions) {
    this.metricsPath = options.metricsPath;
    this.prometheus = options.metricsPath === false ? undefined : new Prometheus(sources);
    this.accessLog = options.accessLog === false ? undefined : new AccessLog(options.accessLog, log);
    this.file = options.accessLog === false ? undefined : options.accessLog.file;
    this.admin = admin;
    this.log = log;
  }

  /**
   * In `listen()`: opens the access log (rejects with SB_CONFIG_INVALID when its file cannot be opened) and
   * starts loading prom-client in the background.
   */
  async start(): Promise<void> {
    this.prometheus?.load().catch((error: unknown) => this.log.error({ err: error }, 'prom-client could not be loaded; /metrics will answer 500'));
    try {
      await this.accessLog?.open();
    } catch (error) {
      throw new SwitchboardError(DevErrorCode.configInvalid, `accessLog.file: cannot open ${this.file}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * First thing for every HTTP request: starts its access-log entry, and answers it when it is a scrape of
   * the metrics path (true: the request is answered, nothing else should handle it).
   */
  request(req: IncomingMessage, res: ServerResponse): boolean {
    this.accessLog?.track(req, res);
    const path = this.metricsPath;
    if (path === false || this.prometheus === undefined) return false;
    const url = req.url ?? '/';
    if (url !== path && !url.startsWith(`${path}?`)) return false;
    if (this.admin.guard(req, res)) this.prometheus.handle(req, res);
    return true;
  }

  /** The transport answered an upgrade request (TransportOptions.upgradeAnswered). */
  readonly upgradeAnswered = (request: IncomingMessage, status: number, bodyBytes: number, startedAt: number): void => {
    this.accessLog?.upgrade(request, status, bodyBytes, startedAt);
  };

  /** Reopens the access log file by name, for logrotate (`server.reopenLogs()`, SIGUSR1). */
  reopen(): void {
    this.accessLog?.reopen();
    this.log.info('logs reopened');
  }

  /** Resolves once every access-log line so far is written. */
  flush(): Promise<void> {
    return this.accessLog?.flush() ?? Promise.resolve();
  }

  /** At the end of shutdown: writes what the access log and the application log have buffered. */
  async close(): Promise<void> {
    await this.accessLog?.close().catch((error: unknown) => this.log.error({ err: error }, 'closing the access log failed'));
    await flushLogger(this.log);
  }
}
