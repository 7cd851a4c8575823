// The server `npm run soak` runs in a process of its own: an echo plug, a channel, SQLite records with the
// audit on, in a temporary data folder. Prints its URLs as one JSON line; stops on SIGTERM.
import { createServer, definePlug, SqliteStore, z } from '@switchboard/server';
import { pino } from 'pino';

const echo = definePlug({
  name: 'echo',
  messages: {
    'echo.say': { input: z.object({ text: z.string().max(200) }), handler: (data) => ({ text: data.text }) },
  },
});

const dataDir = process.argv[2] ?? '.';
const server = createServer({
  host: '127.0.0.1',
  port: 0,
  plugs: [echo],
  logger: pino({ level: 'warn' }),
  store: new SqliteStore({ file: `${dataDir}/soak.db` }),
  audit: { spool: `${dataDir}/spool.jsonl` },
  auth: { defaultGrants: ['call:*', 'subscribe:*', 'publish:*'] },
  limits: { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 } },
});
const { url, wsUrl } = await server.listen();
server.handleSignals();
process.stdout.write(`${JSON.stringify({ url, wsUrl })}\n`);
