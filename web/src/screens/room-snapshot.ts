// The rooms screen's snapshot card: take one frame from the camera (the call's, or the camera opened just for the
// picture), send it to the chosen member, and show the pictures members sent with their size.
import { h } from '../lib/dom.ts';
import { formatBytes } from '../lib/format.ts';
import type { RoomPeer } from '../net/room-peer.ts';
import { captureFrame, receiveSnapshot, sendSnapshot } from '../net/snapshot.ts';

export interface SnapshotCard {
  element: HTMLElement;
  setEnabled(enabled: boolean): void;
  incoming(from: string, channel: RTCDataChannel): void;
  close(): void;
}

export function createSnapshotCard(target: () => RoomPeer | undefined, camera: () => MediaStream | undefined) {
  const button = h('button', { type: 'button', class: 'primary', disabled: true }, 'Take and send a snapshot');
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const gallery = h('div', { class: 'snapshots' });
  const urls: string[] = [];
  const element = h(
    'section',
    { class: 'card', 'aria-labelledby': 'snap-h' },
    h('h2', { id: 'snap-h' }, 'Snapshot'),
    h('p', { class: 'hint' }, 'Takes one picture with your camera and sends it to the chosen member.'),
    h('div', { class: 'actions' }, button),
    status,
    gallery,
  );

  function tell(text: string, tone: 'done' | 'failed' | '' = ''): void {
    status.textContent = text;
    status.dataset.tone = tone;
  }

  function show(blob: Blob, caption: string, from: string): void {
    const url = URL.createObjectURL(blob);
    urls.push(url);
    gallery.prepend(
      h(
        'figure',
        { class: 'snapshot', 'data-from': from },
        h('img', { src: url, alt: caption }),
        h('figcaption', {}, caption),
      ),
    );
  }

  button.addEventListener('click', async () => {
    const peer = target();
    if (!peer) return tell('Pick a connected member first.', 'failed');
    button.disabled = true;
    const shared = camera();
    let own: MediaStream | undefined;
    try {
      tell('Taking a picture…');
      own = shared ? undefined : await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
      const snap = await captureFrame((shared ?? own) as MediaStream);
      tell(`Sending a ${snap.width}×${snap.height} picture (${formatBytes(snap.blob.size)}) to ${peer.remoteId}…`);
      await sendSnapshot(peer.pc, snap);
      show(snap.blob, `Sent to ${peer.remoteId}, ${snap.width}×${snap.height}`, '');
      tell(`Sent a ${snap.width}×${snap.height} snapshot to ${peer.remoteId}.`, 'done');
    } catch (err) {
      tell(`The snapshot failed: ${(err as Error).message}.`, 'failed');
    } finally {
      for (const track of own?.getTracks() ?? []) track.stop();
      button.disabled = false;
    }
  });

  return {
    element,
    setEnabled(enabled: boolean) {
      button.disabled = !enabled;
    },
    incoming(from: string, channel: RTCDataChannel) {
      receiveSnapshot(channel).then(
        (snap) => {
          show(snap.blob, `From ${from}, ${snap.width}×${snap.height}`, from);
          tell(`${from} sent a ${snap.width}×${snap.height} snapshot.`, 'done');
        },
        (err: Error) => tell(`A snapshot from ${from} failed: ${err.message}.`, 'failed'),
      );
    },
    close() {
      for (const url of urls.splice(0)) URL.revokeObjectURL(url);
    },
  } satisfies SnapshotCard;
}
