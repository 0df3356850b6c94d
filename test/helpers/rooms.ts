// Shared steps of the rooms-screen e2e tests: one Ferry server with the built web app and one WebRTC-enabled
// Chromium per test file, pages opened on a room or call link, and the waits a person does by looking (a member
// connected, a status saying something).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Download, Locator, Page } from 'playwright-core';
import { buildWeb } from '../../web/build.ts';
import { type AppPage, DESKTOP, launchBrowser, openApp } from './browser.ts';
import { startFerry, type TestServer } from './ferry.ts';

export const STEP_MS = 20_000;

export interface RoomsRig {
  ferry: TestServer;
  browser: Browser;
  work: string;
  /** A page of the app at `/${hash}`, with camera and microphone granted; closed by close(). */
  app(hash: string, viewport?: { width: number; height: number }): Promise<AppPage>;
  close(): Promise<void>;
}

export async function startRoomsRig(): Promise<RoomsRig> {
  const work = mkdtempSync(join(tmpdir(), 'ferry-rooms-e2e-'));
  await buildWeb(join(work, 'web'));
  const ferry = await startFerry({}, { webRoot: join(work, 'web') });
  const browser = await launchBrowser({ webrtc: true });
  const opened: AppPage[] = [];
  return {
    ferry,
    browser,
    work,
    async app(hash, viewport = DESKTOP) {
      const page = await openApp(browser, `${ferry.url}/${hash}`, viewport, { media: true });
      opened.push(page);
      return page;
    },
    async close() {
      for (const app of opened) await app.context.close().catch(() => {});
      await browser.close().catch(() => {});
      await ferry.close();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

export function uniqueRoom(prefix: string): string {
  return `${prefix} ${Math.random().toString(36).slice(2, 8)}`;
}

export function roomLink(room: string, kind: 'room' | 'call' = 'room'): string {
  return `#${kind}=${encodeURIComponent(room)}`;
}

export function member(page: Page, state?: string): Locator {
  return page.locator(state ? `li.member[data-state="${state}"]` : 'li.member');
}

/** Waits until `page` lists exactly one member and it is connected with its chat channel open. */
export async function connected(page: Page): Promise<void> {
  await member(page, 'connected').waitFor({ timeout: STEP_MS });
  await page.getByRole('button', { name: 'Send', exact: true }).and(page.locator(':enabled')).waitFor({
    timeout: STEP_MS,
  });
}

/** The card (section) whose heading is `title`. */
export function card(page: Page, title: string): Locator {
  return page.locator('section', { has: page.getByRole('heading', { name: title, exact: true }) });
}

/** Waits for `locator` to contain `text`, and fails with what it said instead. */
export async function saysSoon(locator: Locator, text: string | RegExp, timeout = STEP_MS): Promise<string> {
  try {
    await locator.filter({ hasText: text }).first().waitFor({ timeout });
  } catch (err) {
    const said = await locator.allTextContents().catch(() => []);
    throw new Error(`never saw ${text}; it says ${JSON.stringify(said)}`, { cause: err });
  }
  return (await locator.filter({ hasText: text }).first().textContent()) ?? '';
}

/** The page's next download; a test that fails before awaiting it leaves no unhandled rejection behind. */
export function nextDownload(page: Page, timeout = STEP_MS): Promise<Download> {
  const download = page.waitForEvent('download', { timeout });
  download.catch(() => {});
  return download;
}

export function noErrors(...apps: AppPage[]): void {
  for (const a of apps) assert.deepEqual(a.errors, [], 'the page logged errors');
}
