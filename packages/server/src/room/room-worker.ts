// The worker thread of a `thread` room: imports the plug's module, finds the room kind, and runs one instance
// in an inline engine, answering the server's calls and pings. Nothing here outlives the thread.
import { parentPort, workerData } from 'node:worker_threads';
import { MessageError } from '../errors.ts';
import { InlineEngine, type EngineSink } from './engine.ts';
import { isRoom, type Room } from './define.ts';
import type { FromWorker, ToWorker, WorkerStart } from './thread-engine.ts';

const start = workerData as WorkerStart;
const port = parentPort!;
const post = (message: FromWorker): void => port.postMessage(message);

/** The room kind of the plug module at one version (a query string makes each version a fresh import). */
async function load(version: string): Promise<Room> {
  const url = `${start.module}${start.module.includes('?') ? '&' : '?'}room-version=${encodeURIComponent(version)}`;
  const module = (await import(url)) as { default?: { rooms?: Record<string, unknown> } };
  const room = module.default?.rooms?.[start.kind];
  if (!isRoom(room)) throw new Error(`${start.module} does not export a plug with a "${start.kind}" room kind`);
  return room;
}

const sink: EngineSink = {
  commit: (patch, views) => post({ t: 'commit', patch, views }),
  send: (member, type, data) => post({ t: 'send', member, type, data }),
  broadcast: (type, data, except) => post({ t: 'broadcast', type, data, except }),
  fault: (error) => post({ t: 'fault', message: (error as Error)?.message ?? String(error), ...((error as Error)?.stack ? { stack: (error as Error).stack } : {}) }),
  close: (message) => post({ t: 'close', message }),
  remove: (member, message) => post({ t: 'remove', member, message }),
};

let version = start.version;
const owner = { name: start.kind, version };
const engine = new InlineEngine(await load(version), start.id, start.kind, sink, owner, start.taskTimeoutMs, start.checkPushes);

// Ready: the watchdog's deadline counts from now.
post({ t: 'pong', n: 0 });

async function dispatch(op: string, args: unknown[]): Promise<unknown> {
  switch (op) {
    case 'start':
      return engine.start(args[0] as never);
    case 'join':
      return engine.join(args[0] as never, args[1] as boolean);
    case 'leave':
      return engine.leave(args[0] as string);
    case 'message':
      return engine.message(args[0] as string, args[1] as string, args[2]);
    case 'upgrade': {
      const [from, to] = args as [string, string];
      const definition = await load(to);
      await engine.upgrade(definition, from, to);
      version = to;
      return undefined;
    }
    case 'dispose':
      return engine.dispose();
    default:
      throw new Error(`unknown call ${op}`);
  }
}

port.on('message', (message: ToWorker) => {
  if (message.t === 'ping') return post({ t: 'pong', n: message.n });
  if (message.t === 'presence') return engine.presence(message.member, message.connectionId);
  dispatch(message.op, message.args).then(
    (value) => post({ t: 'reply', seq: message.seq, ok: true, value }),
    (error: unknown) => {
      const known = error instanceof MessageError;
      post({
        t: 'reply',
        seq: message.seq,
        ok: false,
        error: known
          ? { code: error.code, message: error.message, plain: false, ...(error.details ? { details: error.details } : {}) }
          : { code: 'handler_error', message: (error as Error)?.message ?? String(error), plain: true },
      });
    },
  );
});
