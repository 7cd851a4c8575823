// Live hot swap: plug files added, changed, broken and removed while 100 clients stay connected and keep sending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, unlink, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { ErrorCode, type Envelope } from '@switchboard/protocol';
import { startTestServer } from '@switchboard/server/testing';
import type { SwitchboardServer } from '@switchboard/server';
import { RawClient } from './helpers.ts';

function counterPlug(answer: string, extra = '', description = 'Count a hit'): string {
  return `import { definePlug } from '@switchboard/server';
import { z } from 'zod';
let calls = 0; // module state: fresh for every version
export default definePlug({
  name: 'counter',
  messages: {
    'counter.hit': {
      description: ${JSON.stringify(description)},
      input: z.object({ n: z.number() }),
      async handler(data, ctx) {
        calls++;
        const total = ((ctx.state.get('total') as number | undefined) ?? 0) + 1;
        ctx.state.set('total', total);
        await new Promise((resolve) => setTimeout(resolve, 1));
        return { answer: ${JSON.stringify(answer)}, n: data.n, total, calls };
      },
    },
    ${extra}
  },
});
`;
}

async function writeAtomically(file: string, content: string): Promise<void> {
  // Editors often save through a temporary file and a rename; the watcher must handle both.
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, content);
  await rename(temporary, file);
}

function nextPlugEvent(server: SwitchboardServer, event: 'plug:loaded' | 'plug:rejected' | 'plug:unloaded'): Promise<unknown[]> {
  return once(server.events, event);
}

async function withPlugsDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-plugs-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('swapping a plug under load loses no connection and no request', async () => {
  await withPlugsDir(async (dir) => {
    const file = join(dir, 'counter.ts');
    await writeFile(file, counterPlug('v1'));
    await using t = await startTestServer({ plugs: dir, watch: true, limits: { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0 } } });
    const clients = await Promise.all(Array.from({ length: 100 }, () => RawClient.connect(t.wsUrl)));
    const manifests = clients.map((client) => client.next((e) => e.type === '$manifest', 10_000));
    // Awaited at the end; when the test fails before that, they must not turn into unhandled rejections.
    for (const manifest of manifests) manifest.catch(() => undefined);
    try {
      let running = true;
      const answers = new Set<string>();
      let replies = 0;
      // Every client keeps one request outstanding until told to stop; each reply must be a success.
      const load = clients.map(async (client) => {
        let n = 0;
        while (running && n < 10_000) {
          const reply = await client.request('counter.hit', { n });
          assert.equal(reply.error, undefined, JSON.stringify(reply.error));
          const data = reply.data as { answer: string; n: number };
          assert.equal(data.n, n);
          answers.add(data.answer);
          replies++;
          n++;
        }
      });
      for (const run of load) run.catch(() => undefined);
      // Yields until `count` replies have arrived; the load never stalls, so a timeout is a failure.
      const waitForReplies = async (count: number) => {
        const deadline = Date.now() + 10_000;
        while (replies < count) {
          if (Date.now() > deadline) {
            running = false;
            throw new Error(`only ${replies} of ${count} replies within 10 s`);
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      await waitForReplies(300);

      // A new version takes effect without a restart.
      const loaded = nextPlugEvent(t.server, 'plug:loaded');
      // Its description changed, which clients can see: the new manifest is pushed (a handler-only change is not).
      await writeAtomically(file, counterPlug('v2', '', 'Count a hit, v2'));
      await loaded;
      const afterSwap = replies;
      await waitForReplies(afterSwap + 300);

      // A broken version is rejected and v2 keeps serving.
      const rejected = nextPlugEvent(t.server, 'plug:rejected');
      await writeFile(file, 'export default definePlug({ name: "counter", messages: { oops');
      const [rejection] = (await rejected) as [{ error: Error & { code?: string } }];
      assert.equal(rejection.error.code, 'SB_PLUG_LOAD_FAILED');
      const afterBreak = replies;
      await waitForReplies(afterBreak + 300);

      running = false;
      await Promise.all(load);
      assert.ok(answers.has('v1') && answers.has('v2'), `answers seen: ${[...answers].join(', ')}`);
      assert.equal(t.server.plugs().find((p) => p.name === 'counter')?.file, file);
      for (const client of clients) assert.equal(client.closeCode, undefined, 'no connection was closed');
      assert.equal(t.server.connectionCount, 100);
      const last = await clients[0]!.request('counter.hit', { n: -1 });
      const data = last.data as { answer: string; total: number; calls: number };
      assert.equal(data.answer, 'v2');
      // ctx.state survived the swap; the module variable did not.
      assert.ok(data.total > data.calls, `state total ${data.total} should exceed v2's own calls ${data.calls}`);
      // Every client was told about the new manifest.
      for (const manifest of await Promise.all(manifests)) {
        const entry = (manifest.data as { messages: { type: string; description?: string }[] }).messages.find((m) => m.type === 'counter.hit');
        assert.equal(entry?.description, 'Count a hit, v2');
      }
    } finally {
      await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
    }
  });
});

test('adding and removing plug files, conflicts, invalid definitions', async () => {
  await withPlugsDir(async (dir) => {
    await writeFile(join(dir, 'counter.ts'), counterPlug('v1'));
    await using t = await startTestServer({ plugs: dir, watch: true });
    await using client = await RawClient.connect(t.wsUrl);
    assert.equal((await client.request('greet.hello', {})).error?.code, ErrorCode.unknownType);

    // Add a plug: the manifest push announces the new message type with its JSON Schema.
    const manifestPush = client.next((e: Envelope) => e.type === '$manifest');
    const loaded = nextPlugEvent(t.server, 'plug:loaded');
    await writeFile(
      join(dir, 'greet.ts'),
      `import { definePlug, z } from '@switchboard/server';
export default definePlug({ name: 'greet', version: '1.2.3', messages: {
  'greet.hello': { input: z.object({ name: z.string().default('world') }), output: z.object({ text: z.string() }),
    handler: (data) => ({ text: 'hello ' + data.name }) } } });
`,
    );
    await loaded;
    const manifest = (await manifestPush).data as { messages: { type: string; plugVersion: string; input: { type: string } }[] };
    const entry = manifest.messages.find((m) => m.type === 'greet.hello');
    assert.equal(entry?.plugVersion, '1.2.3');
    assert.equal(entry?.input.type, 'object');
    assert.deepEqual((await client.request('greet.hello', {})).data, { text: 'hello world' });

    // A second plug claiming an existing message type is rejected; the first keeps serving.
    let rejected = nextPlugEvent(t.server, 'plug:rejected');
    await writeFile(join(dir, 'thief.ts'), counterPlug('thief').replace("name: 'counter'", "name: 'thief'"));
    let [rejection] = (await rejected) as [{ error: Error & { code?: string } }];
    assert.equal(rejection.error.code, 'SB_PLUG_CONFLICT');
    assert.equal(((await client.request('counter.hit', { n: 1 })).data as { answer: string }).answer, 'v1');

    // Invalid definitions and import-time throws are rejected with their own codes.
    rejected = nextPlugEvent(t.server, 'plug:rejected');
    await writeFile(join(dir, 'bad.ts'), `export default { name: 'bad', messages: { 'bad.x': { input: 42 } } };\n`);
    [rejection] = (await rejected) as [{ error: Error & { code?: string } }];
    assert.equal(rejection.error.code, 'SB_PLUG_INVALID');
    assert.match(rejection.error.message, /"input" must be a zod schema/);

    rejected = nextPlugEvent(t.server, 'plug:rejected');
    await writeFile(join(dir, 'throws.ts'), `throw new Error('cannot reach the database');\n`);
    [rejection] = (await rejected) as [{ error: Error & { code?: string } }];
    assert.equal(rejection.error.code, 'SB_PLUG_LOAD_FAILED');

    // Removing the file removes its message types.
    const unloaded = nextPlugEvent(t.server, 'plug:unloaded');
    await unlink(join(dir, 'greet.ts'));
    await unloaded;
    assert.equal((await client.request('greet.hello', {})).error?.code, ErrorCode.unknownType);
    assert.equal(client.closeCode, undefined);
  });
});

test('onLoad and onUnload run around each version; a failing onLoad keeps the old version', async () => {
  await withPlugsDir(async (dir) => {
    const plug = (version: string, failLoad: boolean) => `import { definePlug, z } from '@switchboard/server';
export default definePlug({ name: 'life', version: '${version}',
  onLoad(server, state) { ${failLoad ? "throw new Error('no config');" : `state.set('log', [...((state.get('log') as string[]) ?? []), 'load ${version}']);`} },
  onUnload(server, state) { state.set('log', [...((state.get('log') as string[]) ?? []), 'unload ${version}']); },
  messages: { 'life.log': { input: z.object({}), handler: (_d, ctx) => ({ version: '${version}', log: ctx.state.get('log') }) } } });
`;
    const file = join(dir, 'life.ts');
    await writeFile(file, plug('1', false));
    await using t = await startTestServer({ plugs: dir, watch: true });
    await using client = await RawClient.connect(t.wsUrl);

    const rejected = nextPlugEvent(t.server, 'plug:rejected');
    await writeFile(file, plug('2', true));
    const [rejection] = (await rejected) as [{ error: Error & { code?: string } }];
    assert.equal(rejection.error.code, 'SB_PLUG_ONLOAD_FAILED');
    assert.deepEqual((await client.request('life.log', {})).data, { version: '1', log: ['load 1'] });

    const loaded = nextPlugEvent(t.server, 'plug:loaded');
    await writeFile(file, plug('3', false));
    await loaded;
    assert.deepEqual((await client.request('life.log', {})).data, { version: '3', log: ['load 1', 'load 3', 'unload 1'] });
  });
});

test('static mode: plugs passed directly, loaded and unloaded through the API', async () => {
  const { definePlug, z } = await import('@switchboard/server');
  const echo = definePlug({ name: 'echo', messages: { 'echo.say': { input: z.object({ text: z.string() }), handler: (d) => d } } });
  await using t = await startTestServer({ plugs: [echo] });
  await using client = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await client.request('echo.say', { text: 'a' })).data, { text: 'a' });
  const manifestPush = client.next((e) => e.type === '$manifest');
  assert.equal(await t.server.unloadPlug('echo'), true);
  assert.deepEqual((await manifestPush).data, t.server.manifest());
  assert.equal((await client.request('echo.say', { text: 'a' })).error?.code, ErrorCode.unknownType);
  await assert.rejects(t.server.loadPlug({ name: 'no messages' }), { code: 'SB_PLUG_INVALID' });
});
