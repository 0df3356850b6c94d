// The web app's rooms screen in real Chromium against a real Ferry server, WebRTC on loopback only: two pages join
// a room (one through a `/#room=` link), connect directly, chat both ways and show the same verification string; a
// member who leaves vanishes from the other's list; a snapshot arrives at the camera's size; the connection card shows
// the member connection's candidates, timeline and selected pair; after the hub drops every socket (a server restart)
// both pages reconnect, rejoin and talk again. Screenshots at phone and desktop sizes go to
// test-results/screenshots/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type AppPage, DESKTOP, openApp, PHONE, screenshot } from '../helpers/browser.ts';
import { startFerry } from '../helpers/ferry.ts';
import { until } from '../helpers/relay.ts';
import {
  card,
  connected,
  member,
  noErrors,
  type RoomsRig,
  roomLink,
  STEP_MS,
  saysSoon,
  startRoomsRig,
  uniqueRoom,
} from '../helpers/rooms.ts';

let rig: RoomsRig;

before(async () => {
  rig = await startRoomsRig();
});

after(async () => {
  await rig?.close();
});

function app(hash: string, viewport = DESKTOP): Promise<AppPage> {
  return rig.app(hash, viewport);
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

  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    test(`a snapshot arrives with the camera's dimensions; the connection card shows the real connection (${size})`, async () => {
      const link = roomLink(uniqueRoom('snap'));
      const alice = await app(link, viewport);
      const bob = await app(link, viewport);
      await Promise.all([connected(alice.page), connected(bob.page)]);

      await card(alice.page, 'Snapshot').getByRole('button', { name: 'Take and send a snapshot' }).click();
      const sent = await saysSoon(card(alice.page, 'Snapshot').getByRole('status'), /^Sent a \d+×\d+ snapshot/);
      const [, width, height] = /(\d+)×(\d+)/.exec(sent) as RegExpExecArray;
      await saysSoon(card(bob.page, 'Snapshot').getByRole('status'), `sent a ${width}×${height} snapshot`);
      const image = card(bob.page, 'Snapshot').locator('figure.snapshot img');
      await image.waitFor({ timeout: STEP_MS });
      // Polled, not page.waitForFunction: under the app's CSP its eval is refused now and then
      // (microsoft/playwright#36982).
      const loaded = () => bob.page.evaluate("document.querySelector('figure.snapshot img')?.complete");
      await until(async () => Boolean(await loaded()), 'the snapshot image to load', STEP_MS, 100);
      const rendered = await image.evaluate((element) => {
        const img = element as unknown as { naturalWidth: number; naturalHeight: number };
        return [img.naturalWidth, img.naturalHeight];
      });
      assert.deepEqual(rendered, [Number(width), Number(height)], 'the picture renders at its own size');
      assert.ok(Number(width) >= 320, `a camera-sized picture (${width}×${height})`);
      await screenshot(bob.page, `rooms-snapshot-${size}`);

      // The connection card is about the member connection itself: host candidates on loopback, a timeline that
      // reached "connected", a selected pair with bytes.
      const details = card(alice.page, 'Connection details');
      await details.locator('table.candidates tr[data-type="host"]').first().waitFor({ timeout: STEP_MS });
      await saysSoon(details.locator('ol.timeline li'), 'connection: connected');
      await saysSoon(details.locator('dl.pair dd'), /^host udp 127\.0\.0\.1:\d+$/);
      const pair = await details.locator('dl.pair').textContent();
      assert.match(pair ?? '', /Bytes sent\d/);
      await screenshot(alice.page, `rooms-connection-${size}`);
      noErrors(alice, bob);
      await alice.context.close();
      await bob.context.close();
    });
  }

  test('when the hub drops the socket (a server restart), both pages reconnect, rejoin and talk again', async () => {
    const webRoot = join(rig.work, 'web');
    let server = await startFerry({}, { webRoot });
    const port = server.port;
    const link = roomLink(uniqueRoom('rejoin'));
    const pages: AppPage[] = [];
    try {
      for (let i = 0; i < 2; i++)
        pages.push(await openApp(rig.browser, `${server.url}/${link}`, DESKTOP, { media: true }));
      const [alice, bob] = pages as [AppPage, AppPage];
      await Promise.all([connected(alice.page), connected(bob.page)]);
      const before = await member(alice.page).getAttribute('data-peer');

      await server.close();
      for (const page of [alice.page, bob.page]) {
        await saysSoon(card(page, 'Room').getByRole('status'), 'Lost the signaling server');
      }
      await member(alice.page).waitFor({ state: 'detached', timeout: STEP_MS });
      await screenshot(alice.page, 'rooms-reconnecting');
      server = await startFerry({ httpPort: port }, { webRoot });
      for (const page of [alice.page, bob.page]) {
        await saysSoon(card(page, 'Room').getByRole('status'), 'Reconnected to the signaling server and rejoined');
      }
      await Promise.all([connected(alice.page), connected(bob.page)]);
      assert.notEqual(await member(alice.page).getAttribute('data-peer'), before, 'bob is back under a new id');
      await bob.page.getByRole('textbox', { name: 'Message', exact: true }).fill('back again');
      await bob.page.getByRole('button', { name: 'Send', exact: true }).click();
      await alice.page.getByRole('log').locator('li.chat', { hasText: 'back again' }).waitFor({ timeout: STEP_MS });
      await screenshot(alice.page, 'rooms-rejoined');
      // While the server was down the browser logged each refused reconnection attempt; nothing else may show.
      const refused = /^WebSocket connection to .* failed: .*ERR_CONNECTION_REFUSED/;
      for (const page of pages)
        assert.deepEqual(
          page.errors.filter((e) => !refused.test(e)),
          [],
        );
    } finally {
      for (const page of pages) await page.context.close().catch(() => {});
      await server.close();
    }
  });
});
