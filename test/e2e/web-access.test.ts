// The web app on a server that asks for an access token, in real Chromium: the footer's form opens by itself and
// says why, the token saved there goes with the page's uploads and downloads (curl with the same token on the
// other end), and a wrong one is named as such.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { buildWeb } from '../../web/build.ts';
import { type AppPage, launchBrowser, openApp, PHONE } from '../helpers/browser.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { startCurl, uniquePath, within } from '../helpers/relay.ts';

const TOKEN = 'web-access-token-0123456789';
const STEP_MS = 30_000;

let ferry: TestServer;
let browser: Browser;
let work: string;
const opened: AppPage[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-web-access-'));
  await buildWeb(join(work, 'web'));
  // Tokens and no rule: every pipe, the hub and TURN need one.
  ferry = await startFerry({ tokens: [{ name: 'web', token: TOKEN }] }, { webRoot: join(work, 'web') });
  browser = await launchBrowser();
});

after(async () => {
  for (const app of opened) await app.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await ferry?.close();
  rmSync(work, { recursive: true, force: true });
});

function card(page: Page, heading: string): Locator {
  return page.locator('section.card', { has: page.getByRole('heading', { name: heading, exact: true }) });
}

function accessStatus(page: Page): Locator {
  // By class, not role: a closed <details> hides its status from the accessibility tree.
  return page.locator('details.access .access-status');
}

async function saveToken(page: Page, token: string): Promise<void> {
  const details = page.locator('details.access');
  if (!(await details.evaluate((d) => d.hasAttribute('open')))) await details.locator('summary').click();
  await page.getByLabel('Token for this server').fill(token);
  await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Save' }).click()]);
}

describe('web app: access token in Chromium', { timeout: 120_000 }, () => {
  test('asked for, saved, sent with uploads and downloads; a wrong one is named', async () => {
    const app = await openApp(browser, `${ferry.url}/`, PHONE);
    opened.push(app);
    const { page } = app;
    await accessStatus(page).filter({ hasText: 'This server needs an access token.' }).waitFor({ timeout: STEP_MS });
    assert.equal(await page.locator('details.access').evaluate((d) => d.hasAttribute('open')), true);

    await saveToken(page, 'not-the-token-0123456789');
    await accessStatus(page)
      .filter({ hasText: 'does not accept the saved access token' })
      .waitFor({ timeout: STEP_MS });

    await saveToken(page, TOKEN);
    await accessStatus(page)
      .filter({ hasText: 'An access token is saved' })
      .waitFor({ state: 'attached', timeout: STEP_MS });

    // Page → curl: the upload carried the token (curl needs its own).
    const text = 'only for token holders\n';
    const send = card(page, 'Send');
    await send.getByRole('radio', { name: 'Text' }).check();
    await send.getByLabel('Text to send').fill(text);
    const toCurl = uniquePath('web-access');
    await send.getByLabel('Path').fill(toCurl.slice(1));
    await send.getByRole('button', { name: 'Send' }).click();
    const got = await within(startCurl(['-u', `x:${TOKEN}`, `${ferry.url}${toCurl}`]).result, STEP_MS, 'curl');
    assert.equal(got.stdout.toString(), text);

    // curl → page: the download carried it too.
    const toPage = uniquePath('web-access');
    const sender = startCurl(['-H', `Authorization: Bearer ${TOKEN}`, '-T', '-', `${ferry.url}${toPage}`], {
      stdin: text,
    });
    const receive = card(page, 'Receive');
    await receive.getByLabel('Path').fill(toPage.slice(1));
    await receive.getByRole('button', { name: 'Receive' }).click();
    await receive.getByRole('status').filter({ hasText: 'Received a text' }).waitFor({ timeout: STEP_MS });
    assert.equal(await receive.getByLabel('Received text').inputValue(), text);
    assert.match((await sender.result).stdout.toString(), /All receiver\(s\) was\/were received successfully/);
    assert.deepEqual(app.errors, []);
  });
});
