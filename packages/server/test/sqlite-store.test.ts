// The SQLite store passes the store contract, survives a reopen, and refuses a file from a newer Switchboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { SqliteStore, type Store } from '@switchboard/server';
import { storeContract } from '@switchboard/server/testing';

const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeContract(
  'SqliteStore',
  async () => new SqliteStore({ file: join(dir, `store-${++n}.db`) }),
  async (store: Store) => {
    await store.close();
    const again = new SqliteStore({ file: (store as SqliteStore).file });
    await again.migrate();
    return again;
  },
);

test('SqliteStore: a file with a newer schema is refused with a message that says so', async () => {
  const file = join(dir, 'newer.db');
  const store = new SqliteStore({ file });
  await store.migrate();
  await store.close();
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(file);
  db.exec('PRAGMA user_version = 99');
  db.close();
  const newer = new SqliteStore({ file });
  await assert.rejects(newer.migrate(), /schema version 99, newer than this Switchboard/);
  await newer.close();
});
