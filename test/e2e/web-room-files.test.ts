// Files between two room members in real Chromium, WebRTC on loopback only: a 64 MiB file offered, accepted and
// saved as a streamed download whose SHA-256 is the original's (and the one both pages show); a decline; a transfer
// cancelled mid-way by the sender and one by the receiver, each failing the download and saying so on both sides,
// with the room still working after. Screenshots at phone and desktop sizes go to test-results/screenshots/.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type AppPage, DESKTOP, PHONE, screenshot } from '../helpers/browser.ts';
import {
  card,
  connected,
  nextDownload,
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

async function pair(viewport = DESKTOP): Promise<[AppPage, AppPage]> {
  const link = roomLink(uniqueRoom('files'));
  const alice = await rig.app(link, viewport);
  const bob = await rig.app(link, viewport);
  await Promise.all([connected(alice.page), connected(bob.page)]);
  return [alice, bob];
}

async function offer(page: Page, path: string): Promise<void> {
  const files = card(page, 'Files');
  await files.getByLabel('File', { exact: true }).setInputFiles(path);
  await files.getByRole('button', { name: 'Send file' }).click();
}

function transfer(page: Page, direction: 'send' | 'receive') {
  return page.locator(`article.file-transfer[data-direction="${direction}"]`).first();
}

async function chatStillWorks(from: Page, to: Page, text: string): Promise<void> {
  await from.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
  await from.getByRole('button', { name: 'Send', exact: true }).click();
  await to.getByRole('log').locator('li.chat', { hasText: text }).waitFor({ timeout: STEP_MS });
}

describe('web app: files to a room member in Chromium', { timeout: 180_000 }, () => {
  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    test(`a file arrives whole, with the SHA-256 both sides show (${size})`, async () => {
      const [alice, bob] = await pair(viewport);
      const bytes = size === 'desktop' ? randomBytes(64 * 1024 * 1024) : randomBytes(3 * 1024 * 1024 + 7);
      const path = join(rig.work, `photo-${size}.bin`);
      writeFileSync(path, bytes);
      const sha256 = createHash('sha256').update(bytes).digest('hex');

      await offer(alice.page, path);
      const incoming = transfer(bob.page, 'receive');
      await saysSoon(incoming.getByRole('status'), `offers photo-${size}.bin`);
      await saysSoon(transfer(alice.page, 'send').getByRole('status'), 'Waiting for');
      await screenshot(bob.page, `rooms-file-offer-${size}`);
      const download = nextDownload(bob.page, 120_000);
      await incoming.getByRole('button', { name: 'Accept' }).click();
      const saved = await download;
      const [sent, received] = await Promise.all([
        saysSoon(transfer(alice.page, 'send').getByRole('status'), 'SHA-256 verified', 120_000),
        saysSoon(incoming.getByRole('status'), 'SHA-256 verified', 120_000),
      ]);
      assert.match(sent, new RegExp(`^Sent photo-${size}\\.bin`));
      assert.match(received, new RegExp(`^Received photo-${size}\\.bin`));
      assert.equal(await download.then((d) => d.failure()), null);
      assert.equal(
        createHash('sha256')
          .update(readFileSync(await saved.path()))
          .digest('hex'),
        sha256,
      );
      assert.equal(await incoming.locator('.hash code').textContent(), sha256);
      assert.equal(await transfer(alice.page, 'send').locator('.hash code').textContent(), sha256);
      // Average and highest rate are both reported.
      assert.match((await incoming.locator('.numbers').textContent()) ?? '', /average · .+ max/);
      await screenshot(alice.page, `rooms-file-sent-${size}`);
      await screenshot(bob.page, `rooms-file-received-${size}`);
      noErrors(alice, bob);
    });
  }

  test('a declined file is reported to the sender and nothing is downloaded', async () => {
    const [alice, bob] = await pair();
    const path = join(rig.work, 'unwanted.txt');
    writeFileSync(path, 'no thanks\n');
    await offer(alice.page, path);
    const incoming = transfer(bob.page, 'receive');
    await incoming.getByRole('button', { name: 'Decline' }).click();
    await saysSoon(incoming.getByRole('status'), 'You declined the file.');
    await saysSoon(transfer(alice.page, 'send').getByRole('status'), 'the receiver declined');
    await chatStillWorks(alice.page, bob.page, 'after the decline');
    noErrors(alice, bob);
  });

  for (const who of ['sender', 'receiver'] as const) {
    test(`the ${who} cancels mid-way: the download fails, both sides say so, the room still works`, async () => {
      const [alice, bob] = await pair();
      const path = join(rig.work, `big-${who}.bin`);
      writeFileSync(path, '');
      truncateSync(path, 1024 * 1024 * 1024);
      await offer(alice.page, path);
      const incoming = transfer(bob.page, 'receive');
      const download = nextDownload(bob.page);
      await incoming.getByRole('button', { name: 'Accept' }).click();
      // Mid-way: some bytes arrived, far from all of them.
      await incoming.locator('.numbers', { hasText: /^[1-9][\d.]* MB of 1\.07 GB/ }).waitFor({ timeout: STEP_MS });
      const canceller = who === 'sender' ? transfer(alice.page, 'send') : incoming;
      await canceller.getByRole('button', { name: 'Cancel' }).click();
      const other = who === 'sender' ? incoming : transfer(alice.page, 'send');
      await saysSoon(canceller.getByRole('status'), 'You cancelled the transfer.');
      await saysSoon(other.getByRole('status'), `the other side cancelled: the ${who} cancelled (USER_CANCELLED)`);
      assert.notEqual(
        await (await download).failure(),
        null,
        'a cancelled transfer must not look like a finished file',
      );
      await screenshot(alice.page, `rooms-file-cancelled-by-${who}`);
      await screenshot(bob.page, `rooms-file-cancelled-by-${who}-other`);
      await chatStillWorks(bob.page, alice.page, `after the ${who} cancelled`);
      noErrors(alice, bob);
    });
  }
});
