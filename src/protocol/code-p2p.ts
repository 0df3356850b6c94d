// The direct path of a code transfer: one WebRTC data channel ("ferry", ordered and reliable, RFC 8831 §6.6),
// negotiated through the rendezvous with SDP whose DTLS fingerprints are authenticated by the session key
// (docs/transfer-protocol.md §3.3): a hub that swaps an SDP is caught before the description is applied, so DTLS
// (RFC 8827 §6.5) can then only complete with the peer that holds the code. The sender offers and decides: it uses the
// channel if it opens within the timeout, otherwise it tells the receiver `{"t":"transport","use":"relay"}`.
// Isomorphic: the CLI passes node-datachannel's PeerConnection (src/peer/), the web app the browser's.
import { DataChannelFrames, type P2PChannel } from './channel-frames.ts';
import { ProtocolError } from './errors.ts';
import type { SessionKeys } from './keys.ts';
import type { Rendezvous } from './rendezvous.ts';
import {
  checkSdpMessage,
  errorMessage,
  peerError,
  type SessionMessage,
  type SessionMessageOf,
  sdpMessage,
} from './session.ts';

export const CHANNEL_LABEL = 'ferry';

interface CandidateLike {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

/** The part of a peer connection (RTCPeerConnection, src/peer/peer-connection.ts) the negotiation uses. */
export interface P2PConnection {
  readonly connectionState: string;
  ondatachannel: ((event: never) => unknown) | null;
  addEventListener(type: 'connectionstatechange' | 'icecandidate', listener: (event: Event) => void): void;
  createDataChannel(label: string): P2PChannel;
  createOffer(): Promise<{ sdp?: string }>;
  createAnswer(): Promise<{ sdp?: string }>;
  setLocalDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void>;
  setRemoteDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void>;
  addIceCandidate(candidate: CandidateLike): Promise<void>;
  close(): void;
}

export interface P2POptions {
  keys: SessionKeys;
  rendezvous: Rendezvous;
  /** A fresh peer connection with the session's ICE servers (and, in Node, the bind address). */
  connect: () => P2PConnection;
  /** Give up on a direct channel after this long (the sender's --p2p-timeout). */
  timeoutMs: number;
  /** Wait once this much is queued on the channel (SendWindow's default otherwise: 1 MiB, best node↔node). */
  highWaterMark?: number;
  /** Called with connection states, for --verbose style reports. */
  report?: (message: string) => void;
}

type Outcome = { channel: DataChannelFrames } | { relay: true } | { failed: string };

/**
 * Sender: offer a data channel, up to three negotiations within the timeout (libdatachannel now and then fails one
 * early). Resolves with the open channel, or `failed` (the caller then tells the receiver, or goes to the relay).
 * Throws a ProtocolError for an SDP whose fingerprints do not carry the session's tag, or for a peer's error.
 */
export async function dialP2P(options: P2POptions): Promise<DataChannelFrames | { failed: string }> {
  const deadline = Date.now() + options.timeoutMs;
  let reason = `no data channel opened within ${options.timeoutMs / 1000} s`;
  for (let attempt = 1; attempt <= 3 && Date.now() < deadline; attempt++) {
    const outcome = await negotiate(options, attempt, deadline);
    if ('channel' in outcome) return outcome.channel;
    if ('failed' in outcome) {
      reason = outcome.failed;
      options.report?.(`direct connection attempt ${attempt} failed: ${reason}`);
    }
  }
  return { failed: reason };
}

function negotiate(options: P2POptions, attempt: number, deadline: number): Promise<Outcome> {
  const { keys, rendezvous } = options;
  return new Promise<Outcome>((resolve, reject) => {
    const pc = options.connect();
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
      () => finish({ failed: `no data channel opened within ${options.timeoutMs / 1000} s` }),
      Math.max(0, deadline - Date.now()),
    );
    const channel = pc.createDataChannel(CHANNEL_LABEL);
    channel.onopen = () =>
      finish({
        channel: new DataChannelFrames(channel, false, { connection: pc, highWaterMark: options.highWaterMark }),
      });
    pc.addEventListener('connectionstatechange', () => {
      options.report?.(`connection ${pc.connectionState}`);
      if (pc.connectionState === 'failed') finish({ failed: 'ICE or DTLS failed' });
    });
    // Our candidates wait until the answer is applied. Sent earlier, they let the receiver's ICE checks and then its
    // DTLS ClientHello (it is the DTLS client, RFC 5763 §5) reach us before its answer has come through the hub:
    // libdatachannel then has no remote fingerprint to check the certificate against and fails the handshake
    // ("unknown CA"), which was one negotiation in two on loopback.
    const releaseCandidates = trickle(pc, rendezvous, attempt);
    const stop = listenToPeer(
      rendezvous,
      (message) => onMessage(message),
      finish,
      (error) => finish({ failed: error.message }),
    );
    const onMessage = async (message: SessionMessage) => {
      if (message.t === 'error') throw peerError(message);
      if (message.t === 'sdp' && message.n === attempt && message.type === 'answer') {
        checkSdpMessage(keys, 'receiver', message);
        await pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        releaseCandidates();
      } else if (message.t === 'candidate' && message.n === attempt) {
        await pc.addIceCandidate(message);
      }
    };
    void (async () => {
      const offer = { type: 'offer' as const, sdp: (await pc.createOffer()).sdp ?? '' };
      await pc.setLocalDescription(offer);
      if (settled) return;
      safeSend(rendezvous, sdpMessage(keys, 'sender', attempt, offer));
    })().catch((error: Error) => finish({ failed: error.message }));
  });
}

/**
 * Receiver: answer the sender's offers (a later attempt replaces an earlier one) until the sender either speaks on a
 * channel (→ that channel) or says `transport: relay`. There is no timeout here: the sender decides, and a sender
 * that leaves makes the rendezvous fail.
 */
export function answerP2P(options: Omit<P2POptions, 'timeoutMs'>): Promise<DataChannelFrames | { relay: true }> {
  const { keys, rendezvous } = options;
  return new Promise((resolve, reject) => {
    let current: { attempt: number; pc: P2PConnection } | undefined;
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
      const pc = options.connect();
      current = { attempt, pc };
      pc.addEventListener('connectionstatechange', () => options.report?.(`connection ${pc.connectionState}`));
      pc.ondatachannel = ({ channel }: { channel: P2PChannel }) => {
        if (channel.label !== CHANNEL_LABEL || current?.pc !== pc) return;
        const frames = new DataChannelFrames(channel, true, { connection: pc, highWaterMark: options.highWaterMark });
        // The sender speaks first on the channel it chose; until then the relay may still win.
        void frames.firstFrame.then(() => {
          if (current?.pc === pc) finish(frames);
        });
      };
      const releaseCandidates = trickle(pc, rendezvous, attempt, () => current?.pc === pc);
      await pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
      const description = { type: 'answer' as const, sdp: (await pc.createAnswer()).sdp ?? '' };
      await pc.setLocalDescription(description);
      if (current?.pc !== pc) return;
      safeSend(rendezvous, sdpMessage(keys, 'receiver', attempt, description));
      releaseCandidates();
    };
    const onMessage = async (message: SessionMessage) => {
      if (message.t === 'error') throw peerError(message);
      if (message.t === 'transport') return finish({ relay: true });
      if (message.t === 'sdp') return answer(message);
      if (message.t === 'candidate' && current && message.n === current.attempt) {
        // A candidate libdatachannel cannot use (its transport already failed) only costs this attempt.
        await current.pc.addIceCandidate(message).catch(() => {});
      }
    };
    // Any other error is a failed negotiation attempt: the sender will try again or choose the relay.
    const stop = listenToPeer(rendezvous, onMessage, finish, () => {});
  });
}

/**
 * Sends our ICE candidates for `attempt` as they are gathered, but holds them until the returned release() is called
 * (once our description is settled); `live` false drops them (a superseded attempt).
 */
function trickle(pc: P2PConnection, rendezvous: Rendezvous, attempt: number, live = () => true): () => void {
  let released = false;
  const held: SessionMessage[] = [];
  pc.addEventListener('icecandidate', (event) => {
    const { candidate } = event as Event & { candidate: CandidateLike | null };
    if (!candidate?.candidate || !live()) return;
    const message = candidateMessage(attempt, candidate);
    if (released) safeSend(rendezvous, message);
    else held.push(message);
  });
  return () => {
    released = true;
    for (const message of held.splice(0)) safeSend(rendezvous, message);
  };
}

/**
 * Hands the peer's session messages to `handle`. A ProtocolError it throws (a forged SDP, the peer's own error) is
 * told to the peer and ends the negotiation through `finish`, as does a failing rendezvous; any other error goes to
 * `otherwise`. Returns the unsubscribe function.
 */
function listenToPeer(
  rendezvous: Rendezvous,
  handle: (message: SessionMessage) => Promise<unknown>,
  finish: (error: Error) => void,
  otherwise: (error: Error) => void,
): () => void {
  return rendezvous.listen({
    message: (message) => {
      void handle(message).catch((error: Error) => {
        if (!(error instanceof ProtocolError)) return otherwise(error);
        safeSend(rendezvous, errorMessage(error));
        finish(error);
      });
    },
    fail: (error) => finish(error),
  });
}

/** The `candidate` message of a local candidate (only the fields the wire carries: a browser's has more). */
function candidateMessage(attempt: number, candidate: CandidateLike): SessionMessage {
  const { sdpMid, sdpMLineIndex } = candidate;
  return { t: 'candidate', n: attempt, candidate: candidate.candidate, sdpMid, sdpMLineIndex };
}

function safeSend(rendezvous: Rendezvous, message: SessionMessage): void {
  try {
    rendezvous.send(message);
  } catch {
    // The hub is gone: the rendezvous reports that through its listener.
  }
}
