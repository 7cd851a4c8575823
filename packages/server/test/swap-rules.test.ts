// What a save does: an edit is swapped even when the declared version is unchanged; a save that changes no
// type or schema tells no client; declared pushes are checked in development; a push type has one owner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlug, DevErrorCode, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { ErrorCode } from '@switchboard/protocol';
import { capturingLogger, RawClient } from './helpers.ts';

function plugSource(answer: string, version?: string, extraInput = ''): string {
  return `import { definePlug } from '@switchboard/server';
import { z } from 'zod';
export default definePlug({
  name: 'answer',
  ${version ? `version: ${JSON.stringify(version)},` : ''}
  messages: {
    'answer.get': { input: z.object({ ${extraInput} }), handler: () => ({ answer: ${JSON.stringify(answer)} }) },
  },
});
`;
}

/** A logger whose JSON lines the test can read. */

test('an edit keeping its declared version is swapped and logged; a handler-only edit pushes no manifest; a schema edit does', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-swap-'));
  try {
    const file = join(dir, 'answer.ts');
    await writeFile(file, plugSource('one', '1'));
    const { logger, lines } = capturingLogger();
    await using t = await startTestServer({ plugs: dir, watch: true, logger });
    await using client = await RawClient.connect(t.wsUrl);
    assert.deepEqual((await client.request('answer.get', {})).data, { answer: 'one' });

    let swapped = once(t.server.events, 'plug:loaded');
    await writeFile(file, plugSource('two', '1'));
    await swapped;
    assert.deepEqual((await client.request('answer.get', {})).data, { answer: 'two' });
    assert.ok(lines.some((line) => String(line.msg).includes('its version "1" did not')), 'the unchanged version is reported');

    // Only the handler changed (no declared version: the content hash changes): no $manifest push.
    swapped = once(t.server.events, 'plug:loaded');
    await writeFile(file, plugSource('three'));
    await swapped;
    assert.deepEqual((await client.request('answer.get', {})).data, { answer: 'three' });
    // A schema change is pushed; nothing was pushed before it.
    swapped = once(t.server.events, 'plug:loaded');
    await writeFile(file, plugSource('four', undefined, 'verbose: z.boolean().optional()'));
    await swapped;
    const pushed = await client.next((e) => e.type === '$manifest' && e.id === undefined);
    assert.equal(client.received.filter((e) => e.type === '$manifest').length, 0, 'exactly one manifest push');
    const entry = (pushed.data as { messages: { type: string; input: { properties: Record<string, unknown> } }[] }).messages[0];
    assert.ok(entry?.input.properties.verbose, 'the pushed manifest has the new schema');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const news = definePlug({
  name: 'news',
  pushes: { 'news.item': z.object({ title: z.string() }) },
  events: { headline: z.object({ title: z.string() }) },
  messages: {
    'news.send': {
      input: z.object({ title: z.unknown() }),
      handler(data, ctx) {
        ctx.send('news.item', { title: data.title as string });
        return { sent: true };
      },
    },
  },
});

test('in development a declared push or channel event with the wrong data is refused with SB_PUSH_INVALID', async () => {
  await using t = await startTestServer({ plugs: [news], development: true });
  await using client = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await client.request('news.send', { title: 'ok' })).data, { sent: true });
  assert.deepEqual((await client.next((e) => e.type === 'news.item')).data, { title: 'ok' });
  // From a handler: the handler fails, its client gets handler_error, no push goes out.
  assert.equal((await client.request('news.send', { title: 42 })).error?.code, ErrorCode.handlerError);
  assert.throws(() => t.server.broadcast('news.item', { title: 7 }), { code: DevErrorCode.pushInvalid });
  assert.throws(() => t.server.publish('room', 'headline', { title: null }), { code: DevErrorCode.pushInvalid });
  const connection = [...t.server.connections()][0]!;
  assert.throws(() => connection.send('news.item', {}), { code: DevErrorCode.pushInvalid });
  // Undeclared types are not checked.
  t.server.broadcast('other.thing', { anything: true });
  assert.deepEqual((await client.next((e) => e.type === 'other.thing')).data, { anything: true });
  await client.request('$ping');
  assert.equal(client.received.filter((e) => e.type === 'news.item').length, 0);
});

test('in production the data of declared pushes is not checked', async () => {
  await using t = await startTestServer({ plugs: [news], development: false });
  await using client = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await client.request('news.send', { title: 42 })).data, { sent: true });
  assert.deepEqual((await client.next((e) => e.type === 'news.item')).data, { title: 42 });
});

test('two plugs may not declare the same push type or channel event', async () => {
  await using t = await startTestServer({ plugs: [news] });
  const clash = definePlug({ name: 'clash', pushes: { 'news.item': z.object({}) }, messages: {} });
  await assert.rejects(t.server.loadPlug(clash), (error: Error & { code?: string }) => error.code === DevErrorCode.plugConflict && /push type "news\.item"/.test(error.message));
  const clashEvent = definePlug({ name: 'clash2', events: { headline: z.object({}) }, messages: {} });
  await assert.rejects(t.server.loadPlug(clashEvent), /channel event "headline" is already declared by plug "news"/);
});
