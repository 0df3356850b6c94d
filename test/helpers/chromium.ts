// Debian's Chromium driven by playwright-core (never a downloaded browser), set up to do WebRTC on loopback: it
// gathers loopback candidates only with --allow-loopback-in-peer-connection and camera/microphone permission, and
// only a secure context (http://127.0.0.1, not about:blank) has RTCPeerConnection's full API. The test page is
// served by a tiny HTTP server on 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from './browser.ts';

export interface TestBrowser {
  browser: Browser;
  /** A new page on the test origin, with camera and microphone granted. */
  page(): Promise<Page>;
  close(): Promise<void>;
}

/** Launch Chromium (playwright gives it a fresh temporary --user-data-dir) and serve an empty page to open. */
export async function launchChromium(): Promise<TestBrowser> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>ferry test</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let browser: Browser;
  try {
    // Playwright kills the browser if this process exits without closing it.
    browser = await launchBrowser({ webrtc: true });
  } catch (err) {
    server.close();
    throw err;
  }
  const context = await browser.newContext();
  await context.grantPermissions(['camera', 'microphone'], { origin });
  return {
    browser,
    async page() {
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
