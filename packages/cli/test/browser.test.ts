// Real Chromium against pages the CLI serves: the example chat and an init'd project, SDK from /switchboard.js.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connect } from '@switchboard/client';
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

/** Opens the chat in a fresh browser context (its own localStorage) and waits until it is connected. */
async function openChat(browser: Browser, url: string, name: string, problems: string[]): Promise<Page> {
  const page = await openPage(browser, url, name, problems);
  await page.locator('#status[data-state="open"]').waitFor({ timeout: 10_000 });
  await page.fill('#name', name);
  return page;
}

/** Opens `url` in a fresh browser context (its own localStorage), recording page errors in `problems`. */
async function openPage(browser: Browser, url: string, label: string, problems: string[]): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`${label}: page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${label}: console error: ${message.text()}`);
  });
  await page.goto(url);
  return page;
}

test('chat in the browser: a message typed on one page reaches another page and a Node client, and back', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using cli = await startCli(['dev', '--port', '0'], { cwd: CHAT_EXAMPLE });
  const problems: string[] = [];
  {
    using node = connect(cli.wsUrl);
    await node.ready;
    const ada = await openChat(browser, `${cli.url}/`, 'Ada', problems);
    const bob = await openChat(browser, `${cli.url}/`, 'Bob', problems);

    const seenByNode = new Promise<ChatMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the Node client got no chat.message within 10 s')), 10_000);
      node.on<ChatMessage>('chat.message', (message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
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
    await node.request('chat.send', { name: 'Node', text: 'hello from Node' });
    for (const page of [ada, bob]) await page.locator('#messages .message', { hasText: 'hello from Node' }).waitFor({ timeout: 10_000 });

    // A page opened later gets the history, in order.
    const late = await openChat(browser, `${cli.url}/`, 'Late', problems);
    await late.locator('#messages .message', { hasText: 'hello from Node' }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await late.locator('#messages .message .text').allTextContents(), ['hello from the browser', 'hello from Node']);

    // Invalid input comes back as a RequestError with issues, shown beside the composer.
    await bob.fill('#name', ' ');
    await bob.fill('#text', 'nameless');
    await bob.press('#text', 'Enter');
    await bob.locator('#error', { hasText: 'Please check: name' }).waitFor({ timeout: 10_000 });

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
