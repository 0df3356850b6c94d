// The direct path of a code transfer in the browser: one RTCDataChannel "ferry" (ordered, reliable), negotiated
// through the rendezvous with SDP whose DTLS fingerprints carry the session key's tag (docs/transfer-protocol.md
// §3.2–3.3), exactly as the CLI's src/peer/code-p2p.ts does over node-datachannel. The sender offers and decides:
// the channel if it opens within the timeout, else `{"t":"transport","use":"relay"}`.
import { ProtocolError } from '../../../src/protocol/errors.ts';
import type { SessionKeys } from '../../../src/protocol/keys.ts';
import type { Rendezvous } from '../../../src/protocol/rendezvous.ts';
import {
  checkSdpMessage,
  errorMessage,
  peerError,
  type SessionMessage,
  type SessionMessageOf,
  sdpMessage,
} from '../../../src/protocol/session.ts';
import { decodeFrame, encodeFrame, type Frame, SendWindow } from '../../../src/protocol/transfer.ts';
import type { FrameChannel } from '../../../src/protocol/transfer-session.ts';

export const CHANNEL_LABEL = 'ferry';

// Chromium endpoints move more with a deeper send buffer (webrtc-notes.md: 4–8 MiB); the wire format is the same.
const HIGH_WATER_MARK = 4 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;
const LINGER_MS = 5000;

export interface P2POptions {
  keys: SessionKeys;
  rendezvous: Rendezvous;
  iceServers: RTCIceServer[];
  /** The sender gives up on a direct channel after this long. */
  timeoutMs: number;
  /** Connection states, for the screen's details. */
  report?: (message: string) => void;
}

/** Frames over an open data channel: one frame per message, sends paced by SendWindow's watermarks. */
export class DataChannelFrames implements FrameChannel {
  readonly transport = 'p2p' as const;
  readonly #window: SendWindow;
  #frames: Frame[] = [];
  #waiters: Array<{ resolve: (f: Frame | undefined) => void; reject: (e: Error) => void }> = [];
  #error: Error | undefined;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  #firstFrame: (() => void) | undefined;
  /** Resolves when the first frame arrives (the receiver commits to this path then). */
  readonly firstFrame: Promise<void>;
  readonly #closedByPeer: Promise<void>;

  constructor(
    readonly pc: RTCPeerConnection,
    readonly channel: RTCDataChannel,
    /** The side that sends the last frame (the receiver's DONE_ACK) waits for the other to close first. */
    private readonly lastToSpeak: boolean,
  ) {
    this.firstFrame = new Promise((resolve) => {
      this.#firstFrame = resolve;
    });
    channel.binaryType = 'arraybuffer';
    this.#window = new SendWindow(channel as unknown as ConstructorParameters<typeof SendWindow>[0], {
      highWaterMark: HIGH_WATER_MARK,
    });
    channel.addEventListener('message', ({ data }: MessageEvent<ArrayBuffer | string>) => {
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
      if (waiter) waiter.resolve(frame);
      else this.#frames.push(frame);
    });
    this.#closedByPeer = new Promise((resolve) => channel.addEventListener('close', () => resolve()));
    channel.addEventListener('close', () => {
      this.#window.close();
      this.#fail(new Error('the data channel closed'));
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected') {
        this.#fail(new Error(`the peer connection ${pc.connectionState}`));
      }
    });
  }

  send(frame: Frame): Promise<void> {
    // SendWindow allows one waiting send at a time: queue ours behind each other.
    const next = this.#chain.then(() => {
      if (this.#error) throw this.#error;
      return this.#window.send(encodeFrame(frame));
    });
    this.#chain = next.catch(() => {});
    return next;
  }

  receive(): Promise<Frame | undefined> {
    const frame = this.#frames.shift();
    if (frame) return Promise.resolve(frame);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async end(): Promise<void> {
    await this.#chain;
    await drained(this.channel);
    // The last frame must arrive before anyone closes: the side that sent it waits for the other to hang up.
    if (this.lastToSpeak) await Promise.race([this.#closedByPeer, sleep(LINGER_MS)]);
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#window.close();
    this.pc.close();
  }

  #fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once everything queued on the channel has been handed to SCTP (bounded). */
function drained(channel: RTCDataChannel): Promise<void> {
  if (channel.readyState !== 'open' || channel.bufferedAmount === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, DRAIN_TIMEOUT_MS);
    channel.bufferedAmountLowThreshold = 0;
    channel.onbufferedamountlow = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

function candidateMessage(attempt: number, candidate: RTCIceCandidate): SessionMessage {
  return {
    t: 'candidate',
    n: attempt,
    candidate: candidate.candidate,
    sdpMid: candidate.sdpMid,
    sdpMLineIndex: candidate.sdpMLineIndex,
  };
}

function safeSend(rendezvous: Rendezvous, message: SessionMessage): void {
  try {
    rendezvous.send(message);
  } catch {
    // The hub is gone: the rendezvous reports that through its listener.
  }
}

type Outcome = { channel: DataChannelFrames } | { failed: string };

/** Sender: offer a data channel, up to three negotiations within the timeout. Resolves with it or `failed`. */
export async function dialP2P(options: P2POptions): Promise<DataChannelFrames | { failed: string }> {
  const deadline = Date.now() + options.timeoutMs;
  let reason = `no direct connection within ${options.timeoutMs / 1000} s`;
  for (let attempt = 1; attempt <= 3 && Date.now() < deadline; attempt++) {
    const outcome = await negotiate(options, attempt, deadline);
    if ('channel' in outcome) return outcome.channel;
    reason = outcome.failed;
    options.report?.(`direct connection attempt ${attempt} failed: ${reason}`);
  }
  return { failed: reason };
}

function negotiate(options: P2POptions, attempt: number, deadline: number): Promise<Outcome> {
  const { keys, rendezvous } = options;
  return new Promise<Outcome>((resolve, reject) => {
    const pc = new RTCPeerConnection({ iceServers: options.iceServers });
    let settled = false;
    const finish = (outcome: Outcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop();
      if ('channel' in outcome) return resolve(outcome);
      pc.close();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ failed: `no direct connection within ${options.timeoutMs / 1000} s` }),
      Math.max(0, deadline - Date.now()),
    );
    const channel = pc.createDataChannel(CHANNEL_LABEL);
    channel.addEventListener('open', () => finish({ channel: new DataChannelFrames(pc, channel, false) }));
    pc.addEventListener('connectionstatechange', () => {
      options.report?.(`connection ${pc.connectionState}`);
      if (pc.connectionState === 'failed') finish({ failed: 'the direct connection failed' });
    });
    // Held until the answer is applied, as the CLI does: a peer on libdatachannel fails its DTLS handshake when our
    // candidates let its ClientHello reach us before its answer has (docs/transfer-protocol.md §3.2).
    let described = false;
    const held: SessionMessage[] = [];
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (!candidate?.candidate) return;
      const message = candidateMessage(attempt, candidate);
      if (described) safeSend(rendezvous, message);
      else held.push(message);
    });
    const onMessage = async (message: SessionMessage) => {
      if (message.t === 'error') throw peerError(message);
      if (message.t === 'sdp' && message.n === attempt && message.type === 'answer') {
        checkSdpMessage(keys, 'receiver', message);
        await pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        described = true;
        for (const early of held.splice(0)) safeSend(rendezvous, early);
      } else if (message.t === 'candidate' && message.n === attempt) {
        await pc.addIceCandidate(message);
      }
    };
    const stop = rendezvous.listen({
      message: (message) => {
        void onMessage(message).catch((error: Error) => {
          if (error instanceof ProtocolError) {
            safeSend(rendezvous, errorMessage(error));
            finish(error);
          } else finish({ failed: error.message });
        });
      },
      fail: (error) => finish(error),
    });
    void (async () => {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (settled) return;
      safeSend(rendezvous, sdpMessage(keys, 'sender', attempt, { type: 'offer', sdp: offer.sdp ?? '' }));
    })().catch((error: Error) => finish({ failed: error.message }));
  });
}

/**
 * Receiver: answer the sender's offers (a later attempt replaces an earlier one) until the sender either speaks on a
 * channel (→ that channel) or says `transport: relay`. No timeout: the sender decides.
 */
export function answerP2P(options: Omit<P2POptions, 'timeoutMs'>): Promise<DataChannelFrames | { relay: true }> {
  const { keys, rendezvous } = options;
  return new Promise((resolve, reject) => {
    let current: { attempt: number; pc: RTCPeerConnection } | undefined;
    let settled = false;
    const finish = (outcome: DataChannelFrames | { relay: true } | Error) => {
      if (settled) return;
      settled = true;
      stop();
      if (outcome instanceof DataChannelFrames) return resolve(outcome);
      current?.pc.close();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const answer = async (message: SessionMessageOf<'sdp'>) => {
      if (message.type !== 'offer' || (current && message.n <= current.attempt)) return;
      // Checked before anything of it is applied (docs/transfer-protocol.md §3.3).
      checkSdpMessage(keys, 'sender', message);
      current?.pc.close();
      const attempt = message.n;
      const pc = new RTCPeerConnection({ iceServers: options.iceServers });
      current = { attempt, pc };
      pc.addEventListener('connectionstatechange', () => options.report?.(`connection ${pc.connectionState}`));
      pc.addEventListener('datachannel', ({ channel }) => {
        if (channel.label !== CHANNEL_LABEL || current?.pc !== pc) return;
        const frames = new DataChannelFrames(pc, channel, true);
        // The sender speaks first on the channel it chose; until then the relay may still win.
        void frames.firstFrame.then(() => {
          if (current?.pc === pc) finish(frames);
        });
      });
      let described = false;
      const early: SessionMessage[] = [];
      pc.addEventListener('icecandidate', ({ candidate }) => {
        if (!candidate?.candidate || current?.pc !== pc) return;
        const out = candidateMessage(attempt, candidate);
        if (described) safeSend(rendezvous, out);
        else early.push(out);
      });
      await pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
      const description = await pc.createAnswer();
      await pc.setLocalDescription(description);
      if (current?.pc !== pc) return;
      safeSend(rendezvous, sdpMessage(keys, 'receiver', attempt, { type: 'answer', sdp: description.sdp ?? '' }));
      described = true;
      for (const out of early.splice(0)) safeSend(rendezvous, out);
    };
    const onMessage = async (message: SessionMessage) => {
      if (message.t === 'error') throw peerError(message);
      if (message.t === 'transport') return finish({ relay: true });
      if (message.t === 'sdp') return answer(message);
      if (message.t === 'candidate' && current && message.n === current.attempt) {
        await current.pc.addIceCandidate(message).catch(() => {});
      }
    };
    const stop = rendezvous.listen({
      message: (message) => {
        void onMessage(message).catch((error: Error) => {
          if (error instanceof ProtocolError) {
            safeSend(rendezvous, errorMessage(error));
            finish(error);
          }
          // Anything else is a failed negotiation attempt: the sender will try again or choose the relay.
        });
      },
      fail: (error) => finish(error),
    });
  });
}
