// Transfer frames (transfer.ts) over one open data channel, for every user of the transfer session over WebRTC: code
// transfers in the CLI (node-datachannel) and the web app, and files sent to a room member. One frame per message,
// sends paced by SendWindow's watermarks, received frames queued for `receive()` up to a bound. Isomorphic.
import { ProtocolError } from './errors.ts';
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
} from './transfer.ts';
import { type FrameChannel, TransferError } from './transfer-session.ts';

/** The part of a data channel (the browser's RTCDataChannel, src/peer/data-channel.ts) the transfer uses. */
export interface P2PChannel extends DataChannelLike {
  readonly label: string;
  readonly readyState: string;
  onopen: ((event: never) => unknown) | null;
  onmessage: ((event: never) => unknown) | null;
  addEventListener(type: 'close', listener: () => void): void;
  close(): void;
}

/** The part of a peer connection a transfer that owns it watches and closes. */
export interface OwnedConnection {
  readonly connectionState: string;
  addEventListener(type: 'connectionstatechange', listener: () => void): void;
  close(): void;
}

export interface ChannelFramesOptions {
  /**
   * The peer connection, when the transfer owns it (a code transfer): its failure fails the transfer and close()
   * closes it. Without one (a room's connection outlives its transfers) close() closes only the channel.
   */
  connection?: OwnedConnection;
  /** SendWindow's watermarks (its defaults otherwise: best node↔node). */
  highWaterMark?: number;
  lowWaterMark?: number;
}

/**
 * A data channel has no receive-side flow control: what arrives while the sink is slower waits here. Past this the
 * transfer fails (the disk cannot keep up) rather than letting memory grow without bound.
 */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** How long the side that sends the last frame waits for the other to hang up, and a drain may take. */
const LAST_WORD_MS = 5000;

type Waiter = { resolve: (frame: Frame | undefined) => void; reject: (error: Error) => void };

export class DataChannelFrames implements FrameChannel {
  readonly transport = 'p2p' as const;
  readonly pc: OwnedConnection | undefined;
  readonly #window: SendWindow;
  #frames: Frame[] = [];
  #queuedBytes = 0;
  #waiters: Waiter[] = [];
  #error: Error | undefined;
  #chain: Promise<void> = Promise.resolve();
  readonly #scratch = new Uint8Array(FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD);
  #closed = false;
  #firstFrame: (() => void) | undefined;
  /** Resolves when the first frame arrives (a code receiver commits to this path then). */
  readonly firstFrame: Promise<void>;
  #closedByPeer: Promise<void>;

  constructor(
    readonly channel: P2PChannel,
    /** The side that sends the last frame (the receiver's DONE_ACK) waits for the other to close first. */
    private readonly lastToSpeak: boolean,
    options: ChannelFramesOptions = {},
  ) {
    this.pc = options.connection;
    this.firstFrame = new Promise((resolve) => {
      this.#firstFrame = resolve;
    });
    // A browser hands out Blobs unless told otherwise; node-datachannel's polyfill has no such property.
    (channel as { binaryType?: string }).binaryType = 'arraybuffer';
    this.#window = new SendWindow(channel, {
      highWaterMark: options.highWaterMark,
      lowWaterMark: options.lowWaterMark,
    });
    channel.onmessage = ({ data }: { data: ArrayBuffer | string }) => this.#receive(data);
    this.#closedByPeer = new Promise((resolve) => {
      channel.addEventListener('close', () => resolve());
    });
    channel.addEventListener('close', () => {
      this.#window.close();
      this.#fail(new Error('the data channel closed'));
    });
    this.pc?.addEventListener('connectionstatechange', () => {
      const state = this.pc?.connectionState;
      if (state === 'failed' || state === 'disconnected') this.#fail(new Error(`the peer connection ${state}`));
    });
  }

  send(frame: Frame): Promise<void> {
    // A CANCEL must not wait for the buffer to drain (a slow receiver could make that take longer than the session
    // waits): it goes straight in behind the bytes already handed over, which is all a stopped transfer sent.
    if (frame.type === 'cancel' && this.channel.readyState === 'open' && !this.#error) {
      this.channel.send(encodeFrame(frame));
      return Promise.resolve();
    }
    // SendWindow allows one waiting send at a time: queue ours behind each other.
    const next = this.#chain.then(() => {
      if (this.#error) throw this.#error;
      // The channel copies a message when it is sent, so every DATA frame is built in the same scratch buffer.
      const bytes =
        frame.type === 'data' ? encodeDataFrameInto(frame.index, frame.data, this.#scratch) : encodeFrame(frame);
      return this.#window.send(bytes);
    });
    this.#chain = next.catch(() => {});
    return next;
  }

  receive(): Promise<Frame | undefined> {
    const frame = this.#frames.shift();
    if (frame) {
      if (frame.type === 'data') this.#queuedBytes -= frame.data.length;
      return Promise.resolve(frame);
    }
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async end(): Promise<void> {
    await this.#chain;
    await drained(this.channel, 2 * LAST_WORD_MS);
    // The last frame must arrive before anyone closes: the side that sent it waits for the other to hang up.
    if (this.lastToSpeak) {
      await Promise.race([this.#closedByPeer, new Promise<void>((resolve) => sleep(LAST_WORD_MS, resolve))]);
    }
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#window.close();
    if (this.pc) this.pc.close();
    else this.channel.close();
  }

  #receive(data: ArrayBuffer | string): void {
    if (this.#error) return;
    if (typeof data === 'string') return this.#fail(new ProtocolError('FRAME_TYPE', 'a text message on the channel'));
    let frame: Frame;
    try {
      frame = decodeFrame(new Uint8Array(data));
    } catch (error) {
      return this.#fail(error as Error);
    }
    this.#firstFrame?.();
    const waiter = this.#waiters.shift();
    if (waiter) return waiter.resolve(frame);
    this.#frames.push(frame);
    if (frame.type === 'data') this.#queuedBytes += frame.data.length;
    if (this.#queuedBytes > MAX_QUEUED_BYTES) {
      this.#frames.length = 0;
      // An IO failure: the session tells the sender (CANCEL IO) why it stops.
      const why = `this device saves more slowly than the data arrives (${MAX_QUEUED_BYTES >> 20} MiB waiting)`;
      this.#fail(new TransferError('io', CANCEL_CODES.IO, why, false));
    }
  }

  #fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}

/** A timer that does not keep a Node process alive (browsers have no such notion). */
function sleep(ms: number, then: () => void): ReturnType<typeof setTimeout> {
  const timer = setTimeout(then, ms);
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/** Resolves once everything queued on the channel has been handed to SCTP (bounded: a dead peer must not hang us). */
function drained(channel: P2PChannel, timeoutMs: number): Promise<void> {
  if (channel.readyState !== 'open' || channel.bufferedAmount === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = sleep(timeoutMs, resolve);
    channel.bufferedAmountLowThreshold = 0;
    channel.onbufferedamountlow = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}
