// Real Chromium against the example as `npm start` serves it: two pages play tic-tac-toe to a win (one joins
// from the lobby, one from the game's link) while a third watches, then a rematch; and two pages on one board.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { serveExample } from './helpers.ts';

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
/** How long one DOM condition may take to come true. */
const WAIT = { timeout: 10_000 };

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

/** Opens `url` in a fresh browser context (its own storage: its own player), recording page errors in `problems`. */
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

/** The text of `selector` on `page` becomes `text` (waits on the DOM, not on time). */
async function textBecomes(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(([selector, text]) => document.querySelector(selector)?.textContent?.trim() === text, [selector, text] as const, WAIT);
}

/** Saves a name in the page's name bar (the room shows it to everyone). */
async function setName(page: Page, name: string): Promise<void> {
  await page.fill('#name', name);
  await page.click('#name-form button[type="submit"]');
}

test('tic-tac-toe in the browser: two pages play to a win, a third watches and sees the result, then a rematch', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using app = await serveExample();
  const problems: string[] = [];

  // Ada starts a game from the lobby: she plays X and waits for an opponent.
  const ada = await openPage(browser, `${app.url}/tictactoe.html`, 'Ada', problems);
  await setName(ada, 'Ada');
  await ada.locator('#new-game:not([disabled])').click();
  await ada.locator('#game[data-role="X"][data-status="waiting"]').waitFor(WAIT);
  const room = await ada.getAttribute('#game', 'data-room');
  assert.ok(room, 'the game shows its room id');
  assert.match(ada.url(), new RegExp(`\\?room=${room}$`), 'the address names the game, to share it');

  // Bob finds it in his lobby, open, and joins it: he plays O.
  const bob = await openPage(browser, `${app.url}/tictactoe.html`, 'Bob', problems);
  await setName(bob, 'Bob');
  await bob.locator(`#games li[data-room="${room}"][data-open="true"] button`).click(WAIT);
  await bob.locator('#game[data-role="O"][data-status="playing"]').waitFor(WAIT);
  await textBecomes(ada, '#turn', 'Your move (X).');

  // Grace opens the game's link: both seats are taken, so she watches.
  const grace = await openPage(browser, `${app.url}/tictactoe.html?room=${room}`, 'Grace', problems);
  await grace.locator('#game[data-role="spectator"][data-status="playing"]').waitFor(WAIT);
  await textBecomes(grace, '#players li[data-mark="X"] .who', 'Ada');
  await textBecomes(grace, '#players li[data-mark="O"] .who', 'Bob');
  await ada.locator('#spectators li').waitFor(WAIT);
  assert.equal(await grace.locator('#board button:not([disabled])').count(), 0, 'a spectator has no cell to play');

  // They play; each move shows on every page. X takes the top row.
  const moves: [Page, number, 'X' | 'O'][] = [
    [ada, 0, 'X'],
    [bob, 3, 'O'],
    [ada, 1, 'X'],
    [bob, 4, 'O'],
    [ada, 2, 'X'],
  ];
  for (const [page, cell, mark] of moves) {
    // Enabled only on the player's own move: the click waits for it.
    await page.locator(`#board button[data-cell="${cell}"]`).click(WAIT);
    for (const watcher of [ada, bob, grace]) await watcher.locator(`#board button[data-cell="${cell}"][data-mark="${mark}"]`).waitFor(WAIT);
  }

  // The result, on every page.
  await grace.locator('#game[data-status="won"][data-winner="X"]').waitFor(WAIT);
  await textBecomes(grace, '#result', 'X wins!');
  await textBecomes(grace, '#turn', 'Ada (X) won.');
  assert.deepEqual(await grace.locator('#board button.win').evaluateAll((cells) => cells.map((cell) => (cell as HTMLElement).dataset.cell)), ['0', '1', '2']);
  await textBecomes(ada, '#turn', 'You won!');
  await textBecomes(bob, '#turn', 'You lost.');
  await textBecomes(grace, '#score', 'X 1 · O 0 · draws 0');
  assert.equal(await bob.locator('#board button:not([disabled])').count(), 0, 'no move after the game is over');
  assert.equal(await grace.isVisible('#rematch'), false, 'a spectator gets no rematch button');

  // A rematch: Ada asks, Bob accepts, and the second round opens with O.
  await ada.click('#rematch');
  await textBecomes(bob, '#rematch', 'Accept the rematch');
  await bob.click('#rematch');
  await grace.locator('#game[data-round="2"][data-status="playing"][data-turn="O"]').waitFor(WAIT);
  await textBecomes(bob, '#turn', 'Your move (O).');
  assert.equal(await grace.locator('#board button[data-mark="X"], #board button[data-mark="O"]').count(), 0, 'an empty board');

  assert.deepEqual(problems, []);
});

test('the whiteboard in the browser: a note added on one page appears on the other, moves there when dragged, and goes', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using app = await serveExample();
  const problems: string[] = [];

  // Both open the shared board: the same room.
  const ada = await openPage(browser, `${app.url}/board.html`, 'Ada', problems);
  await ada.locator('#surface[data-state="joined"]').waitFor(WAIT);
  const bob = await openPage(browser, `${app.url}/board.html`, 'Bob', problems);
  await bob.locator('#surface[data-state="joined"]').waitFor(WAIT);
  assert.equal(await bob.getAttribute('#surface', 'data-room'), await ada.getAttribute('#surface', 'data-room'));
  await bob.locator('#members li:nth-child(2)').waitFor(WAIT);

  await setName(ada, 'Ada');
  await ada.fill('#note-text', 'Plan the release');
  await ada.selectOption('#note-color', 'blue');
  await ada.click('#add');
  const onBob = bob.locator('.note', { hasText: 'Plan the release' });
  await onBob.waitFor(WAIT);
  assert.equal(await onBob.getAttribute('data-color'), 'blue');
  await textBecomes(bob, '.note .author', 'Ada');

  // Ada drags it; Bob sees it move.
  const before = await onBob.evaluate((note) => (note as HTMLElement).style.left);
  const box = await ada.locator('.note').boundingBox();
  assert.ok(box);
  await ada.mouse.move(box.x + 20, box.y + 20);
  await ada.mouse.down();
  await ada.mouse.move(box.x + 220, box.y + 120, { steps: 5 });
  await ada.mouse.up();
  await bob.waitForFunction((left) => (document.querySelector('.note') as HTMLElement | null)?.style.left !== left, before, WAIT);

  // Bob removes it; it goes from Ada's board.
  await onBob.locator('button.remove').click();
  await ada.locator('.note').waitFor({ ...WAIT, state: 'detached' });
  await ada.locator('#empty-board').waitFor(WAIT);

  assert.deepEqual(problems, []);
});
