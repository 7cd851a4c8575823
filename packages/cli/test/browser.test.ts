// Real Chromium against pages the CLI serves: the example app (chat, presence, private room) and an init'd project.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { connect, type Client } from '@switchboard/client';
import { runCli, startCli, tempDir } from './helpers.ts';

/** Debian's chromium package; CI installs it with `apt-get install -y chromium`. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHAT_EXAMPLE = fileURLToPath(new URL('../../../examples/chat/', import.meta.url));
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface ChatMessage {
  seq: number;
  name: string;
  text: string;
}

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

/** Opens `url` in a fresh browser context (its own localStorage), recording page errors in `problems`. */
async function openPage(browser: Browser, url: string, label: string, problems: string[]): Promise<Page> {
  const context = await browser.newContext();
  return openTab(context, url, label, problems);
}

/** Opens `url` in another tab of `context` (sharing its localStorage), recording page errors in `problems`. */
async function openTab(context: BrowserContext, url: string, label: string, problems: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`${label}: page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${label}: console error: ${message.text()}`);
  });
  await page.goto(url);
  return page;
}

/** Opens the chat in a fresh browser context and signs in with the page's (demo) sign-in form. */
async function openChat(browser: Browser, url: string, name: string, role: 'customer' | 'staff', problems: string[]): Promise<Page> {
  const page = await openPage(browser, url, name, problems);
  await page.fill('#name', name);
  await page.selectOption('#role', role);
  // Enabled once the page is connected.
  await page.click('#signin-button', { timeout: 10_000 });
  await page.locator('#me:not([hidden]) #me-name', { hasText: name }).waitFor({ timeout: 10_000 });
  return page;
}

/** A Node client signed in the way the page does it: a token from the demo sign-in, then `authenticate`. */
async function signedInClient(wsUrl: string, name: string, role: 'customer' | 'staff'): Promise<Client> {
  const client = connect(wsUrl);
  try {
    const { token } = (await client.request('demo.signIn', { name, role })) as { token: string };
    await client.authenticate(token);
    return client;
  } catch (error) {
    client.close();
    throw error;
  }
}

/** The first value `subscribe` hands its callback, or a rejection after `timeoutMs`. */
function nextValue<T>(what: string, subscribe: (callback: (value: T) => void) => () => void, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = subscribe((value) => {
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

test('chat in the browser: a message typed on one page reaches another page and a Node client, and back', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using cli = await startCli(['dev', '--port', '0'], { cwd: CHAT_EXAMPLE });
  const problems: string[] = [];
  {
    using node = await signedInClient(cli.wsUrl, 'Node', 'customer');
    const ada = await openChat(browser, `${cli.url}/`, 'Ada', 'customer', problems);
    const bob = await openChat(browser, `${cli.url}/`, 'Bob', 'customer', problems);

    const seenByNode = nextValue<ChatMessage>('chat.message on the Node client', (callback) => node.on<ChatMessage>('chat.message', callback));
    await ada.fill('#text', 'hello from the browser');
    await ada.press('#text', 'Enter');

    await bob.locator('#messages .message', { hasText: 'hello from the browser' }).waitFor({ timeout: 10_000 });
    assert.equal(await bob.locator('#messages .message .name').first().textContent(), 'Ada');
    await ada.locator('#messages .message.mine', { hasText: 'hello from the browser' }).waitFor({ timeout: 10_000 });
    const received = await seenByNode;
    assert.equal(received.name, 'Ada');
    assert.equal(received.text, 'hello from the browser');
    assert.equal(await ada.inputValue('#text'), '', 'the composer clears after sending');

    // And the other way: a Node client's message shows up on both pages.
    await node.request('chat.send', { text: 'hello from Node' });
    for (const page of [ada, bob]) await page.locator('#messages .message', { hasText: 'hello from Node' }).waitFor({ timeout: 10_000 });

    // A page opened later gets the history, in order, before anyone signs in on it.
    const late = await openPage(browser, `${cli.url}/`, 'Late', problems);
    await late.locator('#messages .message', { hasText: 'hello from Node' }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await late.locator('#messages .message .text').allTextContents(), ['hello from the browser', 'hello from Node']);
    assert.equal(await late.isDisabled('#send'), true, 'writing needs a sign-in');

    // Invalid input comes back as a RequestError with issues, shown beside the composer.
    await bob.fill('#text', '   ');
    await bob.press('#text', 'Enter');
    await bob.locator('#error', { hasText: 'Please check: text' }).waitFor({ timeout: 10_000 });

    assert.deepEqual(problems, []);
  }
});

test('presence and a private channel in the browser: who is online, a staff-only room, access changed live', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using cli = await startCli(['dev', '--port', '0'], { cwd: CHAT_EXAMPLE });
  const problems: string[] = [];
  {
    const url = `${cli.url}/`;
    const ada = await openChat(browser, url, 'Ada', 'staff', problems);
    const bob = await openChat(browser, url, 'Bob', 'customer', problems);

    // Both pages list both users, with Ada marked as staff.
    for (const page of [ada, bob]) {
      for (const id of ['ada', 'bob']) await page.locator(`#lobby li[data-id="${id}"]`).waitFor({ timeout: 10_000 });
      assert.deepEqual(await page.locator('#lobby li .name').allTextContents(), ['Ada', 'Bob']);
      assert.equal(await page.locator('#lobby li[data-id="ada"] .badge').textContent(), 'staff');
    }

    // The staff member is in the ops room; the customer sees the server's refusal instead.
    await ada.locator('#ops[data-state="open"] #ops-room').waitFor({ timeout: 10_000 });
    await bob.locator('#ops[data-state="forbidden"]').waitFor({ timeout: 10_000 });
    assert.match((await bob.textContent('#ops-locked')) ?? '', /forbidden .*subscribe:private-ops/);
    assert.equal(await bob.isVisible('#ops-room'), false);

    // A second tab of Ada's (same browser profile: it signs in again by itself) is still one member.
    const adaSecondTab = await openTab(ada.context(), url, 'Ada, second tab', problems);
    await adaSecondTab.locator('#me:not([hidden]) #me-name', { hasText: 'Ada' }).waitFor({ timeout: 10_000 });
    await adaSecondTab.locator('#lobby li[data-id="bob"]').waitFor({ timeout: 10_000 });
    assert.equal(await adaSecondTab.locator('#lobby li').count(), 2);
    assert.equal(await bob.locator('#lobby li').count(), 2);
    await adaSecondTab.close();

    using grace = await signedInClient(cli.wsUrl, 'Grace', 'staff');
    const graceOps = grace.subscribe('private-ops');
    await graceOps.ready;

    // Operational events flow both ways between staff in the page and a staff Node client.
    await grace.publish('private-ops', 'note', { text: 'deploy at five' });
    await ada.locator('#ops-feed li', { hasText: 'grace: deploy at five' }).waitFor({ timeout: 10_000 });
    const fromAda = nextValue<{ data: unknown; from: string | undefined }>('ops note from the page', (callback) =>
      graceOps.on('message', (data, { from }) => callback({ data, from })),
    );
    await ada.fill('#ops-text', 'on it');
    await ada.press('#ops-text', 'Enter');
    assert.deepEqual(await fromAda, { data: { text: 'on it' }, from: 'ada' });
    await ada.locator('#ops-feed li', { hasText: 'Ada: on it' }).waitFor({ timeout: 10_000 });

    // Ada gives Bob ops access from her page: his page opens the room without a reload.
    await ada.selectOption('#ops-member', 'bob');
    await ada.click('#ops-access button[value="grant"]');
    await bob.locator('#ops[data-state="open"] #ops-room').waitFor({ timeout: 10_000 });
    await bob.locator('#notice', { hasText: 'ops access granted by Ada' }).waitFor({ timeout: 10_000 });
    await ada.locator('#ops-feed li.access', { hasText: 'Ada granted ops access to Bob' }).waitFor({ timeout: 10_000 });

    // Grace revokes Ada's staff rights: the room disappears from Ada's page at once, and she is told why.
    await grace.request('ops.revoke', { userId: 'ada' });
    await ada.locator('#ops[data-state="grant_revoked"]').waitFor({ timeout: 10_000 });
    assert.equal(await ada.isVisible('#ops-room'), false);
    assert.equal(await ada.locator('#ops-feed li').count(), 0, 'what was said in the room is cleared');
    await ada.locator('#notice', { hasText: 'ops access revoked by Grace' }).waitFor({ timeout: 10_000 });
    await bob.locator('#ops-feed li.access', { hasText: 'Grace revoked ops access from Ada' }).waitFor({ timeout: 10_000 });

    // Ada's first tab is still open, so closing the second one did not make her leave.
    assert.deepEqual(await bob.locator('#lobby li .name').allTextContents(), ['Ada', 'Bob']);
    assert.deepEqual(problems, []);
  }
});

test("an init'd project's page counts in step across two tabs", async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using dir = await tempDir();
  const project = join(dir.path, 'counter-app');
  assert.equal((await runCli(['init', project], { cwd: dir.path })).code, 0);
  await using cli = await startCli(['dev', '--port', '0'], { cwd: project });
  const problems: string[] = [];
  const first = await openPage(browser, `${cli.url}/`, 'first', problems);
  const second = await openPage(browser, `${cli.url}/`, 'second', problems);
  for (const page of [first, second]) await page.locator('#add:not([disabled])').waitFor({ timeout: 10_000 });
  assert.equal(await second.textContent('#count'), '0');
  await first.click('#add');
  await first.click('#add');
  await second.locator('#count', { hasText: '2' }).waitFor({ timeout: 10_000 });
  await first.locator('#count', { hasText: '2' }).waitFor({ timeout: 10_000 });
  assert.deepEqual(problems, []);
});
