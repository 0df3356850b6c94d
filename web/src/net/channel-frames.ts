// The transfer protocol's frames (src/protocol/transfer.ts) over one browser data channel: one frame per message,
// sends paced by SendWindow's watermarks, received frames queued for `receive()`. The peer connection belongs to the
// room and outlives the transfer, so ending or closing a transfer closes only its channel.
import { ProtocolError } from '../../../src/protocol/errors.ts';
import {
  CANCEL_CODES,
  type DataChannelLike,
  decodeFrame,
  encodeDataFrameInto,
  encodeFrame,
  FRAME_HEADER_BYTES,
  type Frame,
  MAX_FRAME_PAYLOAD,
  SendWindow,
} from '../../../src/protocol/transfer.ts';
import { type FrameChannel, TransferError } from '../../../src/protocol/transfer-session.ts';

// Chromium moves most with 4–8 MiB buffered (webrtc-notes.md); frames are at most 64 KiB + 9 bytes.
// Refilled from 2 MiB, as the bare baseline does: SendWindow's default low mark (512 KiB) wakes the sender 6x as often.
const HIGH_WATERMARK = 4 * 1024 * 1024;
const LOW_WATERMARK = 2 * 1024 * 1024;
const LAST_WORD_MS = 5000;
/**
 * A data channel has no receive-side flow control: what arrives while the download is slower waits here. Past this
 * the transfer fails (the disk cannot keep up) rather than letting the page's memory grow without bound.
 */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

type Waiter = { resolve(frame: Frame | undefined): void; reject(error: Error): void };

export class ChannelFrames implements FrameChannel {
  readonly transport = 'p2p' as const;
  private readonly window: SendWindow;
  private readonly queue: Frame[] = [];
  private queuedBytes = 0;
  private readonly waiters: Waiter[] = [];
  private error: Error | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly closedByPeer: Promise<void>;
  private readonly scratch = new Uint8Array(FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD);

  constructor(
    readonly channel: RTCDataChannel,
    /** The receiver sends the last frame (DONE_ACK): it lets the sender close first, so that frame is not lost. */
    private readonly lastToSpeak: boolean,
  ) {
    channel.binaryType = 'arraybuffer';
    // encodeFrame returns plain ArrayBuffer-backed bytes, which send() takes; the DOM types only doubt the buffer kind.
    this.window = new SendWindow(channel as unknown as DataChannelLike, {
      highWaterMark: HIGH_WATERMARK,
      lowWaterMark: LOW_WATERMARK,
    });
    channel.addEventListener('message', ({ data }) => {
      if (this.error) return;
      if (!(data instanceof ArrayBuffer)) {
        this.fail(new ProtocolError('FRAME_TYPE', 'a text message on the transfer channel'));
        return;
      }
      let frame: Frame;
      try {
        frame = decodeFrame(new Uint8Array(data));
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      const waiter = this.waiters.shift();
      if (waiter) return waiter.resolve(frame);
      this.queue.push(frame);
      if (frame.type === 'data') this.queuedBytes += frame.data.length;
      if (this.queuedBytes > MAX_QUEUED_BYTES) {
        this.queue.length = 0;
        // An IO failure: the session tells the sender (CANCEL IO) why it stops.
        const why = `this device saves more slowly than the data arrives (${MAX_QUEUED_BYTES >> 20} MiB waiting)`;
        this.fail(new TransferError('io', CANCEL_CODES.IO, why, false));
      }
    });
    this.closedByPeer = new Promise((resolve) => channel.addEventListener('close', () => resolve()));
    channel.addEventListener('close', () => {
      this.window.close();
      this.fail(new Error('the data channel closed'));
    });
  }

  send(frame: Frame): Promise<void> {
    // A CANCEL must not wait for the buffer to drain (a slow receiver could make that take longer than the session
    // waits): it goes straight in behind the bytes already handed over, which is all a stopped transfer sent.
    if (frame.type === 'cancel' && this.channel.readyState === 'open' && !this.error) {
      this.channel.send(encodeFrame(frame) as Uint8Array<ArrayBuffer>);
      return Promise.resolve();
    }
    // SendWindow takes one waiting send at a time: overlapping calls queue behind each other.
    const next = this.chain.then(() => {
      if (this.error) throw this.error;
      // send() copies the message, so every DATA frame is built in the same scratch buffer.
      return this.window.send(
        frame.type === 'data' ? encodeDataFrameInto(frame.index, frame.data, this.scratch) : encodeFrame(frame),
      );
    });
    this.chain = next.catch(() => {});
    return next;
  }

  receive(): Promise<Frame | undefined> {
    const frame = this.queue.shift();
    if (frame) {
      if (frame.type === 'data') this.queuedBytes -= frame.data.length;
      return Promise.resolve(frame);
    }
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async end(): Promise<void> {
    await this.chain;
    if (this.lastToSpeak) await Promise.race([this.closedByPeer, sleep(LAST_WORD_MS)]);
    else await drained(this.channel);
    this.close();
  }

  close(): void {
    this.window.close();
    this.channel.close();
  }

  private fail(error: Error): void {
    if (this.error) return;
    this.error = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once the channel has handed everything queued to SCTP (bounded: a dead peer must not hang us). */
function drained(channel: RTCDataChannel): Promise<void> {
  if (channel.readyState !== 'open' || channel.bufferedAmount === 0) return Promise.resolve();
  channel.bufferedAmountLowThreshold = 0;
  return Promise.race([
    new Promise<void>((resolve) => channel.addEventListener('bufferedamountlow', () => resolve(), { once: true })),
    sleep(LAST_WORD_MS),
  ]);
}
