// Snapshots: one frame of the camera as a JPEG, sent to a member over a data channel of its own in 64 KiB pieces
// (under every browser's message limit), and put back together on the other side. The channel's label announces
// the picture's size and byte count, so the receiver knows when it has all of it and can refuse a huge one.

const LABEL = /^snapshot:(\d{1,5})x(\d{1,5}):(\d{1,9})$/;
const CHUNK_BYTES = 64 * 1024;
const HIGH_WATERMARK = 1024 * 1024;
/** Larger than any JPEG of a camera frame; a member announcing more is refused. */
export const MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 15_000;

export interface Snapshot {
  blob: Blob;
  width: number;
  height: number;
}

export function isSnapshotLabel(label: string): boolean {
  return LABEL.test(label);
}

/** The current frame of the stream's video track, as a JPEG of the track's own size. */
export async function captureFrame(stream: MediaStream): Promise<Snapshot> {
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  try {
    await video.play();
    // The first frame may not be decoded when play() resolves.
    if (video.videoWidth === 0)
      await new Promise((resolve) => video.addEventListener('resize', resolve, { once: true }));
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d')?.drawImage(video, 0, 0);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
    if (!blob) throw new Error('the browser could not encode the frame');
    return { blob, width: canvas.width, height: canvas.height };
  } finally {
    video.srcObject = null;
  }
}

function whenOpen(channel: RTCDataChannel): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the snapshot channel did not open')), TIMEOUT_MS);
    channel.addEventListener('open', () => {
      clearTimeout(timer);
      resolve();
    });
    channel.addEventListener('close', () => {
      clearTimeout(timer);
      reject(new Error('the member closed the snapshot channel'));
    });
  });
}

/** Send a snapshot; resolves once the member says it has every byte. */
export async function sendSnapshot(pc: RTCPeerConnection, snap: Snapshot): Promise<void> {
  const channel = pc.createDataChannel(`snapshot:${snap.width}x${snap.height}:${snap.blob.size}`, { ordered: true });
  channel.bufferedAmountLowThreshold = HIGH_WATERMARK / 2;
  try {
    const received = new Promise<void>((resolve, reject) => {
      channel.addEventListener('message', (event) => (event.data === 'ok' ? resolve() : reject(new Error(event.data))));
      channel.addEventListener('close', () => reject(new Error('the member closed the snapshot channel')));
    });
    received.catch(() => {});
    await whenOpen(channel);
    const bytes = new Uint8Array(await snap.blob.arrayBuffer());
    for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
      if (channel.bufferedAmount > HIGH_WATERMARK)
        await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
      channel.send(bytes.subarray(at, at + CHUNK_BYTES));
    }
    await received;
  } finally {
    channel.close();
  }
}

/** Gather a snapshot a member is sending on `channel`. */
export function receiveSnapshot(channel: RTCDataChannel): Promise<Snapshot> {
  const match = LABEL.exec(channel.label);
  const [width, height, size] = match ? [Number(match[1]), Number(match[2]), Number(match[3])] : [0, 0, 0];
  channel.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    if (size === 0 || size > MAX_SNAPSHOT_BYTES || width === 0 || height === 0) {
      channel.close();
      reject(new Error(`refused a snapshot of ${size} bytes, ${width}×${height}`));
      return;
    }
    const parts: ArrayBuffer[] = [];
    let received = 0;
    channel.addEventListener('message', (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      parts.push(event.data);
      received += event.data.byteLength;
      if (received > size) {
        channel.send('more bytes than announced');
        channel.close();
        reject(new Error('the member sent more bytes than it announced'));
      } else if (received === size) {
        channel.send('ok');
        resolve({ blob: new Blob(parts, { type: 'image/jpeg' }), width, height });
      }
    });
    channel.addEventListener('close', () => {
      if (received < size) reject(new Error(`the snapshot stopped after ${received} of ${size} bytes`));
    });
  });
}
