// The web app's relay screen in real Chromium against a real Ferry server, with curl on the other end: files, a
// folder and text both ways, n=2, a refused and a cut transfer, the plain-download fallback outside a secure
// context, and screenshots of the main states at phone and desktop sizes (test-results/screenshots/, to look at).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Download, Locator, Page } from 'playwright-core';
import { buildWeb } from '../../web/build.ts';
import { type AppPage, DESKTOP, INSECURE_HOST, launchBrowser, openApp, PHONE, screenshot } from '../helpers/browser.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { randomFile, Sender, startCurl, uniquePath, waitForStats, within } from '../helpers/relay.ts';

const STEP_MS = 30_000;

let ferry: TestServer;
let browser: Browser;
let work: string;
const opened: AppPage[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-web-e2e-'));
  await buildWeb(join(work, 'web'));
  ferry = await startFerry({}, { webRoot: join(work, 'web') });
  browser = await launchBrowser();
});

after(async () => {
  for (const app of opened) await app.context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await ferry?.close();
  rmSync(work, { recursive: true, force: true });
});

async function app(viewport = DESKTOP, origin = ferry.url): Promise<AppPage> {
  const page = await openApp(browser, `${origin}/`, viewport);
  opened.push(page);
  return page;
}

function sendCard(page: Page): Locator {
  return page.locator('section.card', { has: page.getByRole('heading', { name: 'Send', exact: true }) });
}

function receiveCard(page: Page): Locator {
  return page.locator('section.card', { has: page.getByRole('heading', { name: 'Receive', exact: true }) });
}

/** Wait until a card's status sentence contains `text`; fail with the sentence it shows instead. */
async function statusOf(card: Locator, text: string | RegExp, timeout = STEP_MS): Promise<string> {
  const status = card.getByRole('status');
  try {
    await status.filter({ hasText: text }).waitFor({ timeout });
  } catch (err) {
    throw new Error(`status never showed ${text}; it says "${await status.textContent()}"`, { cause: err });
  }
  return (await status.textContent()) ?? '';
}

async function fillPipe(card: Locator, path: string, n = 1): Promise<void> {
  await card.getByLabel('Path').fill(path.slice(1));
  await card.getByLabel('Receivers').fill(String(n));
}

/** The page's next download; a test that fails before awaiting it leaves no unhandled rejection behind. */
function nextDownload(page: Page): Promise<Download> {
  const download = page.waitForEvent('download', { timeout: STEP_MS });
  download.catch(() => {});
  return download;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function savedHash(download: Download): Promise<string> {
  const failure = await download.failure();
  assert.equal(failure, null, `the download failed: ${failure}`);
  return sha256File(await download.path());
}

/** Every file under `dir`, relative path → sha256. */
function treeHashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const full = join(at, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.set(relative(dir, full), sha256File(full));
    }
  };
  walk(dir);
  return out;
}

function noErrors(...apps: AppPage[]): void {
  for (const a of apps) assert.deepEqual(a.errors, [], 'the page logged errors');
}

describe('web app: relay screen in Chromium', { timeout: 150_000 }, () => {
  test('the first screen at phone and desktop sizes', async () => {
    for (const [name, viewport] of [
      ['phone', PHONE],
      ['desktop', DESKTOP],
    ] as const) {
      const a = await app(viewport);
      await screenshot(a.page, `relay-start-${name}`);
      // Real controls with labels: everything a keyboard or a screen reader needs is reachable by its name.
      const send = sendCard(a.page);
      await send.getByRole('radio', { name: 'Text' }).check();
      await send.getByLabel('Text to send').fill('hello from the web app');
      await screenshot(a.page, `relay-text-${name}`);
      noErrors(a);
      await a.context.close();
    }
  });

  test('a page sends a file; curl receives it byte for byte, with its name and length', async () => {
    const file = randomFile(24 * 1024 * 1024 + 123);
    try {
      const a = await app(PHONE);
      const send = sendCard(a.page);
      const path = uniquePath('web-file');
      await fillPipe(send, path);
      await send.locator('input[type=file]:not([webkitdirectory])').setInputFiles(file.path);
      await send.getByRole('button', { name: 'Send' }).click();
      // Nobody reads yet: once the socket buffers are full nothing moves, and the page says so.
      await statusOf(send, 'Waiting for 1 receiver');
      await screenshot(a.page, 'relay-send-waiting-phone');
      const receiver = startCurl(['-D', '-', '-o', join(work, 'from-page.bin'), `${ferry.url}${path}`]);
      const got = await within(receiver.result, STEP_MS, 'curl to receive');
      assert.equal(got.code, 0, got.stderr);
      assert.equal(sha256File(join(work, 'from-page.bin')), file.sha256);
      const head = got.stdout.toString();
      assert.match(head, new RegExp(`content-length: ${file.size}\\r\\n`, 'i'));
      assert.match(head, /content-disposition: attachment; filename="random.bin"/i);
      const final = await statusOf(send, 'Done');
      assert.match(final, /the receiver got everything/);
      await screenshot(a.page, 'relay-send-done-phone');
      noErrors(a);
    } finally {
      file.remove();
    }
  });

  test('curl sends a file; the page saves it as a download and shows its SHA-256', async () => {
    const file = randomFile(16 * 1024 * 1024 + 7);
    try {
      const a = await app(DESKTOP);
      const receive = receiveCard(a.page);
      const path = uniquePath('web-recv');
      await fillPipe(receive, path);
      await receive.getByLabel(/SHA-256/).check();
      const download = nextDownload(a.page);
      await receive.getByRole('button', { name: 'Receive' }).click();
      await statusOf(receive, 'Waiting for the sender');
      await screenshot(a.page, 'relay-receive-waiting-desktop');
      const sender = startCurl([
        '-T',
        file.path,
        '-H',
        'Content-Disposition: attachment; filename="data.bin"',
        `${ferry.url}${path}`,
      ]);
      const saved = await download;
      assert.equal(saved.suggestedFilename(), 'data.bin');
      assert.equal(await savedHash(saved), file.sha256);
      assert.equal((await within(sender.result, STEP_MS, 'curl to send')).code, 0);
      await statusOf(receive, 'Saved data.bin');
      assert.equal(await receive.locator('.hash code').textContent(), file.sha256);
      await screenshot(a.page, 'relay-receive-done-desktop');
      noErrors(a);
    } finally {
      file.remove();
    }
  });

  test('n=2: one page sends, two pages receive the same bytes', async () => {
    const file = randomFile(8 * 1024 * 1024);
    try {
      const [sender, r1, r2] = [await app(), await app(), await app(PHONE)];
      const path = uniquePath('web-n2');
      const downloads = [r1, r2].map(async (r) => {
        const card = receiveCard(r.page);
        await fillPipe(card, path, 2);
        const download = nextDownload(r.page);
        await card.getByRole('button', { name: 'Receive' }).click();
        return download;
      });
      await waitForStats(ferry.url, (s) => s.waitingReceivers >= 2, 'two receivers waiting');
      const send = sendCard(sender.page);
      await fillPipe(send, path, 2);
      await send.locator('input[type=file]:not([webkitdirectory])').setInputFiles(file.path);
      await send.getByRole('button', { name: 'Send' }).click();
      for (const download of downloads) assert.equal(await savedHash(await download), file.sha256);
      await statusOf(send, 'Done: all 2 receivers got everything');
      for (const r of [r1, r2]) await statusOf(receiveCard(r.page), 'Saved random.bin');
      await screenshot(r2.page, 'relay-receive-done-phone');
      noErrors(sender, r1, r2);
    } finally {
      file.remove();
    }
  });

  test('several files and a folder arrive as a tar archive that unpacks to the same files', async () => {
    const source = join(work, 'album');
    mkdirSync(join(source, 'raw', 'deep'), { recursive: true });
    const contents: [string, Buffer][] = [
      ['cover.jpg', randomBytes(300_000)],
      ['notes – été.txt', Buffer.from('ünïcödé name, 512-byte edge follows\n')],
      ['raw/exact-512.bin', randomBytes(512)],
      ['raw/deep/empty.txt', Buffer.alloc(0)],
      [`raw/deep/${'long-name-'.repeat(12)}.bin`, randomBytes(70_000)],
    ];
    for (const [name, data] of contents) writeFileSync(join(source, name), data);
    const expected = new Map(contents.map(([name, data]) => [name, createHash('sha256').update(data).digest('hex')]));

    const a = await app();
    const send = sendCard(a.page);

    // Several files: each at the archive's root.
    const filesPath = uniquePath('web-files');
    await fillPipe(send, filesPath);
    const picked = ['cover.jpg', 'notes – été.txt', 'raw/exact-512.bin'];
    await send.locator('input[type=file]:not([webkitdirectory])').setInputFiles(picked.map((p) => join(source, p)));
    await send.getByText('3 files').waitFor();
    await screenshot(a.page, 'relay-files-chosen-desktop');
    await send.getByRole('button', { name: 'Send' }).click();
    const filesOut = join(work, 'files-out');
    mkdirSync(filesOut);
    const tar1 = startCurl([
      '-D',
      join(work, 'files-head.txt'),
      '-o',
      join(work, 'files.tar'),
      `${ferry.url}${filesPath}`,
    ]);
    assert.equal((await within(tar1.result, STEP_MS, 'curl to receive the files')).code, 0);
    assert.match(readFileSync(join(work, 'files-head.txt'), 'utf8'), /filename="files.tar"/);
    await extract(join(work, 'files.tar'), filesOut);
    assert.deepEqual(
      treeHashes(filesOut),
      new Map(picked.map((p) => [p.split('/').pop() as string, expected.get(p) as string])),
    );
    await statusOf(send, 'Done');

    // A folder: its tree, under its own name.
    await send.getByRole('radio', { name: 'A folder' }).check();
    const folderPath = uniquePath('web-folder');
    await fillPipe(send, folderPath);
    await send.locator('input[webkitdirectory]').setInputFiles(source);
    await send.getByText('album.tar').waitFor();
    await send.getByRole('button', { name: 'Send' }).click();
    const folderOut = join(work, 'folder-out');
    mkdirSync(folderOut);
    const tar2 = startCurl(['-o', join(work, 'album.tar'), `${ferry.url}${folderPath}`]);
    assert.equal((await within(tar2.result, STEP_MS, 'curl to receive the folder')).code, 0);
    await extract(join(work, 'album.tar'), folderOut);
    assert.deepEqual(treeHashes(join(folderOut, 'album')), expected);
    await statusOf(send, 'Done');
    noErrors(a);
  });

  test('text: a page sends, curl gets it exactly; a page sends, another page shows it', async () => {
    const text = 'Hello, Ferry! ünïcödé ✓\nsecond line\n';
    const [sender, receiver] = [await app(PHONE), await app(PHONE)];
    const send = sendCard(sender.page);
    await send.getByRole('radio', { name: 'Text' }).check();
    await send.getByLabel('Text to send').fill(text);

    const toCurl = uniquePath('web-text');
    await fillPipe(send, toCurl);
    await send.getByRole('button', { name: 'Send' }).click();
    const got = await within(startCurl([`${ferry.url}${toCurl}`]).result, STEP_MS, 'curl to receive the text');
    assert.equal(got.stdout.toString(), text);
    await statusOf(send, 'Done');

    const toPage = uniquePath('web-text');
    await fillPipe(send, toPage);
    await send.getByRole('button', { name: 'Send' }).click();
    const receive = receiveCard(receiver.page);
    await fillPipe(receive, toPage);
    await receive.getByRole('button', { name: 'Receive' }).click();
    await statusOf(receive, 'Received a text');
    assert.equal(await receive.getByLabel('Received text').inputValue(), text);
    await screenshot(receiver.page, 'relay-receive-text-phone');
    noErrors(sender, receiver);
  });

  test('a refused, a cancelled and a cut receive say what happened', async () => {
    const a = await app(PHONE);
    const receive = receiveCard(a.page);

    // A sender waiting with n=1; a receiver asking for n=2 is refused with the relay's reason.
    const path = uniquePath('web-refused');
    const waiting = startCurl(['-T', '-', `${ferry.url}${path}`], { stdin: 'x' });
    await waitForStats(ferry.url, (s) => s.waitingSenders >= 1, 'the sender waiting');
    await fillPipe(receive, path, 2);
    await receive.getByRole('button', { name: 'Receive' }).click();
    assert.match(await statusOf(receive, 'refused'), /number of receivers should be 1 but 2/);
    await screenshot(a.page, 'relay-receive-refused-phone');
    waiting.child.kill();
    await waiting.result;

    // Cancelled while waiting: the page says so and the relay no longer counts a waiting receiver.
    const cancelled = uniquePath('web-cancel');
    await fillPipe(receive, cancelled, 1);
    await receive.getByRole('button', { name: 'Receive' }).click();
    await statusOf(receive, 'Waiting for the sender');
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the page waiting');
    await receive.getByRole('button', { name: 'Cancel' }).click();
    await statusOf(receive, 'Cancelled');
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 0, 'the waiting receiver gone');

    // A sender that leaves halfway: the page fails the download instead of saving a short file.
    const cut = uniquePath('web-cut');
    await fillPipe(receive, cut, 1);
    const download = nextDownload(a.page);
    await receive.getByRole('button', { name: 'Receive' }).click();
    const sender = new Sender(`${ferry.url}${cut}`, {
      contentLength: 1024 * 1024,
      headers: { 'Content-Disposition': 'attachment; filename="half.bin"' },
    });
    await sender.write(randomBytes(256 * 1024));
    await statusOf(receive, 'Receiving');
    sender.abort();
    assert.match(await statusOf(receive, 'Failed'), /cut before the end/);
    const failure = await (await download).failure();
    assert.notEqual(failure, null, 'the partial download must not be a finished file');
    noErrors(a);
  });

  test('outside a secure context, a receive is handed to the browser as a plain download', async () => {
    const file = randomFile(2 * 1024 * 1024);
    try {
      const a = await app(DESKTOP, `http://${INSECURE_HOST}:${ferry.port}`);
      const receive = receiveCard(a.page);
      await receive.getByText('Files go straight to your browser').waitFor();
      const path = uniquePath('web-link');
      await fillPipe(receive, path);
      const download = nextDownload(a.page);
      await receive.getByRole('button', { name: 'Receive' }).click();
      await statusOf(receive, 'Handed to your browser');
      await screenshot(a.page, 'relay-receive-link-desktop');
      const sender = startCurl(['-T', file.path, `${ferry.url}${path}`]);
      assert.equal(await savedHash(await download), file.sha256);
      assert.equal((await within(sender.result, STEP_MS, 'curl to send')).code, 0);
      noErrors(a);
    } finally {
      file.remove();
    }
  });
});

/** Unpack with the system's tar, as a receiving user would. */
async function extract(archive: string, into: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('tar', ['-xf', archive, '-C', into], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${err}`))));
  });
}
