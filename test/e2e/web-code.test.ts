// The web app's code-transfer screen in real Chromium against a real Ferry server and real `ferry send` / `ferry
// receive` processes, loopback only: 64 MiB with SHA-256 equal browser→browser, browser→CLI and CLI→browser, first
// over P2P, then with P2P impossible — a second Chromium without --allow-loopback-in-peer-connection and without
// camera/microphone permission gathers no candidate at all in the loopback-only namespace, so the sender falls back
// to the relay after its timeout. Also a wrong code, a declined offer, claimers that leave before the key exchange,
// and screenshots at phone and desktop sizes.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Download, Locator, Page } from 'playwright-core';
import { buildWeb } from '../../web/build.ts';
import { type AppPage, DESKTOP, launchBrowser, openApp, PHONE, screenshot } from '../helpers/browser.ts';
import { runCli, startFerry, type TestServer } from '../helpers/ferry.ts';
import { Proc } from '../helpers/proc.ts';
import { within } from '../helpers/relay.ts';
import { type Json, TestSocket } from '../helpers/ws.ts';

const STEP_MS = 60_000;
const T = { timeout: 180_000 };
const SIZE = 64 * 1024 * 1024;

let ferry: TestServer;
let direct: Browser;
let blocked: Browser;
let work: string;
let file: string;
let fileSha: string;
const opened: AppPage[] = [];
const procs: Proc[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-code-e2e-'));
  await buildWeb(join(work, 'web'));
  ferry = await startFerry({}, { webRoot: join(work, 'web') });
  direct = await launchBrowser({ webrtc: true });
  blocked = await launchBrowser();
  file = join(work, 'random-64MiB.bin');
  const data = randomBytes(SIZE);
  writeFileSync(file, data);
  fileSha = createHash('sha256').update(data).digest('hex');
});

after(async () => {
  for (const proc of procs) await proc.stop();
  for (const app of opened) await app.context.close().catch(() => {});
  await direct?.close().catch(() => {});
  await blocked?.close().catch(() => {});
  await ferry?.close();
  rmSync(work, { recursive: true, force: true });
});

async function app(browser: Browser, hash = '#/code', viewport = DESKTOP): Promise<AppPage> {
  const page = await openApp(browser, `${ferry.url}/${hash}`, viewport, { media: browser === direct });
  opened.push(page);
  return page;
}

function card(page: Page, name: 'Send' | 'Receive'): Locator {
  return page.locator('section.card', { has: page.getByRole('heading', { name, exact: true }) });
}

/** Wait until a card's status sentence contains `text`; fail with the sentence it shows instead. */
async function statusOf(where: Locator, text: string | RegExp, timeout = STEP_MS): Promise<string> {
  const status = where.getByRole('status');
  try {
    await status.filter({ hasText: text }).waitFor({ timeout });
  } catch (err) {
    throw new Error(`status never showed ${text}; it says "${await status.textContent()}"`, { cause: err });
  }
  return (await status.textContent()) ?? '';
}

/** Picks the file in the page's Send card and asks for a code; resolves with the code shown. */
async function pageSends(a: AppPage, path = file): Promise<string> {
  const send = card(a.page, 'Send');
  await send.locator('input[type=file]:not([webkitdirectory])').setInputFiles(path);
  await send.getByRole('button', { name: 'Get a code' }).click();
  const code = send.locator('.code-value');
  await code.waitFor({ timeout: STEP_MS });
  return (await code.getAttribute('data-code')) ?? '';
}

function nextDownload(page: Page): Promise<Download> {
  const download = page.waitForEvent('download', { timeout: STEP_MS * 2 });
  download.catch(() => {});
  return download;
}

/** `ferry send` → a page that accepted, once some MB have arrived: where the mid-transfer failures start. */
async function cliToPageMidway(): Promise<{ sender: Proc; b: AppPage; receive: Locator; download: Promise<Download> }> {
  const sender = cli(['send', file, '--p2p-timeout', '2']);
  const code = await cliCode(sender);
  const b = await app(direct, `#${code}`);
  const receive = card(b.page, 'Receive');
  const download = nextDownload(b.page);
  await receive.getByRole('button', { name: 'Accept' }).click();
  await receive.locator('.numbers', { hasText: /[1-9][\d.]* MB of/ }).waitFor({ timeout: STEP_MS });
  return { sender, b, receive, download };
}

/** A download that was cut must fail within 30 s: never end as a finished file, never wait for good. */
async function downloadFails(download: Download, what: string): Promise<void> {
  assert.notEqual(await within(download.failure(), 30_000, what), null, 'a cut download must not be a finished file');
}

async function savedHash(download: Download): Promise<string> {
  const failure = await download.failure();
  assert.equal(failure, null, `the download failed: ${failure}`);
  return createHash('sha256')
    .update(readFileSync(await download.path()))
    .digest('hex');
}

/** The page's Receive card accepts the offer; resolves with the SHA-256 of the saved download. */
async function pageAccepts(a: AppPage, shot?: string): Promise<string> {
  const receive = card(a.page, 'Receive');
  const accept = receive.getByRole('button', { name: 'Accept' });
  await accept.waitFor({ timeout: STEP_MS });
  assert.match((await receive.locator('.offer').textContent()) ?? '', /random-64MiB\.bin \(67\.1 MB\)/);
  if (shot) await screenshot(a.page, shot);
  const download = nextDownload(a.page);
  await accept.click();
  const hash = await savedHash(await download);
  await statusOf(receive, /^Received 67\.1 MB/);
  return hash;
}

function transportOf(where: Locator): Promise<string | null> {
  return where.locator('.badge').getAttribute('data-transport');
}

function cli(args: string[]): Proc {
  const proc = new Proc(runCli([...args, '--server', ferry.url, '--bind-address', '127.0.0.1', '--json']));
  procs.push(proc);
  return proc;
}

async function cliCode(sender: Proc): Promise<string> {
  await sender.waitFor('out', /"event":"code"/);
  return String(sender.event('code')?.code);
}

for (const mode of ['p2p', 'relay'] as const) {
  describe(`code transfers, ${mode === 'p2p' ? 'P2P' : 'P2P impossible: relay fallback'}`, () => {
    const browser = () => (mode === 'p2p' ? direct : blocked);

    test('browser → browser: 64 MiB, SHA-256 equal on both pages', T, async () => {
      const a = await app(browser(), '#/code', mode === 'p2p' ? DESKTOP : PHONE);
      const code = await pageSends(a);
      await statusOf(card(a.page, 'Send'), 'Waiting for the receiver');
      await screenshot(a.page, `code-send-waiting-${mode === 'p2p' ? 'desktop' : 'phone'}`);
      const b = await app(browser(), `#${code}`, mode === 'p2p' ? PHONE : DESKTOP);
      const hash = await pageAccepts(b, `code-receive-offer-${mode === 'p2p' ? 'phone' : 'desktop'}`);
      assert.equal(hash, fileSha);
      const send = card(a.page, 'Send');
      await statusOf(send, /^Sent 67\.1 MB/);
      assert.equal(await transportOf(send), mode);
      assert.equal(await transportOf(card(b.page, 'Receive')), mode);
      assert.equal(await send.locator('.hashes code').textContent(), fileSha);
      assert.equal(await card(b.page, 'Receive').locator('.hashes code').textContent(), fileSha);
      const words = await send.locator('.verification .words').textContent();
      assert.equal(await card(b.page, 'Receive').locator('.verification .words').textContent(), words);
      await screenshot(a.page, `code-send-done-${mode === 'p2p' ? 'desktop' : 'phone'}`);
      await screenshot(b.page, `code-receive-done-${mode === 'p2p' ? 'phone' : 'desktop'}`);
      assert.deepEqual([...a.errors, ...b.errors], []);
    });

    test('browser → ferry receive: 64 MiB, SHA-256 equal', T, async () => {
      const a = await app(browser());
      const code = await pageSends(a);
      const out = mkdtempSync(join(work, 'out-'));
      const receiver = cli(['receive', code, '--out', out, '--yes']);
      assert.equal(await receiver.exited, 0, receiver.err);
      const done = receiver.event('done');
      assert.equal(done?.transport, mode);
      assert.equal(done?.sha256, fileSha);
      assert.deepEqual(readdirSync(out), ['random-64MiB.bin']);
      const send = card(a.page, 'Send');
      await statusOf(send, /^Sent 67\.1 MB/);
      assert.equal(await transportOf(send), mode);
      assert.deepEqual(a.errors, []);
    });

    test('ferry send → browser: 64 MiB, SHA-256 equal', T, async () => {
      const sender = cli(['send', file, '--p2p-timeout', '2']);
      const code = await cliCode(sender);
      const b = await app(browser(), `#${code}`);
      assert.equal(await pageAccepts(b), fileSha);
      assert.equal(await sender.exited, 0, sender.err);
      assert.equal(sender.event('done')?.transport, mode);
      assert.equal(await transportOf(card(b.page, 'Receive')), mode);
      assert.deepEqual(b.errors, []);
    });
  });
}

describe('the download helper', () => {
  test('its service worker may compile WebAssembly (its SHA-256) and may not fetch', T, async () => {
    const a = await app(direct);
    const worker = a.context.serviceWorkers()[0] ?? (await a.context.waitForEvent('serviceworker'));
    // The smallest module there is: the magic number and version 1.
    const wasm = await worker.evaluate(
      "WebAssembly.compile(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])).then(() => 'compiled', (e) => e.message)",
    );
    assert.equal(wasm, 'compiled', 'without WebAssembly the worker hashes in JavaScript, several times slower');
    const fetched = await worker.evaluate(() =>
      fetch('/').then(
        () => 'fetched',
        () => 'refused',
      ),
    );
    assert.equal(fetched, 'refused');
  });
});

describe('a code claimed by someone else', () => {
  test('a page sending waits on through claimers that leave before the key exchange, then sends', T, async () => {
    const a = await app(direct);
    const code = await pageSends(a);
    const nameplate = Number(code.split('-')[0]);
    for (const hearFirst of [true, false]) {
      // Someone trying numbers, from another address: it claims the page's, and goes without trying a code.
      const scanner = await TestSocket.peer(ferry.url, {}, { localAddress: '127.0.0.9' });
      scanner.send({ type: 'claim', rid: 1, nameplate });
      assert.equal((await scanner.next()).type, 'claimed');
      if (hearFirst) assert.equal(((await scanner.next(STEP_MS)).data as Json).t, 'pake');
      await scanner.close();
    }
    const out = mkdtempSync(join(work, 'out-'));
    const receiver = cli(['receive', code, '--out', out, '--yes']);
    assert.equal(await receiver.exited, 0, receiver.err);
    assert.equal(receiver.event('done')?.sha256, fileSha);
    await statusOf(card(a.page, 'Send'), /^Sent 67\.1 MB/);
    assert.deepEqual(a.errors, []);
  });
});

describe('code transfers that do not happen', () => {
  test('a wrong code: both pages say the code is wrong', T, async () => {
    const a = await app(direct);
    const code = await pageSends(a);
    const [number, first] = code.split('-');
    const wrong = `${number}-${first === 'zoo' ? 'abandon' : 'zoo'}-zoo`;
    const b = await app(direct, '#/code', PHONE);
    const receive = card(b.page, 'Receive');
    await receive.getByRole('textbox', { name: 'Code' }).fill(wrong);
    await receive.getByRole('button', { name: 'Receive' }).click();
    await statusOf(receive, 'The code is wrong');
    await statusOf(card(a.page, 'Send'), 'The code is wrong');
    await screenshot(b.page, 'code-receive-wrong-code-phone');
  });

  test('a malformed code is refused before anything is sent', T, async () => {
    const b = await app(direct, '#/code', PHONE);
    const receive = card(b.page, 'Receive');
    await receive.getByRole('textbox', { name: 'Code' }).fill('7-orbitt-frozen');
    await receive.getByRole('button', { name: 'Receive' }).click();
    await statusOf(receive, 'That is not a valid code');
  });

  test('decline: the sender hears "the other side declined", nothing is saved', T, async () => {
    const a = await app(direct, '#/code', PHONE);
    const code = await pageSends(a);
    const b = await app(direct, `#${code}`);
    const receive = card(b.page, 'Receive');
    const downloads: Download[] = [];
    b.page.on('download', (d) => downloads.push(d));
    await receive.getByRole('button', { name: 'Decline' }).click();
    await statusOf(card(a.page, 'Send'), 'The other side declined.');
    await statusOf(receive, 'You declined');
    assert.deepEqual(downloads, []);
    await screenshot(a.page, 'code-send-declined-phone');
  });

  test('the sender leaves while the offer is shown: the receiver is told, no Accept button stays', T, async () => {
    const a = await app(direct);
    const code = await pageSends(a);
    const b = await app(direct, `#${code}`);
    const receive = card(b.page, 'Receive');
    await receive.getByRole('button', { name: 'Accept' }).waitFor({ timeout: STEP_MS });
    await a.context.close();
    await statusOf(receive, 'The other side left');
    assert.equal(await receive.getByRole('button', { name: 'Accept' }).count(), 0);
  });

  test(
    'the sender leaves mid-transfer: the receiver says so and its download fails, never looks finished',
    T,
    async () => {
      const a = await app(direct);
      const code = await pageSends(a);
      const b = await app(direct, `#${code}`, PHONE);
      const receive = card(b.page, 'Receive');
      const download = nextDownload(b.page);
      await receive.getByRole('button', { name: 'Accept' }).click();
      await receive.locator('.numbers', { hasText: /[1-9][\d.]* MB of/ }).waitFor({ timeout: STEP_MS });
      await a.context.close();
      await statusOf(receive, 'The other side left');
      assert.notEqual(await (await download).failure(), null, 'a cut download must not be a finished file');
      await screenshot(b.page, 'code-receive-left-phone');
    },
  );

  test(
    'the receiving page closes mid-transfer: its download fails (the service worker notices), neither finishes nor hangs',
    T,
    async () => {
      const { sender, b, download } = await cliToPageMidway();
      await b.page.close();
      // The download outlives its page (it is the browser's): only the service worker can end it, and must.
      await downloadFails(await download, 'the download to fail once its page is gone');
      assert.notEqual(await sender.exited, 0, 'the sender must not think the file arrived');
    },
  );

  test(
    'the service worker stops mid-transfer: the page notices (it stops answering) and fails the transfer, never hangs',
    T,
    async () => {
      const { sender, b, receive, download } = await cliToPageMidway();
      // As a crash or the browser would: nothing tells the page, whose port to the worker just goes quiet.
      const cdp = await b.context.newCDPSession(b.page);
      await cdp.send('ServiceWorker.enable');
      await cdp.send('ServiceWorker.stopAllWorkers');
      await statusOf(receive, 'the download helper stopped', 15_000);
      assert.notEqual(await sender.exited, 0, 'the sender must not think the file arrived');
      await downloadFails(await download, 'the download to fail with its worker');
    },
  );

  test('a folder from ferry send arrives as one download per file, each verified', T, async () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    const files = new Map([
      ['a.txt', randomBytes(1000)],
      ['sub/b.bin', randomBytes(300_000)],
      ['sub/empty', Buffer.alloc(0)],
    ]);
    for (const [name, data] of files) writeFileSync(join(tree, name), data);
    const sender = cli(['send', tree]);
    const code = await cliCode(sender);
    const b = await app(direct, `#${code}`);
    const receive = card(b.page, 'Receive');
    const saved = new Map<string, string>();
    const all = new Promise<void>((resolve) => {
      b.page.on('download', async (download) => {
        saved.set(download.suggestedFilename(), await savedHash(download));
        if (saved.size === files.size) resolve();
      });
    });
    await receive.getByRole('button', { name: 'Accept' }).click();
    await all;
    await statusOf(receive, /^Received/);
    assert.equal(await sender.exited, 0, sender.err);
    for (const [name, data] of files) {
      assert.equal(saved.get(`tree_${name.replace('/', '_')}`), createHash('sha256').update(data).digest('hex'));
    }
  });
});
