// The docs and the code agree: every error and close code is documented, and nothing documented is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { CloseCode, ErrorCode } from '@switchboard/protocol';
import { DevErrorCode, FaultCode } from '@switchboard/server';

const docs = new URL('../../../docs/', import.meta.url);

/** The first cell of every table row in a section of a markdown file. */
async function tableKeys(file: string, heading: string): Promise<string[]> {
  const text = `\n${await readFile(new URL(file, docs), 'utf8')}`;
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `${file} has a "${heading}" section`);
  const rest = text.slice(start + heading.length + 2);
  const end = rest.search(/\n#{1,3} /);
  const section = end >= 0 ? rest.slice(0, end) : rest;
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .slice(1)
    .map((line) => line.split('|')[1]!.trim().replace(/`/g, ''));
}

test('docs/protocol.md lists exactly the protocol error codes', async () => {
  assert.deepEqual((await tableKeys('protocol.md', '## Error codes')).sort(), Object.values(ErrorCode).sort());
});

test('docs/protocol.md lists exactly the close codes', async () => {
  assert.deepEqual(
    (await tableKeys('protocol.md', '## Close codes')).map(Number).sort(),
    Object.values(CloseCode).map(Number).sort(),
  );
});

test('docs/errors.md lists exactly the developer error codes', async () => {
  assert.deepEqual((await tableKeys('errors.md', '# Developer errors')).sort(), Object.values(DevErrorCode).sort());
});

test('docs/errors.md lists exactly the codes the server logs', async () => {
  assert.deepEqual((await tableKeys('errors.md', '## Codes in the log')).sort(), Object.values(FaultCode).sort());
});
