// The access log: nginx `combined` lines for HTTP requests and WebSocket upgrades (accepted and refused), a
// custom format, reopening for logrotate (directly, and by SIGUSR1 in a server process), and flushing at exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createServer, DevErrorCode } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

/** nginx `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`. */
const COMBINED = /^(\S+) - (\S+) \[(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

interface Line {
  remoteAddr: string;
  remoteUser: string;
  time: number;
  request: string;
  status: number;
  bytes: number;
  referer: string;
  userAgent: string;
}

function parseLine(line: string): Line {
  const m = COMBINED.exec(line);
  assert.ok(m, `a combined-format line: ${line}`);
  const [, addr, user, day, month, year, hh, mm, ss, zone, request, status, bytes, referer, agent] = m as unknown as string[];
  const offsetMinutes = (zone![0] === '-' ? -1 : 1) * (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(3)));
  const time = Date.UTC(Number(year), MONTHS.indexOf(month!), Number(day), Number(hh), Number(mm), Number(ss)) - offsetMinutes * 60_000;
  return { remoteAddr: addr!, remoteUser: user!, time, request: request!, status: Number(status), bytes: Number(bytes), referer: referer!, userAgent: agent! };
}

async function linesOf(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line !== '');
}

/** Waits until `file` has at least `count` lines (writes are asynchronous), and returns them. */
async function waitForLines(file: string, count: number, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = await linesOf(file);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) assert.fail(`${file}: ${lines.length} lines after ${timeoutMs} ms, expected ${count}:\n${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** An upgrade that is refused: resolves with the HTTP status. */
function refusedUpgrade(url: string, headers?: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => {});
  });
}

test('HTTP requests and WebSocket upgrades are logged in the combined format; reopenLogs starts a new file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-access-'));
  try {
    const file = join(dir, 'logs', 'access.log');
    await mkdir(join(dir, 'public'));
    await writeFile(join(dir, 'public', 'hello.txt'), 'hello, world\n');
    await using t = await startTestServer({
      public: join(dir, 'public'),
      accessLog: { file },
      adminToken: 'a-token-of-sixteen-chars',
      limits: { maxConnections: 1 },
    });
    const started = Date.now();
    const agent = 'access-test/1.0 "quoted"';
    const staticFile = await fetch(`${t.url}/hello.txt?x=1`, { headers: { 'user-agent': agent, referer: 'http://example.test/page' } });
    assert.equal(await staticFile.text(), 'hello, world\n');
    const head = await fetch(`${t.url}/hello.txt`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const unauthorized = await fetch(`${t.url}/admin/metrics`);
    assert.equal(unauthorized.status, 401);
    const unauthorizedBody = await unauthorized.text();
    const health = await fetch(`${t.url}/healthz`, { headers: { authorization: `Basic ${Buffer.from('ada:secret').toString('base64')}` } });
    const healthBody = await health.text();
    assert.equal((await fetch(`${t.url}/missing`)).status, 404);
    await using client = await RawClient.connect(t.wsUrl, { headers: { 'user-agent': 'ws-client' } });
    assert.equal(await refusedUpgrade(t.wsUrl), 503, 'maxConnections is 1: the second upgrade is refused');
    assert.equal(await refusedUpgrade(`${t.url.replace('http', 'ws')}/elsewhere`), 404);

    const lines = (await waitForLines(file, 8)).map(parseLine);
    const byRequest = (request: string, status: number) => {
      const found = lines.filter((line) => line.request === request && line.status === status);
      assert.equal(found.length, 1, `one line for "${request}" ${status}: ${JSON.stringify(lines, null, 1)}`);
      return found[0]!;
    };
    for (const line of lines) {
      assert.equal(line.remoteAddr, '127.0.0.1');
      assert.ok(Math.abs(line.time - started) < 5_000, `time_local is now: ${new Date(line.time).toISOString()}`);
    }
    const served = byRequest('GET /hello.txt?x=1 HTTP/1.1', 200);
    assert.equal(served.bytes, 'hello, world\n'.length);
    assert.equal(served.referer, 'http://example.test/page');
    assert.equal(served.userAgent, 'access-test/1.0 \\x22quoted\\x22', 'quotes in a value are escaped as nginx does');
    assert.equal(served.remoteUser, '-');
    assert.equal(byRequest('HEAD /hello.txt HTTP/1.1', 200).bytes, 0, 'no body for HEAD');
    assert.equal(byRequest('GET /admin/metrics HTTP/1.1', 401).bytes, Buffer.byteLength(unauthorizedBody));
    const healthLine = byRequest('GET /healthz HTTP/1.1', 200);
    assert.equal(healthLine.bytes, Buffer.byteLength(healthBody));
    assert.equal(healthLine.remoteUser, 'ada');
    assert.equal(healthLine.referer, '-', 'a missing header is "-"');
    byRequest('GET /missing HTTP/1.1', 404);
    assert.equal(byRequest('GET /ws HTTP/1.1', 101).userAgent, 'ws-client');
    assert.ok(byRequest('GET /ws HTTP/1.1', 503).bytes > 0, 'a refused upgrade logs the body it was answered');
    byRequest('GET /elsewhere HTTP/1.1', 404);

    // logrotate: the file is moved away, the server reopens it by name, and new lines go to a new file.
    await rename(file, `${file}.1`);
    t.server.reopenLogs();
    await fetch(`${t.url}/healthz?after=rotate`);
    const fresh = await waitForLines(file, 1);
    assert.equal(fresh.length, 1);
    assert.equal(parseLine(fresh[0]!).request, 'GET /healthz?after=rotate HTTP/1.1');
    assert.equal((await linesOf(`${file}.1`)).length, lines.length, 'nothing more went to the rotated file');
    client.ws.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a custom format uses nginx variables; an unknown variable or a file that cannot be opened is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-access-'));
  try {
    const file = join(dir, 'access.log');
    await using t = await startTestServer({ accessLog: { file, format: '$request_method $uri [$args] $status ${body_bytes_sent}b $request_time $http_x_request_id $server_protocol' } });
    await fetch(`${t.url}/healthz?probe=1`, { headers: { 'x-request-id': 'req-42' } });
    const [line] = await waitForLines(file, 1);
    assert.match(line!, /^GET \/healthz \[probe=1\] 200 \d+b \d+\.\d{3} req-42 HTTP\/1\.1$/);

    assert.throws(
      () => createServer({ accessLog: { format: '$remote_addr $no_such_thing' } }),
      (error: Error & { code?: string }) => error.code === DevErrorCode.configInvalid && /\$no_such_thing/.test(error.message),
    );
    await writeFile(join(dir, 'not-a-folder'), '');
    const unwritable = createServer({ port: 0, accessLog: { file: join(dir, 'not-a-folder', 'access.log') } });
    await assert.rejects(unwritable.listen(), (error: Error & { code?: string }) => error.code === DevErrorCode.configInvalid && /accessLog\.file/.test(error.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('in a server process, SIGUSR1 reopens the access log and SIGTERM leaves no line unwritten', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-access-'));
  const appLog = join(dir, 'app.log');
  const accessLog = join(dir, 'access.log');
  const script = fileURLToPath(new URL('./fixtures/logging-server.ts', import.meta.url));
  const child = spawn(process.execPath, [script, appLog, accessLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    const url = chunk.toString().trim();
    await fetch(`${url}/healthz?n=1`);
    await waitForLines(accessLog, 1);
    await rename(accessLog, `${accessLog}.1`);
    child.kill('SIGUSR1');
    // The reopen is logged once it is done; poll the application log for it.
    const deadline = Date.now() + 5000;
    while (!(await readFile(appLog, 'utf8').catch(() => '')).includes('logs reopened')) {
      assert.ok(Date.now() < deadline, 'the server logged "logs reopened"');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await fetch(`${url}/healthz?n=2`);
    // Right away, then SIGTERM: the line must still be written before the process exits.
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /Debugger listening/, 'SIGUSR1 did not start the inspector');
    assert.deepEqual((await linesOf(`${accessLog}.1`)).map((line) => parseLine(line).request), ['GET /healthz?n=1 HTTP/1.1']);
    assert.deepEqual((await linesOf(accessLog)).map((line) => parseLine(line).request), ['GET /healthz?n=2 HTTP/1.1']);
    // The application log went through the worker thread and its last line is there: nothing lost at exit.
    const app = (await linesOf(appLog)).map((line) => JSON.parse(line) as { msg: string; name: string });
    assert.ok(app.every((entry) => entry.name === 'switchboard'), 'JSON lines');
    assert.deepEqual(app.map((entry) => entry.msg).slice(-2), ['shutting down', 'server stopped']);
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
