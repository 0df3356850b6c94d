// The rooms screen's call card (a room opened with `/#call=NAME`, two people at most): this side's camera and
// microphone and the other side's video, with mute, camera off, screen share and hang up. The other side learns
// of mute, camera off and sharing over the chat channel (RoomPeer.sendMedia), and shows it under the video.
import { h } from '../lib/dom.ts';
import type { MediaState, RoomPeer } from '../net/room-peer.ts';

export interface CallCard {
  element: HTMLElement;
  /** The camera and microphone every member connection sends. */
  readonly stream: MediaStream;
  /** A new member connection: tell it what this side sends once it can hear, and send it the screen if shared. */
  attach(peer: RoomPeer): void;
  remoteStream(from: string, stream: MediaStream): void;
  remoteMedia(from: string, state: MediaState): void;
  /** The member left or hung up. */
  remoteGone(from: string): void;
  /** Stop the camera, the microphone and any screen share. */
  close(): void;
}

/** Open the camera and microphone; throws with a sentence for the status line when the browser refuses. */
export async function openCamera(): Promise<MediaStream> {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  } catch (err) {
    throw new Error(`the camera and microphone could not be opened (${(err as Error).message})`);
  }
}

export function createCallCard(
  stream: MediaStream,
  peers: () => Iterable<RoomPeer>,
  hangUp: () => void,
  say: (text: string, tone?: 'done' | 'failed') => void,
): CallCard {
  const state: MediaState = { audio: true, video: true, screen: false };
  const camera = stream.getVideoTracks()[0];
  let screenTrack: MediaStreamTrack | undefined;
  let remoteId: string | undefined;

  const local = h('video', { class: 'local', autoplay: true, muted: true, playsinline: true, 'aria-label': 'You' });
  local.muted = true;
  local.srcObject = stream;
  const remote = h('video', { class: 'remote', autoplay: true, playsinline: true, 'aria-label': 'The other side' });
  const remoteNote = h(
    'p',
    { class: 'remote-note', role: 'status', 'aria-live': 'polite' },
    'Waiting for the other side…',
  );
  const muteButton = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Mute');
  const cameraButton = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Camera off');
  const shareButton = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Share screen');
  const hangButton = h('button', { type: 'button', class: 'danger' }, 'Hang up');
  const element = h(
    'section',
    { class: 'card wide call', 'aria-labelledby': 'call-h' },
    h('h2', { id: 'call-h' }, 'Video call'),
    h('div', { class: 'videos' }, h('div', { class: 'remote-box' }, remote, remoteNote, local)),
    h('div', { class: 'actions' }, muteButton, cameraButton, shareButton, hangButton),
  );

  function tell(): void {
    muteButton.textContent = state.audio ? 'Mute' : 'Unmute';
    muteButton.setAttribute('aria-pressed', String(!state.audio));
    cameraButton.textContent = state.video ? 'Camera off' : 'Camera on';
    cameraButton.setAttribute('aria-pressed', String(!state.video));
    shareButton.textContent = state.screen ? 'Stop sharing' : 'Share screen';
    shareButton.setAttribute('aria-pressed', String(state.screen));
    for (const peer of peers()) peer.sendMedia(state);
  }

  async function useVideo(track: MediaStreamTrack | undefined): Promise<void> {
    if (!track) return;
    for (const peer of peers()) await peer.replaceVideo(track);
    local.srcObject = new MediaStream([track]);
  }

  async function stopSharing(): Promise<void> {
    screenTrack?.stop();
    screenTrack = undefined;
    state.screen = false;
    await useVideo(camera);
    tell();
  }

  muteButton.addEventListener('click', () => {
    state.audio = !state.audio;
    for (const track of stream.getAudioTracks()) track.enabled = state.audio;
    tell();
  });
  cameraButton.addEventListener('click', () => {
    state.video = !state.video;
    if (camera) camera.enabled = state.video;
    tell();
  });
  shareButton.addEventListener('click', async () => {
    if (state.screen) return stopSharing();
    try {
      const display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      screenTrack = display.getVideoTracks()[0];
      if (!screenTrack) throw new Error('no video in the shared screen');
      // The browser's own "Stop sharing" ends the track: go back to the camera then.
      screenTrack.addEventListener('ended', () => void stopSharing());
      state.screen = true;
      await useVideo(screenTrack);
      tell();
      say('You are sharing your screen.', 'done');
    } catch (err) {
      say(`Screen sharing did not start: ${(err as Error).message}.`, 'failed');
    }
  });
  hangButton.addEventListener('click', hangUp);

  function describe(from: string, media: MediaState): string {
    const parts = [media.audio ? '' : 'microphone muted', media.video ? '' : 'camera off'];
    if (media.screen) parts.push('sharing their screen');
    const said = parts.filter(Boolean).join(', ');
    return said ? `${from}: ${said}` : `${from}: camera and microphone on`;
  }

  return {
    element,
    stream,
    attach(peer) {
      peer.chat.addEventListener('open', () => peer.sendMedia(state), { once: true });
      if (screenTrack) void peer.replaceVideo(screenTrack);
    },
    remoteStream(from, media) {
      remoteId = from;
      remote.srcObject = media;
      remote.dataset.peer = from;
      if (remoteNote.textContent?.startsWith('Waiting')) remoteNote.textContent = `${from} is on the call.`;
    },
    remoteMedia(from, media) {
      remote.dataset.audio = String(media.audio);
      remote.dataset.video = String(media.video);
      remoteNote.textContent = describe(from, media);
    },
    remoteGone(from) {
      if (from !== remoteId) return;
      remoteId = undefined;
      remote.srcObject = null;
      delete remote.dataset.peer;
      remoteNote.textContent = `${from} left the call.`;
    },
    close() {
      screenTrack?.stop();
      for (const track of stream.getTracks()) track.stop();
      local.srcObject = null;
      remote.srcObject = null;
    },
  };
}
