// Real Chromium against pages the CLI serves: the example app (chat, presence, private room, hot swap, restart) and an init'd project.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { connect, type Client } from '@switchboard/client';
import { runCli, startCli, tempDir, type RunningCli } from './helpers.ts';

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

/** Opens `url` in a fresh browser context (its own storage), recording page errors in `problems`. */
async function openPage(browser: Browser, url: string, label: string, problems: string[]): Promise<Page> {
  const context = await browser.newContext();
  return openTab(context, url, label, problems);
}

/**
 * Chromium's own log line for a WebSocket that could not connect: expected while a test has the server
 * down, and not an error of the page's.
 */
const REFUSED = /WebSocket connection to .* failed: .*ERR_CONNECTION_REFUSED/;

/** Opens `url` in another tab of `context` (sharing its cookies and localStorage, not its sessionStorage), recording page errors in `problems`. */
async function openTab(context: BrowserContext, url: string, label: string, problems: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`${label}: page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !REFUSED.test(message.text())) problems.push(`${label}: console error: ${message.text()}`);
  });
  await page.goto(url);
  return page;
}

/** Opens the chat in a fresh browser context and signs in with the page's (demo) sign-in form. */
async function openChat(browser: Browser, url: string, name: string, role: 'customer' | 'staff', problems: string[]): Promise<Page> {
  return signInOn(await openPage(browser, url, name, problems), name, role);
}

/** Signs in on an open chat page with its (demo) sign-in form. */
async function signInOn(page: Page, name: string, role: 'customer' | 'staff'): Promise<Page> {
  await page.fill('#name', name);
  await page.selectOption('#role', role);
  // Enabled once the page is connected.
  await page.click('#signin-button', { timeout: 10_000 });
  await page.locator('#me:not([hidden]) #me-name', { hasText: name }).waitFor({ timeout: 10_000 });
  return page;
}

/** A copy of the chat example a test may edit, in the CLI package's git-ignored .tmp (so it resolves this workspace's packages). */
async function copyChatExample(): Promise<{ path: string } & AsyncDisposable> {
  const base = fileURLToPath(new URL('../.tmp/', import.meta.url));
  await mkdir(base, { recursive: true });
  const path = await mkdtemp(join(base, 'chat-'));
  for (const entry of ['plugs', 'public', 'auth.ts', 'switchboard.config.ts']) await cp(join(CHAT_EXAMPLE, entry), join(path, entry), { recursive: true });
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
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

test('presence and a private channel in the browser: two users in two tabs of one browser, access changed live', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using cli = await startCli(['dev', '--port', '0'], { cwd: CHAT_EXAMPLE });
  const problems: string[] = [];
  const context = await browser.newContext();
  try {
    const url = `${cli.url}/`;
    // One browser, two tabs, two users: the page keeps who is signed in per tab.
    const ada = await signInOn(await openTab(context, url, 'Ada', problems), 'Ada', 'staff');
    await ada.locator('#ops[data-state="open"] #ops-room').waitFor({ timeout: 10_000 });
    // Alone, the staff member is told so instead of being offered an empty list.
    await ada.locator('#ops-nobody:not([hidden])', { hasText: 'No customers online' }).waitFor({ timeout: 10_000 });
    assert.equal(await ada.isVisible('#ops-access'), false);
    assert.match((await ada.textContent('#lobby-hint')) ?? '', /No one else is online/);
    assert.equal(await ada.textContent('#empty'), 'No messages yet. Say hello!');

    const bob = await signInOn(await openTab(context, url, 'Bob', problems), 'Bob', 'customer');
    for (const page of [ada, bob]) {
      for (const id of ['ada', 'bob']) await page.locator(`#lobby li[data-id="${id}"]`).waitFor({ timeout: 10_000 });
      assert.deepEqual(await page.locator('#lobby li .name').allTextContents(), ['Ada', 'Bob']);
      assert.equal(await page.locator('#lobby li[data-id="ada"] .badge').textContent(), 'staff');
    }

    // Reloading a tab keeps that tab's user: the staff tab stays staff, the customer tab stays the customer.
    await ada.reload();
    await ada.locator('#me:not([hidden]) #me-name', { hasText: 'Ada' }).waitFor({ timeout: 10_000 });
    assert.equal(await ada.textContent('#me-role'), 'staff');
    await ada.locator('#ops[data-state="open"] #ops-room').waitFor({ timeout: 10_000 });
    await bob.reload();
    await bob.locator('#me:not([hidden]) #me-name', { hasText: 'Bob' }).waitFor({ timeout: 10_000 });
    assert.equal(await bob.textContent('#me-role'), 'customer');

    // The customer sees the server's refusal, in words rather than grant strings.
    await bob.locator('#ops[data-state="forbidden"]').waitFor({ timeout: 10_000 });
    assert.equal(await bob.textContent('#ops-locked'), 'The ops room is for staff. A staff member can give you access.');
    assert.equal(await bob.isVisible('#ops-room'), false);

    // A third tab signed in as Ada again is still one member.
    const adaThirdTab = await signInOn(await openTab(context, url, 'Ada, third tab', problems), 'Ada', 'staff');
    await adaThirdTab.locator('#lobby li[data-id="bob"]').waitFor({ timeout: 10_000 });
    assert.equal(await adaThirdTab.locator('#lobby li').count(), 2);
    assert.equal(await bob.locator('#lobby li').count(), 2);
    await adaThirdTab.close();

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
    await ada.locator('#ops-access:not([hidden])').waitFor({ timeout: 10_000 });
    assert.deepEqual(await ada.locator('#ops-member option').allTextContents(), ['Bob'], 'staff manage customers only');
    await ada.selectOption('#ops-member', 'bob');
    await ada.click('#ops-access button[value="grant"]');
    await ada.locator('#notice', { hasText: 'Bob can now read and post in the ops room.' }).waitFor({ timeout: 10_000 });
    await bob.locator('#notice', { hasText: 'You can now read and post in the ops room (ops access granted by Ada).' }).waitFor({ timeout: 10_000 });
    await bob.locator('#ops[data-state="open"] #ops-room').waitFor({ timeout: 10_000 });
    await ada.locator('#ops-feed li.access', { hasText: 'Ada gave Bob access to the ops room' }).waitFor({ timeout: 10_000 });
    // Access to the room is not the management of it.
    assert.equal(await bob.isVisible('#ops-manage'), false);
    await bob.fill('#ops-text', 'thanks');
    await bob.press('#ops-text', 'Enter');
    await ada.locator('#ops-feed li', { hasText: 'Bob: thanks' }).waitFor({ timeout: 10_000 });

    // And takes it away again: the room closes on Bob's page at once, and he is told why.
    await ada.click('#ops-access button[value="revoke"]');
    await bob.locator('#notice', { hasText: 'You can no longer read and post in the ops room (ops access revoked by Ada).' }).waitFor({ timeout: 10_000 });
    await bob.locator('#ops[data-state="grant_revoked"]').waitFor({ timeout: 10_000 });
    assert.equal(await bob.isVisible('#ops-room'), false);
    assert.equal(await bob.locator('#ops-feed li').count(), 0, 'what was said in the room is cleared');
    await ada.locator('#ops-feed li.access', { hasText: "Ada took away Bob's access to the ops room" }).waitFor({ timeout: 10_000 });

    // The notice goes away at the next action.
    await bob.fill('#text', 'ok');
    await bob.press('#text', 'Enter');
    await bob.locator('#notice').waitFor({ state: 'hidden', timeout: 10_000 });

    // Ada's first tab is still open, so closing the third one did not make her leave.
    assert.deepEqual(await bob.locator('#lobby li .name').allTextContents(), ['Ada', 'Bob']);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('hot swap in the browser: a message type added to chat.ts is announced and gets a form at once', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using example = await copyChatExample();
  await using cli = await startCli(['dev', '--port', '0'], { cwd: example.path });
  const problems: string[] = [];
  const ada = await openChat(browser, `${cli.url}/`, 'Ada', 'customer', problems);
  await ada.locator('#status[data-state="open"]').waitFor({ timeout: 10_000 });
  // Only the page's own screens so far.
  assert.equal(await ada.isVisible('#actions'), false);

  const file = join(example.path, 'plugs', 'chat.ts');
  const original = await readFile(file, 'utf8');
  const anchor = "  messages: {\n    'chat.send': {";
  assert.ok(original.includes(anchor), 'plugs/chat.ts starts its messages with chat.send');
  const shout = `  messages: {
    'chat.shout': {
      description: 'Says it louder',
      input: z.object({ text: z.string().min(1).max(100), times: z.number().int().min(1).max(3).default(1) }),
      output: z.object({ text: z.string() }),
      handler: (data) => ({ text: data.text.toUpperCase().repeat(data.times) }),
    },
    'chat.send': {`;
  await writeFile(file, original.replace(anchor, shout));

  await ada.locator('#notice[data-kind="update"]', { hasText: 'The server was updated: new chat.shout.' }).waitFor({ timeout: 15_000 });
  const form = ada.locator('#actions form.action.new[data-type="chat.shout"]');
  await form.waitFor({ timeout: 10_000 });
  assert.equal(await form.locator('.hint').textContent(), 'Says it louder');
  assert.equal(await form.locator('input[name="times"]').inputValue(), '1', 'the default comes from the schema');
  await form.locator('input[name="text"]').fill('hey');
  await form.locator('input[name="times"]').fill('2');
  await form.locator('button').click();
  // Signed-in users may call every chat.* message, so the new one works without a restart or a new token.
  await form.locator('output', { hasText: 'Reply: {"text":"HEYHEY"}' }).waitFor({ timeout: 10_000 });
  await ada.locator('#notice').waitFor({ state: 'hidden', timeout: 10_000 });

  // Taken out again: announced, and its form goes.
  await writeFile(file, original);
  await ada.locator('#notice[data-kind="update"]', { hasText: 'removed chat.shout' }).waitFor({ timeout: 15_000 });
  await ada.locator('#actions').waitFor({ state: 'hidden', timeout: 10_000 });
  assert.deepEqual(problems, []);
});

test('a restart in the browser: stale messages are cleared and the first new one is shown', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  const problems: string[] = [];
  let cli: RunningCli = await startCli(['dev', '--port', '0'], { cwd: CHAT_EXAMPLE });
  try {
    const port = new URL(cli.url).port;
    const ada = await openChat(browser, `${cli.url}/`, 'Ada', 'customer', problems);
    await ada.fill('#text', 'before the restart');
    await ada.press('#text', 'Enter');
    await ada.locator('#messages .message', { hasText: 'before the restart' }).waitFor({ timeout: 10_000 });

    await cli.stop();
    await ada.locator('#status[data-state="reconnecting"]', { hasText: 'reconnecting' }).waitFor({ timeout: 10_000 });
    cli = await startCli(['dev', '--port', port], { cwd: CHAT_EXAMPLE });

    await ada.locator('#notice', { hasText: 'The server restarted' }).waitFor({ timeout: 20_000 });
    assert.equal(await ada.locator('#messages .message').count(), 0, 'the messages of the previous run are gone');
    await ada.locator('#status[data-state="open"]').waitFor({ timeout: 10_000 });
    // Still signed in (the tab's token works on the new process), and the new seq 1 is not taken for the old one.
    await ada.fill('#text', 'after the restart');
    await ada.press('#text', 'Enter');
    await ada.locator('#messages .message.mine', { hasText: 'after the restart' }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await ada.locator('#messages .message .text').allTextContents(), ['after the restart']);
    assert.deepEqual(problems, []);
  } finally {
    await cli.stop();
  }
});

test("an init'd project's page counts in step across two tabs, and shows the real connection state", async (t) => {
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
  assert.equal(await first.textContent('#status'), 'connected');

  // Not "connected" forever: once the server stops, the page says it is reconnecting and stops offering +1.
  await cli.stop();
  for (const page of [first, second]) {
    await page.locator('#status[data-state="reconnecting"]', { hasText: 'reconnecting…' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.isDisabled('#add'), true);
  }
  assert.deepEqual(problems, []);
});
