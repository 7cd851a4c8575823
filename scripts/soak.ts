// `npm run soak`: connection churn and traffic against a server recording everything, for a set time,
// reporting its RSS and heap over time and their slope — a leak shows as a slope that does not flatten.
// Bounded: --seconds (default 60, at most 3600), --connections (default 200), --rate (requests/s, default 1000).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, connections: { type: 'string', default: '200' }, rate: { type: 'string', default: '1000' } },
});
const seconds = Math.min(3600, Math.max(10, Number(values.seconds)));
const connections = Math.min(5000, Math.max(1, Number(values.connections)));
const rate = Math.min(50_000, Math.max(1, Number(values.rate)));
if (![seconds, connections, rate].every(Number.isFinite)) {
  console.error('usage: npm run soak -- [--seconds 60] [--connections 200] [--rate 1000]');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'switchboard-soak-'));
const child = spawn(process.execPath, [new URL('./soak-server.ts', import.meta.url).pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
const { url, wsUrl } = JSON.parse(line) as { url: string; wsUrl: string };

/** One client: requests on a timer, answered or not; churned by terminating its socket. */
const sockets = new Set<WebSocket>();
let opened = 0;
let replies = 0;
let sent = 0;
function open(): void {
  const ws = new WebSocket(wsUrl, 'switchboard.v1.json');
  opened++;
  sockets.add(ws);
  ws.on('message', () => replies++);
  ws.on('close', () => sockets.delete(ws));
  ws.on('error', () => sockets.delete(ws));
}
for (let i = 0; i < connections; i++) open();

/** Process memory, scraped from the server's Prometheus endpoint. */
async function memory(): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: read('process_resident_memory_bytes'), heap: read('nodejs_heap_size_used_bytes') };
}

const samples: { at: number; rss: number; heap: number }[] = [];
const started = Date.now();
const deadline = started + seconds * 1000;
let tick = 0;
const perTick = rate / 10;
let id = 1;
while (Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  tick++;
  // Traffic: rate/10 requests every 100 ms, spread over the open sockets.
  const open_ = [...sockets].filter((ws) => ws.readyState === WebSocket.OPEN);
  for (let i = 0; i < perTick && open_.length > 0; i++) {
    open_[i % open_.length]!.send(JSON.stringify({ type: 'echo.say', id: id++, data: { text: `soak ${id}` } }));
    sent++;
  }
  // Churn: about 2 % of the connections dropped (no close frame) and replaced, every 100 ms.
  for (const ws of open_.slice(0, Math.ceil(open_.length * 0.02))) ws.terminate();
  while (sockets.size < connections) open();
  if (tick % 50 === 0) samples.push({ at: (Date.now() - started) / 1000, ...(await memory()) });
}
samples.push({ at: (Date.now() - started) / 1000, ...(await memory()) });

/** Least-squares slope of y over x, per minute. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60;
}
const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
// The second half only: the first half is warm-up (JIT, caches, the SQLite page cache filling).
const late = samples.filter((sample) => sample.at >= seconds / 2);
console.log(`soak: ${seconds} s, ${connections} connections (${opened} opened in all), ${sent} requests sent, ${replies} frames received`);
console.log('   time   rss MB   heap MB');
for (const sample of samples) console.log(`${sample.at.toFixed(0).padStart(6)} ${mb(sample.rss).padStart(8)} ${mb(sample.heap).padStart(9)}`);
console.log(`slope over the second half: rss ${mb(slope(late.map((s) => ({ x: s.at, y: s.rss }))))} MB/min, heap ${mb(slope(late.map((s) => ({ x: s.at, y: s.heap }))))} MB/min`);

for (const ws of sockets) ws.terminate();
child.kill('SIGTERM');
await once(child, 'exit');
rmSync(dir, { recursive: true, force: true });
