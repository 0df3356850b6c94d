// The web app's diagnostics screen in real Chromium against a real Ferry server, loopback only: the server list is
// prefilled from GET /_/ice, gathering lists a host candidate, and the connection test shows the selected pair with
// its bytes and a state timeline that reaches "connected". Screenshots at phone and desktop sizes.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { buildWeb } from '../../web/build.ts';
import { type AppPage, DESKTOP, launchBrowser, openApp, PHONE, screenshot } from '../helpers/browser.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';

const STEP_MS = 20_000;

let ferry: TestServer;
let browser: Browser;
let work: string;
const opened: AppPage[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-diag-e2e-'));
  await buildWeb(join(work, 'web'));
  // Port 0 turns the STUN responder off, so ask the system for a free UDP port and hand it that one.
  const probe = createSocket('udp4');
  probe.bind(0, '127.0.0.1');
  await once(probe, 'listening');
  const stunPort = probe.address().port;
  probe.close();
  ferry = await startFerry({ stunPort }, { webRoot: join(work, 'web') });
  browser = await launchBrowser({ webrtc: true });
});

after(async () => {
  for (const app of opened) await app.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await ferry?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('web app: diagnostics screen in Chromium', { timeout: 60_000 }, () => {
  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    test(`candidates, the selected pair and the state timeline (${size})`, async () => {
      const a = await openApp(browser, `${ferry.url}/#/diagnostics`, viewport, { media: true });
      opened.push(a);
      const { page } = a;
      // Prefilled with the server's own STUN responder, as GET /_/ice hands it out.
      const servers = page.getByRole('textbox', { name: 'Servers' });
      await page.locator('textarea[data-loaded]').waitFor({ timeout: STEP_MS });
      assert.match(await servers.inputValue(), /^stun:127\.0\.0\.1:\d+$/m);
      await screenshot(page, `diagnostics-start-${size}`);

      await page.getByRole('button', { name: 'Gather candidates' }).click();
      await page.getByRole('status').filter({ hasText: 'Gathering finished' }).waitFor({ timeout: STEP_MS });
      assert.ok((await page.locator('table.candidates tr[data-type="host"]').count()) >= 1, 'a host candidate');
      await screenshot(page, `diagnostics-gathered-${size}`);

      await page.getByRole('button', { name: 'Test a connection' }).click();
      await page.getByRole('status').filter({ hasText: 'Connected after' }).waitFor({ timeout: STEP_MS });
      const pair = page.getByRole('definition');
      assert.match((await pair.nth(0).textContent()) ?? '', /^host (udp|tcp) \S+:\d+$/);
      assert.match((await pair.nth(2).textContent()) ?? '', /\d+(\.\d+)? (B|kB)$/);
      assert.ok((await page.locator('table.candidates tr[data-type="host"]').count()) >= 1, 'a host candidate');
      await page
        .getByRole('list', { name: 'State timeline' })
        .locator('li', { hasText: /ms connection: connected$/ })
        .waitFor();
      await screenshot(page, `diagnostics-connected-${size}`);
      assert.deepEqual(a.errors, [], 'the page logged errors');
      await a.context.close();
    });
  }
});
