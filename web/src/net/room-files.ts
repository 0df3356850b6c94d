// Files to a room member: each transfer runs the same protocol as `ferry send/receive` (offer, accept or decline,
// DATA frames, per-file SHA-256, DONE, CANCEL from either side; src/protocol/transfer-session.ts) on a data channel
// of its own. The sender reads the File in slices as the channel drains; the receiver writes each file into a
// streamed download (net/save.ts), so neither side ever holds a whole file.
import { DataChannelFrames, type P2PChannel } from '../../../src/protocol/channel-frames.ts';
import type { Entry, Offer } from '../../../src/protocol/transfer.ts';
import {
  type Decision,
  type FileSink,
  receiveTransfer,
  sendTransfer,
  type TransferProgress,
  type TransferResult,
} from '../../../src/protocol/transfer-session.ts';
import { offerFor } from '../lib/file-offer.ts';
import type { StreamSaver } from './save.ts';

export const FILES_LABEL = 'ferry-files';
const OPEN_TIMEOUT_MS = 15_000;
// Chromium moves most with 4–8 MiB buffered (webrtc-notes.md); refilled from 2 MiB, as the throughput test does.
const WATERMARKS = { highWaterMark: 4 * 1024 * 1024, lowWaterMark: 2 * 1024 * 1024 };

/** The room's connection outlives the transfer: the frames own only this channel. */
function framesOn(channel: RTCDataChannel, lastToSpeak: boolean): DataChannelFrames {
  // The cast bridges the DOM typing of send(), which takes ArrayBuffer-backed views (frames always are).
  return new DataChannelFrames(channel as unknown as P2PChannel, lastToSpeak, WATERMARKS);
}

export interface FileTransferHooks {
  onProgress(progress: TransferProgress): void;
  signal: AbortSignal;
}

async function* slices(file: File): AsyncIterable<Uint8Array> {
  const reader = file.stream().getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

function opened(channel: RTCDataChannel): Promise<void> {
  if (channel.readyState === 'open') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the transfer channel did not open')), OPEN_TIMEOUT_MS);
    channel.addEventListener('open', () => {
      clearTimeout(timer);
      resolve();
    });
    channel.addEventListener('close', () => {
      clearTimeout(timer);
      reject(new Error('the member closed the transfer channel'));
    });
  });
}

/** Offer `file` to the member at the other end of `pc`; resolves once the member confirmed its SHA-256. */
export async function sendFile(
  pc: RTCPeerConnection,
  file: File,
  hooks: FileTransferHooks & { onAccepted(): void },
): Promise<TransferResult> {
  const channel = pc.createDataChannel(FILES_LABEL, { ordered: true });
  await opened(channel);
  return sendTransfer(framesOn(channel, false), offerFor(file), {
    read: () => slices(file),
    onAccepted: hooks.onAccepted,
    onProgress: hooks.onProgress,
    signal: hooks.signal,
  });
}

/** Where accepted files go: one streamed download per file, opened when its first byte (or its end) arrives. */
export function downloadSink(saver: StreamSaver): FileSink {
  const open = new Map<number, WritableStreamDefaultWriter<Uint8Array>>();
  const writerFor = async (index: number, entry: Entry) => {
    let writer = open.get(index);
    if (!writer) {
      const name = entry.path.split('/').pop() ?? 'file';
      writer = (await saver.open(name, entry.size ?? undefined)).getWriter();
      open.set(index, writer);
    }
    return writer;
  };
  return {
    async write(index, entry, data) {
      // Resolves once the download has taken the bytes: a slow disk holds the channel back, not the page's memory.
      await (await writerFor(index, entry)).write(data);
    },
    async fileDone(index, entry) {
      const writer = await writerFor(index, entry);
      open.delete(index);
      await writer.close();
    },
    async complete() {},
    async abort() {
      // An aborted download is reported by the browser as failed, never as a finished (short) file.
      for (const writer of open.values()) await writer.abort(new Error('the transfer was cancelled')).catch(() => {});
      open.clear();
    },
  };
}

/** Run the receiving side of a transfer the member opened on `channel`. */
export function receiveFiles(
  channel: RTCDataChannel,
  hooks: FileTransferHooks & { decide(offer: Offer): Promise<Decision> },
): Promise<TransferResult> {
  return receiveTransfer(framesOn(channel, true), {
    decide: hooks.decide,
    onProgress: hooks.onProgress,
    signal: hooks.signal,
  });
}
