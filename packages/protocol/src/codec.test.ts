// The JSON codec refuses frames nested deeper than its limit, counting brackets outside strings only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError, MAX_JSON_DEPTH, createJsonCodec, jsonCodec } from './codec.ts';

const nested = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
const isTooDeep = (error: unknown) => error instanceof CodecError && /nesting deeper than 64 levels/.test(error.message);

test('the default limit is 64 levels', () => {
  assert.equal(MAX_JSON_DEPTH, 64);
});

test('64 levels decode, 65 are refused with a CodecError', () => {
  assert.equal(JSON.stringify(jsonCodec.decode(nested(64), false)), nested(64));
  assert.throws(() => jsonCodec.decode(nested(65), false), isTooDeep);
  const objects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  assert.doesNotThrow(() => jsonCodec.decode(objects(64), false));
  assert.throws(() => jsonCodec.decode(objects(65), false), isTooDeep);
  assert.throws(() => jsonCodec.decode('['.repeat(32) + '{"a":'.repeat(33), false), isTooDeep);
});

test('frames given as bytes are checked too', () => {
  assert.throws(() => jsonCodec.decode(new TextEncoder().encode(nested(65)), false), isTooDeep);
  assert.doesNotThrow(() => jsonCodec.decode(new TextEncoder().encode(nested(64)), false));
});

// Frames arrive as Buffers from the socket and as strings from other callers; both are scanned.
const forms = [
  { name: 'string', of: (text: string) => text },
  { name: 'bytes', of: (text: string) => new TextEncoder().encode(text) },
];

for (const { name, of } of forms) {
  test(`brackets inside strings are not counted (${name})`, () => {
    const text = JSON.stringify({ type: 'x', data: '['.repeat(1000) + '{'.repeat(1000) + 'é✓' });
    assert.deepEqual(jsonCodec.decode(of(text), false), JSON.parse(text));
  });

  test(`escaped quotes and backslashes end strings where JSON does (${name})`, () => {
    // "\"" keeps the string open past the escaped quote: the brackets after it are still string content.
    assert.doesNotThrow(() => jsonCodec.decode(of(JSON.stringify({ data: `"${'['.repeat(100)}` })), false));
    // "\\" closes the string: the brackets after it count.
    const atLimit = `["\\\\",${nested(63)}]`;
    assert.equal((jsonCodec.decode(of(atLimit), false) as unknown[])[0], '\\');
    assert.throws(() => jsonCodec.decode(of(`["\\\\",${nested(64)}]`), false), isTooDeep);
    // An escaped backslash then an escaped quote, then brackets still inside the same string.
    assert.doesNotThrow(() => jsonCodec.decode(of(JSON.stringify(['\\"' + '['.repeat(200)])), false));
  });
}

test('1 MiB of opening brackets is refused', () => {
  assert.throws(() => jsonCodec.decode('['.repeat(1024 * 1024), false), isTooDeep);
  assert.throws(() => jsonCodec.decode(Buffer.alloc(1024 * 1024, '['), false), isTooDeep);
  assert.throws(() => jsonCodec.decode(Buffer.from('{"a":'.repeat(200_000)), false), isTooDeep);
});

test('the limit is configurable', () => {
  const shallow = createJsonCodec({ maxDepth: 2 });
  assert.equal(shallow.name, 'json');
  assert.doesNotThrow(() => shallow.decode('{"a":[1]}', false));
  assert.throws(() => shallow.decode('{"a":[[1]]}', false), (error: unknown) => error instanceof CodecError && /nesting deeper than 2 levels/.test(error.message));
  const deep = createJsonCodec({ maxDepth: 500 });
  assert.doesNotThrow(() => deep.decode(nested(500), false));
  assert.throws(() => createJsonCodec({ maxDepth: 0 }), RangeError);
});

test('other failures keep their messages', () => {
  assert.throws(() => jsonCodec.decode('[1,', false), (error: unknown) => error instanceof CodecError && error.message.startsWith('malformed JSON'));
  assert.throws(() => jsonCodec.decode(new Uint8Array([0xff]), false), CodecError);
  assert.throws(() => jsonCodec.decode('{}', true), CodecError);
});
