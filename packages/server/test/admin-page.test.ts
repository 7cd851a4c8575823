// The admin web page in real Chromium: sign-in (a wrong token refused), live connections, a chart that moves,
// the plug hot-swap history, and the audit search over a SQLite store; a screenshot for a reviewer.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { z } from 'zod';
import { definePlug, SqliteStore } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

/** Debian's chromium package; CI installs it with `apt-get install -y chromium`. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = fileURLToPath(new URL('../../../.tmp/screenshots/', import.meta.url));
const TOKEN = 'admin-page-test-token-0123456789';

let browser: Browser | undefined;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(
      `\n${'!'.repeat(78)}\n!! BROWSER TESTS SKIPPED: no Chromium at ${CHROMIUM}.\n` +
        `!! Install it with "apt-get install -y chromium" (or set CHROMIUM_PATH) to run them.\n${'!'.repeat(78)}\n\n`,
    );
    return;
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS, timeout: 30_000 });
});

after(async () => {
  await browser?.close();
});

/** The browser, or undefined after marking the test skipped (loudly) when there is no Chromium. */
function browserOrSkip(t: TestContext): Browser | undefined {
  if (!browser) t.skip(`BROWSER TEST SKIPPED: no Chromium at ${CHROMIUM}; apt-get install -y chromium`);
  return browser;
}

const echo = definePlug({
  name: 'echo',
  version: '1.0.0',
  messages: {
    'echo.say': {
      description: 'replies with what it got',
      input: z.object({ text: z.string() }),
      handler: (data) => ({ text: data.text }),
    },
  },
});

async function newPage(browser: Browser, url: string, problems: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1400 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // The refused sign-in attempts are answered 401 on purpose; Chromium logs those as failed resources.
    if (message.type() === 'error' && !/status of 401/.test(message.text())) problems.push(`console error: ${message.text()}`);
  });
  await page.goto(url);
  return page;
}

test('the admin page: sign in, live connections, a moving chart, plug history and the audit search', async (t) => {
  const b = browserOrSkip(t);
  if (!b) return;
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-admin-page-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await using server = await startTestServer({
    adminToken: TOKEN,
    plugs: [echo],
    store: new SqliteStore({ file: join(dir, 'store.db') }),
    audit: { flushMs: 50 },
  });
  const problems: string[] = [];

  // The shell and its files need no token; the JSON API does.
  const shell = await fetch(`${server.url}/admin/`);
  assert.equal(shell.status, 200);
  assert.match(shell.headers.get('content-type') ?? '', /text\/html/);
  assert.equal((await fetch(`${server.url}/admin/ui/uplot.js`)).status, 200);
  assert.equal((await fetch(`${server.url}/admin`, { redirect: 'manual' })).headers.get('location'), '/admin/');
  assert.equal((await fetch(`${server.url}/admin/plugs/history`)).status, 401);

  const page = await newPage(b, `${server.url}/admin`, problems);

  // A wrong token is refused, visibly.
  await page.locator('#token').fill('not-the-token-at-all-000');
  await page.locator('#sign-in-form button[type=submit]').click();
  await page.locator('#sign-in-error', { hasText: 'refused' }).waitFor();
  assert.equal(await page.locator('#dashboard').isHidden(), true);

  // The right one opens the dashboard.
  await page.locator('#token').fill(TOKEN);
  await page.locator('#sign-in-form button[type=submit]').click();
  await page.locator('#dashboard').waitFor();
  await page.locator('#plugs tbody tr[data-id="echo"]').waitFor();
  await page.locator('#plug-history tbody tr', { hasText: 'loaded' }).waitFor();

  // A client connects: its row appears.
  await using client = await RawClient.connect(server.wsUrl);
  const [connection] = [...server.server.connections()];
  assert.ok(connection);
  await page.locator(`#connections tbody tr[data-id="${connection.id}"]`).waitFor();

  // It sends messages: the rate chart gets a non-zero point.
  for (let i = 0; i < 20; i++) {
    const reply = await client.request('echo.say', { text: `hello ${i}` });
    assert.deepEqual(reply.data, { text: `hello ${i}` });
  }
  await page.waitForFunction(() => {
    const admin = (window as unknown as { switchboardAdmin: { charts: Record<string, { data: (number | null)[][] }> } }).switchboardAdmin;
    return admin.charts.rate!.data[1]!.some((value) => (value ?? 0) > 0);
  });
  await page.locator('#types tbody tr[data-id="echo.say"]').waitFor();

  // A hot swap shows in the plug history.
  await server.server.loadPlug({ ...echo, version: '1.1.0' });
  await page.locator('#plug-history tbody tr', { hasText: '1.0.0 → 1.1.0' }).waitFor();
  await page.locator('#plugs tbody tr[data-id="echo"]', { hasText: '1.1.0' }).waitFor();

  // The audit search finds a message by its type.
  await page.locator('#audit-form input[name=messageType]').fill('echo.say');
  await page.locator('#audit-form input[name=type]').fill('message.in');
  await page.waitForFunction(() => {
    // Records are written within audit.flushMs: search again until the earlier answers show them.
    (document.getElementById('audit-form') as HTMLFormElement).requestSubmit();
    return [...document.querySelectorAll('#audit-results tbody tr')].some((row) => row.textContent?.includes('hello 19'));
  }, undefined, { polling: 250 });
  await page.locator('#audit-status', { hasText: 'newest first' }).waitFor();

  // A screenshot with everything on it, for a reviewer.
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = join(SCREENSHOTS, 'admin-page.png');
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${file}`);

  // The token is kept for the tab: a reload signs in at once.
  await page.reload();
  await page.locator('#dashboard').waitFor();

  assert.deepEqual(problems, []);
  await page.context().close();
});

test('the admin page: a server without a store says so in the audit search', async (t) => {
  const b = browserOrSkip(t);
  if (!b) return;
  // No adminToken: the loopback page is signed in at once.
  await using server = await startTestServer({ plugs: [echo] });
  const problems: string[] = [];
  const page = await newPage(b, `${server.url}/admin/`, problems);
  await page.locator('#dashboard').waitFor();
  assert.equal(await page.locator('#sign-in').isHidden(), true);
  await page.locator('#audit-note', { hasText: 'no store' }).waitFor();
  assert.deepEqual(problems, []);
  await page.context().close();
});
