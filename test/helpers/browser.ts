// Debian's Chromium (never a downloaded browser) driven by playwright-core, for the web app's end-to-end tests.
// Playwright gives every launch a fresh temporary profile. Loopback only: the app comes from a Ferry server on
// 127.0.0.1, and `ferry.test` resolves there too, so a test can open the app from an origin that is not a secure
// context (as a LAN address would be) without any traffic leaving the machine.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const INSECURE_HOST = 'ferry.test';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`,
];

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

// WebRTC on loopback: Chromium gathers loopback candidates only with this flag and camera/microphone permission
// (openApp grants it); the fake devices stand in for a camera and a microphone.
const WEBRTC_FLAGS = [
  '--allow-loopback-in-peer-connection',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

export async function launchBrowser(options: { webrtc?: boolean } = {}): Promise<Browser> {
  const args = options.webrtc ? [...FLAGS, ...WEBRTC_FLAGS] : FLAGS;
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 30_000 });
}

export interface AppPage {
  context: BrowserContext;
  page: Page;
  /** Errors the page threw or logged (CSP violations included): a test fails if there are any. */
  errors: string[];
}

/** A fresh context (its own service worker registration and downloads) with the app open at `url`. */
export async function openApp(
  browser: Browser,
  url: string,
  viewport = DESKTOP,
  options: { media?: boolean } = {},
): Promise<AppPage> {
  const context = await browser.newContext({ acceptDownloads: true, viewport });
  // Camera and microphone permission, for WebRTC tests: without it Chromium hides the loopback candidates.
  if (options.media) await context.grantPermissions(['camera', 'microphone'], { origin: new URL(url).origin });
  // tsx compiles functions given to page.evaluate with a __name helper the page does not have.
  await context.addInitScript('globalThis.__name = (f) => f');
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (message) => {
    // A refused pipe (400) is logged by the browser as a failed resource: that is a tested outcome, not a bug.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      errors.push(message.text());
  });
  await page.goto(url);
  await page.getByRole('heading', { level: 1 }).waitFor();
  return { context, page, errors };
}

export const SCREENSHOTS = join(import.meta.dirname, '../../test-results/screenshots');

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
