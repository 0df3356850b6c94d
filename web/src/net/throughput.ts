// The throughput test: N bytes of zeros pushed over a fresh data channel, with send-buffer watermarks, and the time
// both ends took. The channel's label carries the size, so the receiver knows its goal even on an unordered channel
// where no header could be trusted to arrive first; the receiver answers "done <ms>" once it has every byte.

// Chromium moves most with 256 KiB messages (its largest) and 4–8 MiB buffered (measured, webrtc-notes.md).
export const CHUNK_BYTES = 256 * 1024;
export const HIGH_WATERMARK = 8 * 1024 * 1024;
export const LOW_WATERMARK = 4 * 1024 * 1024;
const LABEL = /^throughput:(\d{1,13})$/;

export interface ThroughputResult {
  bytes: number;
  /** This side's time, first byte to last (receiver) or first send to the receiver's "done" (sender). */
  ms: number;
  /** The other side's time, when it told us. */
  remoteMs?: number;
}

export type Progress = (bytes: number) => void;

/** The size a channel label announces, if it is a throughput channel. */
export function throughputBytes(label: string): number | undefined {
  const match = LABEL.exec(label);
  return match ? Number(match[1]) : undefined;
}

export async function sendThroughput(
  pc: RTCPeerConnection,
  bytes: number,
  ordered: boolean,
  onProgress: Progress,
): Promise<ThroughputResult> {
  const channel = pc.createDataChannel(`throughput:${bytes}`, { ordered });
  channel.binaryType = 'arraybuffer';
  channel.bufferedAmountLowThreshold = LOW_WATERMARK;
  const failed = new Promise<never>((_, reject) => {
    channel.addEventListener('close', () => reject(new Error('the channel closed before the test finished')));
  });
  failed.catch(() => {});
  const done = new Promise<number>((resolve) => {
    channel.addEventListener('message', (event) => {
      const match = typeof event.data === 'string' ? /^done (\d+)$/.exec(event.data) : null;
      if (match) resolve(Number(match[1]));
    });
  });
  await Promise.race([new Promise((resolve) => channel.addEventListener('open', resolve, { once: true })), failed]);
  const chunk = new Uint8Array(CHUNK_BYTES);
  const start = performance.now();
  let sent = 0;
  try {
    while (sent < bytes) {
      if (channel.bufferedAmount > HIGH_WATERMARK) {
        await Promise.race([
          new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true })),
          failed,
        ]);
      }
      const size = Math.min(CHUNK_BYTES, bytes - sent);
      channel.send(size === CHUNK_BYTES ? chunk : chunk.subarray(0, size));
      sent += size;
      onProgress(sent - channel.bufferedAmount);
    }
    const remoteMs = await Promise.race([done, failed]);
    onProgress(bytes);
    return { bytes, ms: performance.now() - start, remoteMs };
  } finally {
    channel.close();
  }
}

/** Count what arrives on a throughput channel until every announced byte is there; then say so to the sender. */
export function receiveThroughput(channel: RTCDataChannel, onProgress: Progress): Promise<ThroughputResult> {
  const bytes = throughputBytes(channel.label) ?? 0;
  channel.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    let received = 0;
    let start = 0;
    channel.addEventListener('message', (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      if (received === 0) start = performance.now();
      received += event.data.byteLength;
      onProgress(received);
      if (received >= bytes) {
        const ms = performance.now() - start;
        channel.send(`done ${Math.round(ms)}`);
        resolve({ bytes: received, ms });
      }
    });
    channel.addEventListener('close', () => {
      if (received < bytes) reject(new Error(`the channel closed after ${received} of ${bytes} bytes`));
    });
  });
}
