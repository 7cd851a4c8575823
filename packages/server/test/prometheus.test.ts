// The Prometheus endpoint: a real server, real clients, the exposition text parsed line by line; counters move
// by what was sent, histograms are whole, labels stay bounded, and the endpoint is protected like the admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePlug, defineResource, ErrorCode, z, type ServerOptions } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

// ---------------------------------------------------------------- a parser for the text exposition format 0.0.4

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/** Parses `{a="x",b="y\"z"}` from `text[at]` (the `{`); returns the labels and the index after `}`. */
function parseLabels(text: string, at: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = at + 1;
  while (text[i] !== '}') {
    const eq = text.indexOf('=', i);
    const name = text.slice(i, eq).trim();
    assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_]*$/, `label name "${name}"`);
    assert.equal(text[eq + 1], '"', `label ${name} has a quoted value`);
    let value = '';
    let j = eq + 2;
    for (; text[j] !== '"'; j++) {
      assert.ok(j < text.length, 'unterminated label value');
      if (text[j] === '\\') {
        const next = text[++j];
        value += next === 'n' ? '\n' : next;
      } else {
        value += text[j];
      }
    }
    assert.ok(!(name in labels), `label ${name} given twice`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
  }
  return { labels, end: i + 1 };
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  const value = Number(text);
  assert.ok(!Number.isNaN(value), `a number: "${text}"`);
  return value;
}

/** The family a sample belongs to: `x_bucket`, `x_sum` and `x_count` belong to histogram `x`. */
function familyOf(families: Map<string, Family>, name: string): Family | undefined {
  if (families.has(name)) return families.get(name);
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(base);
  return family && (family.type === 'histogram' || family.type === 'summary') ? family : undefined;
}

/** Parses a whole exposition: every line is a comment (HELP, TYPE), blank, or a sample of a declared family. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (!match) continue; // another comment
      const [, kind, name, rest] = match as unknown as [string, string, string, string];
      const family = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      if (kind === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest), `type of ${name}: ${rest}`);
        family.type = rest;
      } else {
        family.help = rest;
      }
      families.set(name, family);
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    assert.ok(nameMatch, `a sample line: ${line}`);
    const name = nameMatch[0];
    let labels: Record<string, string> = {};
    let rest = line.slice(name.length);
    if (rest.startsWith('{')) {
      const parsed = parseLabels(line, name.length);
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    }
    const [valueText] = rest.trim().split(/\s+/);
    const family = familyOf(families, name);
    assert.ok(family, `sample ${name} has a # TYPE line before it`);
    family.samples.push({ name, labels, value: parseValue(valueText!) });
  }
  return families;
}

const matches = (labels: Record<string, string>, want: Record<string, string>) => Object.entries(want).every(([key, value]) => labels[key] === value);

/** One sample's value (0 when the series is absent, as a counter that has not moved). */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = familyOf(families, name);
  const found = family?.samples.filter((sample) => sample.name === name && matches(sample.labels, labels)) ?? [];
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} is one series, found ${found.length}`);
  return found[0]?.value ?? 0;
}

/** Checks one histogram series: cumulative buckets, `+Inf` equal to the count, a sum; returns the count. */
function histogram(families: Map<string, Family>, name: string, labels: Record<string, string>): { count: number; sum: number; buckets: [number, number][] } {
  const family = families.get(name);
  assert.equal(family?.type, 'histogram', `${name} is a histogram`);
  const buckets = family.samples
    .filter((sample) => sample.name === `${name}_bucket` && matches(sample.labels, labels))
    .map((sample): [number, number] => [parseValue(sample.labels.le!), sample.value]);
  assert.ok(buckets.length >= 2, `${name} ${JSON.stringify(labels)} has buckets`);
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(buckets[i]![0] > buckets[i - 1]![0], 'bucket bounds increase');
    assert.ok(buckets[i]![1] >= buckets[i - 1]![1], 'buckets are cumulative');
  }
  assert.equal(buckets.at(-1)![0], Infinity, 'the last bucket is +Inf');
  const count = value(families, `${name}_count`, labels);
  assert.equal(buckets.at(-1)![1], count, '+Inf holds every observation');
  return { count, sum: value(families, `${name}_sum`, labels), buckets };
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Map<string, Family>> {
  const response = await fetch(`${url}/metrics`, { headers });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

// ---------------------------------------------------------------- the server under test

const Item = z.object({ id: z.string() });
const echo = (version = '1') =>
  definePlug({
    name: 'echo',
    version,
    resources: { items: defineResource({ key: 'id', schema: Item, access: { read: 'public', write: 'public' } }) },
    messages: {
      'echo.say': { input: z.object({ text: z.string() }), handler: (data) => data },
      'echo.fail': { input: z.null().optional(), handler: () => Promise.reject(new Error('no')) },
    },
  });
const noLimits = { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 } };

function start(options: ServerOptions = {}) {
  return startTestServer({ plugs: [echo()], limits: noLimits, auth: { defaultGrants: ['call:*', 'subscribe:*'] }, ...options });
}

test('counters, gauges and histograms move by what clients did, and agree with /admin/metrics', async () => {
  await using t = await start();
  const before = await scrape(t.url);
  assert.equal(value(before, 'switchboard_connections_open'), 0);

  await using a = await RawClient.connect(t.wsUrl);
  await using b = await RawClient.connect(t.wsUrl);
  const frames: string[] = [];
  for (let i = 0; i < 5; i++) {
    const frame = JSON.stringify({ type: 'echo.say', id: 100 + i, data: { text: `hello ${i}` } });
    frames.push(frame);
    const reply = a.next((e) => e.id === 100 + i);
    a.sendRaw(frame);
    assert.deepEqual((await reply).data, { text: `hello ${i}` });
  }
  assert.equal((await b.request('echo.fail')).error?.code, ErrorCode.handlerError);
  assert.equal((await b.request('nobody.serves.this')).error?.code, ErrorCode.unknownType);
  await b.request('$subscribe', { channel: 'news' });
  await t.server.resource<{ id: string }>('items').create({ id: 'x' });
  await b.request('$live.subscribe', { resource: 'items' });

  const after = await scrape(t.url);
  assert.equal(after.get('switchboard_connections_open')?.type, 'gauge');
  assert.equal(after.get('switchboard_connections_opened_total')?.type, 'counter');
  assert.equal(value(after, 'switchboard_connections_open'), 2);
  assert.equal(value(after, 'switchboard_connections_opened_total') - value(before, 'switchboard_connections_opened_total'), 2);

  const inSay = { direction: 'in', type: 'echo.say' };
  assert.equal(value(after, 'switchboard_messages_total', inSay), 5);
  assert.equal(value(after, 'switchboard_messages_total', { direction: 'out', type: 'echo.say' }), 5);
  assert.equal(value(after, 'switchboard_message_bytes_total', inSay), frames.reduce((sum, frame) => sum + Buffer.byteLength(frame), 0));
  assert.equal(value(after, 'switchboard_messages_total', { direction: 'in', type: '(unknown)' }), 1);
  assert.equal(value(after, 'switchboard_messages_total', { direction: 'out', type: '$welcome' }), 2);

  // The handler histogram: five echoes, one failure, in seconds.
  const say = histogram(after, 'switchboard_handler_duration_seconds', { type: 'echo.say' });
  assert.equal(say.count, 5);
  assert.ok(say.sum > 0 && say.sum < 5, `sum ${say.sum} s`);
  assert.equal(histogram(after, 'switchboard_handler_duration_seconds', { type: 'echo.fail' }).count, 1);
  assert.equal(value(after, 'switchboard_handler_errors_total', { type: 'echo.fail' }), 1);

  // The size histograms count every message of their direction, whatever its type.
  const inbound = histogram(after, 'switchboard_message_size_bytes', { direction: 'in' });
  const received = after.get('switchboard_messages_total')!.samples.filter((s) => s.labels.direction === 'in').reduce((sum, s) => sum + s.value, 0);
  assert.equal(inbound.count, received);
  assert.equal(inbound.sum, after.get('switchboard_message_bytes_total')!.samples.filter((s) => s.labels.direction === 'in').reduce((sum, s) => sum + s.value, 0));
  const small = inbound.buckets.find(([le]) => le === 64)![1];
  assert.ok(small >= 5, 'the ~50-byte echoes are in the 64-byte bucket');
  histogram(after, 'switchboard_message_size_bytes', { direction: 'out' });

  assert.equal(value(after, 'switchboard_errors_total', { code: ErrorCode.unknownType }), 1);
  assert.equal(value(after, 'switchboard_errors_total', { code: ErrorCode.handlerError }), 1);
  assert.equal(value(after, 'switchboard_channels'), 1);
  assert.equal(value(after, 'switchboard_resource_records', { resource: 'items' }), 1);
  assert.equal(value(after, 'switchboard_resource_subscribers', { resource: 'items' }), 1);
  assert.equal(value(after, 'switchboard_rooms'), 0);
  assert.equal(value(after, 'switchboard_plug_swaps_total', { event: 'loaded' }), 1);

  // Process metrics (prom-client's defaults) come with every server's output.
  assert.ok(after.has('process_cpu_user_seconds_total'));
  assert.ok(after.has('nodejs_eventloop_lag_p99_seconds'));
  assert.ok(after.has('nodejs_heap_size_used_bytes'));

  // One set of numbers, two renderings.
  const json = (await (await fetch(`${t.url}/admin/metrics`)).json()) as { messages: Record<string, { inbound: { count: number; bytes: number }; handler: { count: number } }> };
  assert.equal(json.messages['echo.say']!.inbound.count, 5);
  assert.equal(json.messages['echo.say']!.inbound.bytes, value(after, 'switchboard_message_bytes_total', inSay));
  assert.equal(json.messages['echo.say']!.handler.count, say.count);

  a.ws.close();
  for (let i = 0; i < 100 && value(await scrape(t.url), 'switchboard_connections_open') !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  const closed = await scrape(t.url);
  assert.equal(value(closed, 'switchboard_connections_open'), 1);
  assert.equal(value(closed, 'switchboard_connections_closed_total'), 1);
});

test('500 made-up message types leave the type label bounded', async () => {
  await using t = await start();
  await using client = await RawClient.connect(t.wsUrl);
  for (let i = 0; i < 500; i++) client.sendRaw(JSON.stringify({ type: `made.up.${i}`, id: i + 1 }));
  client.sendRaw('{not json');
  await client.next((e) => e.id === 500);
  await client.next((e) => e.type === '$error' && e.error?.code === ErrorCode.badFrame);
  const families = await scrape(t.url);
  const types = new Set(families.get('switchboard_messages_total')!.samples.map((sample) => sample.labels.type));
  assert.deepEqual([...types].sort(), ['$error', '$welcome', '(invalid)', '(unknown)']);
  assert.equal(value(families, 'switchboard_messages_total', { direction: 'in', type: '(unknown)' }), 500);
  assert.equal(value(families, 'switchboard_messages_total', { direction: 'out', type: '(unknown)' }), 500);
  assert.equal(value(families, 'switchboard_errors_total', { code: ErrorCode.unknownType }), 500);
  // Every labelled family stays small.
  for (const family of families.values()) {
    if (!family.name.startsWith('switchboard_')) continue;
    assert.ok(family.samples.length < 100, `${family.name}: ${family.samples.length} samples`);
  }
});

test('plug loads, swaps and removals are counted', async () => {
  await using t = await start();
  await t.server.loadPlug(echo('2'));
  await t.server.unloadPlug('echo');
  await assert.rejects(t.server.loadPlug({ name: 'broken' })); // refused before it loads: counts as nothing
  const families = await scrape(t.url);
  assert.equal(value(families, 'switchboard_plug_swaps_total', { event: 'loaded' }), 1);
  assert.equal(value(families, 'switchboard_plug_swaps_total', { event: 'swapped' }), 1);
  assert.equal(value(families, 'switchboard_plug_swaps_total', { event: 'removed' }), 1);
});

test('each server has its own registry: two in one process count separately', async () => {
  await using one = await start();
  await using two = await start();
  await using client = await RawClient.connect(one.wsUrl);
  await client.request('echo.say', { text: 'only on one' });
  assert.equal(value(await scrape(one.url), 'switchboard_messages_total', { direction: 'in', type: 'echo.say' }), 1);
  const other = await scrape(two.url);
  assert.equal(value(other, 'switchboard_messages_total', { direction: 'in', type: 'echo.say' }), 0);
  assert.equal(value(other, 'switchboard_connections_opened_total'), 0);
});

test('with an adminToken the endpoint wants it as a Bearer token; metricsPath moves or turns it off', async () => {
  const token = 'a-token-of-sixteen-chars';
  await using t = await start({ adminToken: token });
  const anonymous = await fetch(`${t.url}/metrics`);
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'unauthorized');
  assert.equal((await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer not-the-token-at-all' } })).status, 401);
  const families = await scrape(t.url, { authorization: `Bearer ${token}` });
  assert.ok(families.has('switchboard_connections_open'));
  assert.equal((await fetch(`${t.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 405);

  await using moved = await start({ metricsPath: '/internal/prometheus' });
  assert.equal((await fetch(`${moved.url}/metrics`)).status, 404);
  assert.equal((await fetch(`${moved.url}/internal/prometheus`)).status, 200);

  await using off = await start({ metricsPath: false });
  assert.equal((await fetch(`${off.url}/metrics`)).status, 404);
  // The admin JSON is unaffected either way.
  assert.equal((await fetch(`${off.url}/admin/metrics`)).status, 200);
});
