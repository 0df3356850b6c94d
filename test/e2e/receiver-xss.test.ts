// Issue 15, in real Chromium: a sender's Content-Type must never make a receiver's URL, which is on Ferry's own
// origin, run the sender's script. Each payload, if it ran, would fetch a beacon on a server of the test's own and
// set the page title. The same payloads served as they are by a plain server (the control) do run, which proves the
// detector; through Ferry none may, whatever the type: the type is parsed and held to an allow-list, and every
// receiver response carries `Content-Security-Policy: sandbox` and nosniff.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { request, Sender, uniquePath, waitForStats } from '../helpers/relay.ts';

let ferry: TestServer;
let browser: Browser;
let context: BrowserContext;
let beacon: http.Server;
let beaconOrigin: string;
/** Beacon paths the pages reached. */
const hits = new Set<string>();

before(async () => {
  ferry = await startFerry();
  beacon = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://beacon');
    if (url.pathname === '/control') {
      // The control: the payload as it is, under the raw type (no nosniff, no CSP), as a careless server sends it.
      res.writeHead(200, { 'Content-Type': url.searchParams.get('type') ?? '' });
      res.end(payload(url.searchParams.get('kind') as 'html' | 'svg', url.searchParams.get('id') ?? ''));
      return;
    }
    hits.add(url.pathname);
    res.writeHead(204, { 'Access-Control-Allow-Origin': '*' });
    res.end();
  });
  await new Promise<void>((resolve) => beacon.listen(0, '127.0.0.1', resolve));
  beaconOrigin = `http://127.0.0.1:${(beacon.address() as AddressInfo).port}`;
  browser = await launchBrowser();
  context = await browser.newContext();
});

after(async () => {
  await context?.close().catch(() => {});
  await browser?.close().catch(() => {});
  beacon?.closeAllConnections();
  beacon?.close();
  await ferry?.close();
});

/** A document that, if any of its script runs, fetches `/hit/<id>` and titles itself "ran <id>". */
function payload(kind: 'html' | 'svg', id: string): string {
  const run = `document.title='ran ${id}';fetch('${beaconOrigin}/hit/${id}',{mode:'no-cors'})`;
  if (kind === 'svg') {
    return `<svg xmlns="http://www.w3.org/2000/svg" onload="${run}"><script>${run}</script><title>not run</title></svg>`;
  }
  return `<!doctype html><title>not run</title><script>${run}</script><img src="data:," onerror="${run}">`;
}

/** Whether the page at `open()` ran the payload `id`: its beacon was fetched or its title set. */
async function ran(page: Page, id: string, open: () => Promise<unknown>): Promise<boolean> {
  // A type Chromium does not render is a download, which ends the navigation with an error: that is fine here.
  await open().catch(() => {});
  await sleep(400);
  const title = await page.title().catch(() => '');
  return hits.has(`/hit/${id}`) || title === `ran ${id}`;
}

const VARIANTS: Array<[type: string, kind: 'html' | 'svg']> = [
  ['text/html', 'html'],
  ['text/html x', 'html'],
  ['text/html (x)', 'html'],
  ['text/html\tx', 'html'],
  ['text/html =', 'html'],
  ['text/html; charset=utf-8', 'html'],
  ['TEXT/HTML', 'html'],
  ['application/xhtml+xml', 'svg'],
  ['image/svg+xml', 'svg'],
  ['image/svg+xml (x)', 'svg'],
  ['text/xml', 'svg'],
];

describe('a receiver opened in Chromium never runs the sender’s script', { timeout: 120_000 }, () => {
  test('control: the same payloads served as they are do run (the detector works)', async () => {
    const page = await context.newPage();
    try {
      for (const [type, kind] of VARIANTS) {
        const id = `control-${hits.size}-${Math.random().toString(36).slice(2)}`;
        const url = `${beaconOrigin}/control?${new URLSearchParams({ type, kind, id })}`;
        assert.equal(await ran(page, id, () => page.goto(url)), true, `${JSON.stringify(type)} runs when served raw`);
      }
    } finally {
      await page.close();
    }
  });

  for (const [type, kind] of VARIANTS) {
    test(`sent as ${JSON.stringify(type)}: the receiver's page runs nothing`, async () => {
      const page = await context.newPage();
      try {
        const id = `pipe-${Math.random().toString(36).slice(2)}`;
        const path = uniquePath('xss');
        const opened = page.goto(`${ferry.url}${path}`);
        opened.catch(() => {});
        await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the browser to wait as a receiver');
        const sender = new Sender(`${ferry.url}${path}`, { headers: { 'Content-Type': type } });
        sender.end(payload(kind, id));
        assert.equal(await ran(page, id, () => opened), false, `${JSON.stringify(type)} ran script on Ferry's origin`);
        assert.match((await sender.result).log, /All receiver\(s\) was\/were received successfully/);
      } finally {
        await page.close();
      }
    });
  }

  test('a multipart part typed `text/html x`, without a disposition: the receiver runs nothing', async () => {
    const page = await context.newPage();
    try {
      const id = `part-${Math.random().toString(36).slice(2)}`;
      const path = uniquePath('xss');
      const opened = page.goto(`${ferry.url}${path}`);
      opened.catch(() => {});
      await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the browser to wait as a receiver');
      const body =
        // No Content-Disposition: a `form-data` one would make Chromium save the part instead of showing it.
        `--XyZ\r\nContent-Type: text/html x\r\n\r\n${payload('html', id)}\r\n--XyZ--\r\n`;
      const sent = await request(`${ferry.url}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'multipart/form-data; boundary=XyZ' },
        body,
      });
      assert.equal(sent.status, 200);
      assert.equal(await ran(page, id, () => opened), false, 'the part ran script on Ferry’s origin');
    } finally {
      await page.close();
    }
  });
});
