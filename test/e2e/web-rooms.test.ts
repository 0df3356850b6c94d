// The web app's rooms screen in real Chromium against a real Ferry server, WebRTC on loopback only: two pages join
// a room (one through a `/#room=` link), connect directly, chat both ways and show the same verification string; a
// member who leaves vanishes from the other's list. Screenshots at phone and desktop sizes go to
// test-results/screenshots/.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { buildWeb } from '../../web/build.ts';
import { type AppPage, DESKTOP, launchBrowser, openApp, PHONE, screenshot } from '../helpers/browser.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';

const STEP_MS = 20_000;

let ferry: TestServer;
let browser: Browser;
let work: string;
const opened: AppPage[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-rooms-e2e-'));
  await buildWeb(join(work, 'web'));
  ferry = await startFerry({}, { webRoot: join(work, 'web') });
  browser = await launchBrowser({ webrtc: true });
});

after(async () => {
  for (const app of opened) await app.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await ferry?.close();
  rmSync(work, { recursive: true, force: true });
});

async function app(hash: string, viewport = DESKTOP): Promise<AppPage> {
  const page = await openApp(browser, `${ferry.url}/${hash}`, viewport, { media: true });
  opened.push(page);
  return page;
}

function member(page: Page, state?: string): Locator {
  return page.locator(state ? `li.member[data-state="${state}"]` : 'li.member');
}

async function verificationOf(page: Page): Promise<string> {
  const words = member(page, 'connected').locator('.verification .words');
  await words.waitFor({ timeout: STEP_MS });
  return (await words.textContent()) ?? '';
}

async function chat(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
}

async function sees(page: Page, text: string): Promise<void> {
  await page.getByRole('log').locator('li.chat', { hasText: text }).waitFor({ timeout: STEP_MS });
}

async function testResult(page: Page, text: string): Promise<string> {
  const status = page
    .locator('section', { has: page.getByRole('heading', { name: 'Throughput test' }) })
    .getByRole('status');
  try {
    await status.filter({ hasText: text }).waitFor({ timeout: STEP_MS });
  } catch (err) {
    throw new Error(`the throughput status never showed ${text}; it says "${await status.textContent()}"`, {
      cause: err,
    });
  }
  return (await status.textContent()) ?? '';
}

function noErrors(...apps: AppPage[]): void {
  for (const a of apps) assert.deepEqual(a.errors, [], 'the page logged errors');
}

describe('web app: rooms screen in Chromium', { timeout: 90_000 }, () => {
  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    test(`two members chat both ways, see the same verification string and run a throughput test (${size})`, async () => {
      const room = `room ${size} ${Math.random().toString(36).slice(2, 8)}`;
      // One joins with the form, the other with a room link.
      const alice = await app('#/rooms', viewport);
      await screenshot(alice.page, `rooms-start-${size}`);
      await alice.page.getByLabel('Room name').fill(room);
      await alice.page.getByRole('button', { name: 'Join' }).click();
      await alice.page
        .getByRole('status')
        .filter({ hasText: `In room “${room}”` })
        .waitFor({ timeout: STEP_MS });
      const bob = await app(`#room=${encodeURIComponent(room)}`, viewport);

      const [aliceWords, bobWords] = await Promise.all([verificationOf(alice.page), verificationOf(bob.page)]);
      assert.match(aliceWords, /^\w+ \w+ \w+$/);
      assert.equal(aliceWords, bobWords, 'both sides show the same verification words');
      assert.equal(
        await member(alice.page).locator('.digits').textContent(),
        await member(bob.page).locator('.digits').textContent(),
      );

      await chat(alice.page, 'hello from alice');
      await sees(bob.page, 'hello from alice');
      await chat(bob.page, 'and hello from bob');
      await sees(alice.page, 'and hello from bob');
      await screenshot(alice.page, `rooms-chat-${size}`);
      await screenshot(bob.page, `rooms-chat-other-${size}`);

      // Throughput, ordered on one run and unordered on the other: both ends report a rate.
      const ordered = size === 'desktop';
      await alice.page.getByLabel('Megabytes').fill('16');
      await alice.page.getByLabel('Ordered delivery').setChecked(ordered);
      await alice.page.getByRole('button', { name: 'Start test' }).click();
      const rate = /in \d+\.\d\d s: [\d.]+ (kB|MB)\/s/;
      const [sent, received] = await Promise.all([
        testResult(alice.page, `Sent (${ordered ? 'ordered' : 'unordered'}) 16.0 MB`),
        testResult(bob.page, 'Received 16.0 MB'),
      ]);
      assert.match(sent, rate);
      assert.match(sent, /took \d+\.\d\d s/, "the sender hears the receiver's time");
      assert.match(received, rate);
      await screenshot(alice.page, `rooms-throughput-${size}`);
      await screenshot(bob.page, `rooms-throughput-other-${size}`);

      // Leaving: bob's row disappears from alice's list, and she is alone again.
      await bob.page.getByRole('button', { name: 'Leave' }).click();
      await member(alice.page).waitFor({ state: 'detached', timeout: STEP_MS });
      await alice.page.getByText('Nobody else is here yet.').waitFor({ timeout: STEP_MS });
      noErrors(alice, bob);
      await alice.context.close();
      await bob.context.close();
    });
  }

  test('a member whose page closes disappears from the list', async () => {
    const room = `closing ${Math.random().toString(36).slice(2, 8)}`;
    const alice = await app(`#room=${encodeURIComponent(room)}`);
    const bob = await app(`#room=${encodeURIComponent(room)}`);
    await member(alice.page, 'connected').waitFor({ timeout: STEP_MS });
    await bob.context.close();
    await member(alice.page).waitFor({ state: 'detached', timeout: STEP_MS });
    noErrors(alice);
    await alice.context.close();
  });
});
