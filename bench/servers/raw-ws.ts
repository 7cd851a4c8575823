// Baseline server child: the least a plain `ws` server does for the same traffic (echo, and ws.send per socket to broadcast).
import { WebSocketServer, WebSocket } from 'ws';
import { serveCommands } from '../lib/ipc.ts';
import { usage } from './control.ts';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1024 * 1024 });

interface Inbound {
  type: string;
  id?: string | number;
  data?: unknown;
}

function onMessage(this: WebSocket, raw: Buffer): void {
  let message: Inbound;
  try {
    message = JSON.parse(raw.toString()) as Inbound;
  } catch {
    return;
  }
  if (message.type === 'bench.broadcast') {
    // What most applications write: serialise once, then ws.send to every other open socket.
    const text = JSON.stringify({ type: 'bench.tick', data: message.data });
    for (const client of wss.clients) if (client !== this && client.readyState === WebSocket.OPEN) client.send(text);
    return;
  }
  this.send(JSON.stringify({ type: message.type, id: message.id, data: message.data }));
}

function ignore(): void {
  // A client that vanishes is not the baseline's concern.
}

wss.on('connection', (ws) => {
  ws.on('message', onMessage);
  ws.on('error', ignore);
});

wss.once('listening', () => {
  const address = wss.address();
  if (typeof address !== 'object' || address === null) throw new Error('the baseline server has no TCP address');
  serveCommands({ usage }, { port: address.port, path: '/ws', kind: 'raw-ws', node: process.version, greeting: false, features: { channels: false } });
});
