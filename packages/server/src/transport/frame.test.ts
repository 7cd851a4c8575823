// prepareFrame writes the same bytes as ws's own frame encoder for every header size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ws from 'ws';
import { prepareFrame } from './ws-transport.ts';

const Sender = (ws as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender;

test('frames match ws for 0, 125, 126, 65535, 65536 and 70000 byte payloads, text and binary', () => {
  for (const size of [0, 1, 125, 126, 65535, 65536, 70000]) {
    for (const binary of [false, true]) {
      const text = 'é'.repeat(Math.floor(size / 2)) + 'a'.repeat(size % 2);
      const data = Buffer.from(text);
      const expected = Buffer.concat(Sender.frame(data, { fin: true, mask: false, opcode: binary ? 2 : 1, readOnly: true, rsv1: false }));
      assert.deepEqual(prepareFrame(text, binary).bytes, expected, `string payload of ${data.length} bytes`);
      assert.deepEqual(prepareFrame(new Uint8Array(data), binary).bytes, expected, `binary payload of ${data.length} bytes`);
      assert.equal(prepareFrame(text, binary).payloadLength, data.length);
    }
  }
});
