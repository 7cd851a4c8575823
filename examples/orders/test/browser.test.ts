// Real Chromium against the example as `npm start` serves it: a customer page and the back office, side by side,
// orders placed and changed on one appearing on the other with the figures, shipped from the back office, and a hold.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { dataDir, serveExample } from './helpers.ts';

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

/** Opens `url` in a fresh browser context (its own storage), recording page errors in `problems`. */
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

/** The back office's figures, as shown. */
async function figures(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() => {
    const shown: Record<string, string> = {};
    for (const element of document.querySelectorAll('.figures strong')) shown[element.id.replace('figure-', '')] = element.textContent ?? '';
    return shown;
  });
}

test('a customer orders in one page, the back office sees it with its figures, ships it, and the customer sees that live', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using data = await dataDir();
  await using app = await serveExample(data);
  const problems: string[] = [];

  // The back office first: live, empty, figures at zero.
  const office = await openPage(browser, `${app.url}/backoffice.html?name=Grace`, 'back office', problems);
  await office.locator('#orders-state[data-state="live"]').waitFor(WAIT);
  await textBecomes(office, '#me-name', 'Grace');
  assert.equal(await office.isVisible('#no-orders'), true);
  assert.deepEqual(await figures(office), {
    count: '0',
    open: '0',
    paid: '0',
    shipped: '0',
    cancelled: '0',
    revenue: '€0.00',
    'open-value': '€0.00',
    customers: '0',
  });

  // The customer places two mugs.
  const ada = await openPage(browser, `${app.url}/customer.html?name=Ada`, 'Ada', problems);
  await ada.locator('#orders-state[data-state="live"]').waitFor(WAIT);
  await ada.locator('#place:not([disabled])').waitFor(WAIT);
  await ada.selectOption('#item', 'mug');
  await ada.fill('#quantity', '2');
  await textBecomes(ada, '#order-total', '€24.00');
  await ada.click('#place');
  const adaRow = ada.locator('#order-rows tr[data-status="open"]');
  await adaRow.waitFor(WAIT);
  const key = await adaRow.getAttribute('data-key');
  assert.ok(key, 'the order row carries its key');
  assert.equal((await adaRow.locator('.item').textContent())?.trim(), 'Stoneware mug');
  assert.equal((await adaRow.locator('.count').textContent())?.trim(), '2');

  // It appears in the back office, and the figures move.
  const officeRow = office.locator(`#order-rows tr[data-key="${key}"]`);
  await officeRow.waitFor(WAIT);
  assert.equal((await officeRow.locator('.customer').textContent())?.trim(), 'ada');
  assert.equal((await officeRow.locator('.total').textContent())?.trim(), '€24.00');
  await textBecomes(office, '#figure-count', '1');
  await textBecomes(office, '#figure-open-value', '€24.00');
  assert.equal(await office.textContent('#figure-open'), '1');
  assert.equal(await office.textContent('#figure-customers'), '1');
  assert.equal(await office.isVisible('#no-orders'), false);

  // The customer adds one more: a patch the back office sees at once, its figures with it.
  await ada.click(`#order-rows tr[data-key="${key}"] button.more`);
  await textBecomes(office, `#order-rows tr[data-key="${key}"] .quantity`, '3');
  await textBecomes(office, '#figure-open-value', '€36.00');
  await textBecomes(ada, `#order-rows tr[data-key="${key}"] .total`, '€36.00');

  // The back office marks it paid, then ships it: each step shows on the customer's page.
  await officeRow.locator('button.pay').click();
  await ada.locator(`#order-rows tr[data-key="${key}"][data-status="paid"]`).waitFor(WAIT);
  await textBecomes(office, '#figure-revenue', '€36.00');
  await textBecomes(office, '#figure-open-value', '€0.00');
  assert.equal(await ada.isVisible(`#order-rows tr[data-key="${key}"] button.cancel`), false, 'a paid order cannot be cancelled');

  await office.locator(`#order-rows tr[data-key="${key}"][data-status="paid"] button.ship`).click();
  await ada.locator(`#order-rows tr[data-key="${key}"][data-status="shipped"]`).waitFor(WAIT);
  await textBecomes(ada, `#order-rows tr[data-key="${key}"] .order-status`, 'Shipped');
  await ada.locator('#notice:not([hidden])', { hasText: 'is now shipped' }).waitFor(WAIT);
  await textBecomes(ada, '#spent', '€36.00');
  await textBecomes(office, '#figure-shipped', '1');
  assert.deepEqual(await figures(office), {
    count: '1',
    open: '0',
    paid: '0',
    shipped: '1',
    cancelled: '0',
    revenue: '€36.00',
    'open-value': '€0.00',
    customers: '1',
  });

  assert.deepEqual(problems, []);
});

test('a hold from the back office shows on the customer page at once: writes stop, and start again when it is lifted', async (t) => {
  const browser = browserOrSkip(t);
  if (!browser) return;
  await using data = await dataDir();
  await using app = await serveExample(data);
  const problems: string[] = [];

  const ada = await openPage(browser, `${app.url}/customer.html?name=Ada`, 'Ada', problems);
  await ada.locator('#place:not([disabled])').waitFor(WAIT);
  await ada.selectOption('#item', 'tea');
  await ada.click('#place');
  const adaRow = ada.locator('#order-rows tr[data-status="open"]');
  await adaRow.waitFor(WAIT);
  const key = await adaRow.getAttribute('data-key');

  const office = await openPage(browser, `${app.url}/backoffice.html?name=Grace`, 'back office', problems);
  const customer = office.locator('#customers li[data-customer="ada"]');
  await customer.locator('button.hold:not([disabled])').waitFor(WAIT);
  await customer.locator('button.hold').click();
  await office.locator('#customers li[data-customer="ada"][data-hold="on"]').waitFor(WAIT);
  await customer.locator('.hold-note', { hasText: 'by Grace' }).waitFor(WAIT);

  // The customer's page: a banner naming who put the hold on, and nothing that writes is enabled.
  await ada.locator('#hold:not([hidden])', { hasText: 'changes put on hold by Grace' }).waitFor(WAIT);
  await ada.locator('#place[disabled]').waitFor(WAIT);
  await ada.locator(`#order-rows tr[data-key="${key}"] button.cancel[disabled]`).waitFor(WAIT);
  assert.equal(await ada.isDisabled(`#order-rows tr[data-key="${key}"] button.more`), true);

  // Lifting the hold: the banner goes, the buttons come back, and a cancel goes through to the back office.
  await customer.locator('button.release').click();
  await ada.locator('#hold[hidden]').waitFor({ ...WAIT, state: 'attached' });
  await ada.locator('#notice:not([hidden])', { hasText: 'You can place and change orders again' }).waitFor(WAIT);
  await ada.locator(`#order-rows tr[data-key="${key}"] button.cancel:not([disabled])`).click();
  await office.locator(`#order-rows tr[data-key="${key}"][data-status="cancelled"]`).waitFor(WAIT);
  await textBecomes(office, '#figure-cancelled', '1');
  await office.locator(`#order-rows tr[data-key="${key}"] button.remove`).waitFor(WAIT);

  assert.deepEqual(problems, []);
});
