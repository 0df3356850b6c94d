// Video calls (`/#call=NAME`) in real Chromium with its fake camera and microphone, WebRTC on loopback only: each
// page receives the other's live video (frames keep coming) and microphone track, mute and camera off show on the
// other side, screen sharing swaps the picture, a third caller is refused with "room full", hanging up is seen by the
// other side.
// Screenshots at phone and desktop sizes go to test-results/screenshots/.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { DESKTOP, PHONE, screenshot } from '../helpers/browser.ts';
import { until } from '../helpers/relay.ts';
import {
  card,
  connected,
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

/** The part of an HTMLVideoElement the checks use (the tests compile without the DOM types). */
interface VideoLike {
  videoWidth: number;
  videoHeight: number;
  requestVideoFrameCallback(callback: () => void): number;
}

/** Frames the remote video presents over `ms`, counted with requestVideoFrameCallback, and its size. */
function remoteFrames(page: Page, ms = 1500): Promise<{ frames: number; width: number; height: number }> {
  return page.locator('video.remote').evaluate(async (element, span) => {
    const video = element as unknown as VideoLike;
    let frames = 0;
    const count = () => {
      frames += 1;
      video.requestVideoFrameCallback(count);
    };
    video.requestVideoFrameCallback(count);
    await new Promise((resolve) => setTimeout(resolve, span));
    return { frames, width: video.videoWidth, height: video.videoHeight };
  }, ms);
}

function roomStatus(page: Page) {
  return card(page, 'Room').getByRole('status');
}

function remoteNote(page: Page) {
  return card(page, 'Video call').locator('.remote-note');
}

describe('web app: video calls in Chromium', { timeout: 120_000 }, () => {
  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    test(`two callers see each other live; mute, camera off, screen share and hang-up reach the other side (${size})`, async () => {
      const name = uniqueRoom('call');
      const alice = await rig.app(roomLink(name, 'call'), viewport);
      const bob = await rig.app(roomLink(name, 'call'), viewport);
      await Promise.all([connected(alice.page), connected(bob.page)]);
      for (const page of [alice.page, bob.page]) {
        await page.locator('video.remote[data-peer]').waitFor({ timeout: STEP_MS });
        // Polled, not page.waitForFunction: under the app's CSP its eval is refused now and then
        // (microsoft/playwright#36982).
        const playing = () => page.evaluate("document.querySelector('video.remote').videoWidth > 0");
        await until(async () => Boolean(await playing()), 'the remote video to play', STEP_MS, 100);
        const live = await remoteFrames(page);
        assert.ok(live.frames >= 5, `the remote video advances (${live.frames} frames in 1.5 s)`);
        assert.ok(live.width > 0 && live.height > 0);
        const tracks = await page.locator('video.remote').evaluate((element) => {
          const stream = (element as unknown as { srcObject: { getTracks(): { kind: string; readyState: string }[] } })
            .srcObject;
          return stream.getTracks().map((t) => `${t.kind} ${t.readyState}`);
        });
        assert.deepEqual(tracks.sort(), ['audio live', 'video live'], 'the microphone comes with the camera');
      }
      await saysSoon(remoteNote(bob.page), 'camera and microphone on');
      await screenshot(alice.page, `call-${size}`);

      // A third caller is refused.
      const carol = await rig.app(roomLink(name, 'call'), viewport);
      const refused = await saysSoon(roomStatus(carol.page), 'room full');
      assert.match(refused, /^Could not join the call “.+”: room full\./);
      await screenshot(carol.page, `call-full-${size}`);

      const controls = card(alice.page, 'Video call');
      await controls.getByRole('button', { name: 'Mute' }).click();
      await saysSoon(remoteNote(bob.page), 'microphone muted');
      await controls.getByRole('button', { name: 'Camera off' }).click();
      await saysSoon(remoteNote(bob.page), 'microphone muted, camera off');
      await controls.getByRole('button', { name: 'Unmute' }).click();
      await controls.getByRole('button', { name: 'Camera on' }).click();
      await saysSoon(remoteNote(bob.page), 'camera and microphone on');

      await controls.getByRole('button', { name: 'Share screen' }).click();
      await saysSoon(roomStatus(alice.page), /sharing your screen|Screen sharing did not start/);
      const shareStatus = (await roomStatus(alice.page).textContent()) ?? '';
      if (shareStatus.includes('sharing your screen')) {
        await saysSoon(remoteNote(bob.page), 'sharing their screen');
        const live = await remoteFrames(bob.page);
        assert.ok(live.frames >= 1, 'the shared screen arrives');
        await screenshot(bob.page, `call-screen-share-${size}`);
        await controls.getByRole('button', { name: 'Stop sharing' }).click();
        await saysSoon(remoteNote(bob.page), 'camera and microphone on');
      } else {
        assert.fail(`screen sharing did not start in headless Chromium: ${shareStatus}`);
      }

      await controls.getByRole('button', { name: 'Hang up' }).click();
      await saysSoon(roomStatus(alice.page), 'You hung up.');
      await saysSoon(roomStatus(bob.page), /hung up\./);
      await saysSoon(remoteNote(bob.page), 'left the call');
      await screenshot(bob.page, `call-hung-up-${size}`);
      noErrors(alice, bob, carol);
      for (const a of [alice, bob, carol]) await a.context.close();
    });
  }
});
