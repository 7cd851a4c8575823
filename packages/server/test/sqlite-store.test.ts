// The SQLite store passes the store contract, survives a reopen, and refuses a file from a newer Switchboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

test('SqliteStore: processes that open a new file at the same moment all start (cluster workers do)', async () => {
  // A new file is switched to WAL under a lock: a process that met that lock before its busy timeout was set
  // failed with "database is locked" (seen in CI with `start --workers 2`). Rounds of six make the race likely.
  const fixture = fileURLToPath(new URL('./fixtures/sqlite-open.ts', import.meta.url));
  for (let round = 0; round < 5; round++) {
    const file = join(dir, `together-${round}`, 'store.db');
    const runs = Array.from({ length: 6 }, () => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--no-warnings', fixture, file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('close', (code) => resolve({ code, stderr }));
    }));
    for (const run of await Promise.all(runs)) assert.equal(run.code, 0, `a process failed to open the store: ${run.stderr}`);
  }
});
