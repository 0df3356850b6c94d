// A code transfer's session in the page, as `ferry send` / `ferry receive` run it: reach the hub, meet the peer
// through the code's nameplate (the sender allocates it, the receiver claims it), run the SPAKE2 handshake (src/protocol/session.ts), then open what carries the frames — a data
// channel if one opens within the sender's timeout, else the relay (net/code-relay.ts). Every failure comes out as
// a CodeFailure with a sentence a person can act on.
import { type ParsedCode, parseCode } from '../../../src/protocol/code.ts';
import { answerP2P, dialP2P, type P2PConnection } from '../../../src/protocol/code-p2p.ts';
import { ProtocolError } from '../../../src/protocol/errors.ts';
import type { SessionKeys } from '../../../src/protocol/keys.ts';
import {
  allocateCode,
  claimCode,
  handshakeWithClaimer,
  type Rendezvous,
  RendezvousError,
} from '../../../src/protocol/rendezvous.ts';
import { type HandshakeResult, runHandshake, startSpake2 } from '../../../src/protocol/session.ts';
import type { ServerMessageOf } from '../../../src/protocol/signaling.ts';
import type { FerryRole, Spake2 } from '../../../src/protocol/spake2.ts';
import { type FrameChannel, TransferError } from '../../../src/protocol/transfer-session.ts';
import { RelayFrames } from './code-relay.ts';
import { SignalingClient } from './signaling.ts';

/** As the CLI's --p2p-timeout default: how long the sender gives a direct connection before the relay. */
export const P2P_TIMEOUT_MS = 5000;
// Chromium endpoints move more with a deeper send buffer (webrtc-notes.md: 4–8 MiB); the wire format is the same.
const HIGH_WATER_MARK = 4 * 1024 * 1024;

export type FailureKind =
  | 'wrong-code'
  | 'bad-code'
  | 'declined'
  | 'left'
  | 'cancelled'
  | 'integrity'
  | 'server'
  | 'connection'
  | 'failed';

/** A failure, in words for the screen. `kind` is stable (tests and styles use it). */
export class CodeFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

/** Every error of a session or a transfer as something to show. */
export function describeFailure(error: unknown): CodeFailure {
  if (error instanceof CodeFailure) return error;
  if (error instanceof TransferError) {
    switch (error.failure) {
      case 'declined':
        return error.byPeer
          ? new CodeFailure('declined', 'The other side declined.')
          : new CodeFailure('declined', `Declined: ${error.message}`);
      case 'cancelled':
        return error.byPeer
          ? new CodeFailure('cancelled', `The other side cancelled (${error.message}).`)
          : new CodeFailure('cancelled', 'Cancelled.');
      case 'integrity':
        return new CodeFailure('integrity', `The data did not arrive intact, so it was discarded: ${error.message}`);
      case 'lost':
        return new CodeFailure('left', 'The other side left or the connection dropped before the end.');
      default:
        return new CodeFailure('failed', error.message);
    }
  }
  if (error instanceof ProtocolError) {
    if (error.code === 'WRONG_CODE') {
      return new CodeFailure('wrong-code', 'The code is wrong: both sides must use the same code. Ask for a new one.');
    }
    if (error.code.startsWith('CODE_'))
      return new CodeFailure('bad-code', `That is not a valid code: ${error.message}`);
    if (error.code.startsWith('FINGERPRINT_')) {
      return new CodeFailure('integrity', 'The connection could not be authenticated (someone tampered with it).');
    }
    if (error.code === 'SESSION_TRANSPORT') return new CodeFailure('connection', error.message);
    return new CodeFailure('failed', error.message);
  }
  if (error instanceof RendezvousError) {
    if (error.code === 'peer_left') return new CodeFailure('left', 'The other side left.');
    if (error.code === 'unknown_nameplate') {
      return new CodeFailure(
        'wrong-code',
        'No sender is waiting with this code. Check it; a code works only once, so ask for a new one if it was mistyped.',
      );
    }
    if (error.code === 'nameplate_busy' || error.code === 'nameplate_taken') {
      return new CodeFailure('connection', 'Someone else is using this code right now; check the code.');
    }
    if (error.code === 'too_many_nameplates') {
      return new CodeFailure('server', 'The server refuses more codes from your network right now; try again later.');
    }
    return new CodeFailure('server', `The connection to the server was lost (${error.message}).`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CodeFailure('failed', message);
}

export interface SessionHooks {
  /** The hub is reached and the nameplate held: the code can be shown (the sender's number comes from the hub). */
  onCode?(code: string): void;
  /** The other side is here; the code is being checked. */
  onPeer?(): void;
  /** The code checked out on both sides. */
  onVerified?(keys: SessionKeys): void;
  /** The sender is trying a direct connection. */
  onConnecting?(): void;
  /** Connection details, for a details box. */
  report?(message: string): void;
}

export interface Session {
  code: string;
  keys: SessionKeys;
  channel: FrameChannel;
  /** Resolves if the other side leaves the hub (its tab closed): what a receiver still deciding must hear. */
  peerGone: Promise<void>;
  /** Hangs up the hub (the transfer runs on its own transport). */
  close(): void;
}

async function connect(origin: string): Promise<SignalingClient> {
  try {
    return await SignalingClient.connect(
      origin,
      () => {},
      () => {},
    );
  } catch (error) {
    throw new CodeFailure('server', `The server could not be reached (${(error as Error).message}).`);
  }
}

/**
 * Runs the session up to an open transport. The sender passes no code (one is generated); the receiver the code
 * that was typed or opened. Aborting `signal` stops it at the next step.
 */
export async function openSession(
  role: FerryRole,
  origin: string,
  typed: string | undefined,
  hooks: SessionHooks,
  signal: AbortSignal,
): Promise<Session> {
  let typedCode: ParsedCode | undefined;
  try {
    typedCode = typed === undefined ? undefined : parseCode(typed);
  } catch (error) {
    throw describeFailure(error);
  }
  const hub = await connect(origin);
  const stop = () => hub.close();
  signal.addEventListener('abort', stop, { once: true });
  try {
    let rendezvous: Rendezvous<SignalingClient>;
    let code: ParsedCode;
    if (typedCode === undefined) ({ rendezvous, code } = await allocateCode(hub, undefined));
    else [rendezvous, code] = [await claimCode(hub, typedCode), typedCode];
    // scrypt runs while we wait for the other side.
    const spake2: Promise<Spake2> = startSpake2(role, code.code);
    spake2.catch(() => {});
    hooks.onCode?.(code.code);
    let handshake: HandshakeResult;
    if (role === 'receiver') {
      hooks.onPeer?.();
      handshake = await runHandshake(role, spake2, 'auto', rendezvous);
    } else {
      handshake = await handshakeWithClaimer(
        rendezvous,
        // A SPAKE2 run is single use: a claimer after one that left meets a fresh one.
        (attempt) => runHandshake(role, attempt === 1 ? spake2 : startSpake2(role, code.code), 'auto', rendezvous),
        () => hooks.onPeer?.(),
      );
    }
    const { keys, transport } = handshake;
    hooks.onVerified?.(keys);
    const iceServers = hub.welcome.iceServers as RTCIceServer[];
    // The cast only bridges the DOM typing of send(), which takes ArrayBuffer-backed views (frames always are).
    const connect = () => new RTCPeerConnection({ iceServers }) as unknown as P2PConnection;
    const p2p = { keys, rendezvous, connect, highWaterMark: HIGH_WATER_MARK, report: hooks.report };
    const relay = () => RelayFrames.open({ origin, keys, role });
    let channel: FrameChannel;
    if (transport === 'relay') channel = await relay();
    else if (role === 'receiver') {
      const outcome = await answerP2P(p2p);
      channel = 'relay' in outcome ? await relay() : outcome;
    } else {
      hooks.onConnecting?.();
      const outcome = await dialP2P({ ...p2p, timeoutMs: P2P_TIMEOUT_MS });
      if ('failed' in outcome) {
        hooks.report?.(`no direct connection (${outcome.failed}); using the relay`);
        rendezvous.send({ t: 'transport', use: 'relay' });
        channel = await relay();
      } else channel = outcome;
    }
    rendezvous.detach();
    signal.removeEventListener('abort', stop);
    const peer = rendezvous.peer;
    const peerGone = new Promise<void>((resolve) => {
      hub.on(
        'nameplate-peer-left',
        (event: ServerMessageOf<'nameplate-peer-left'>) => event.peer === peer && resolve(),
      );
    });
    return { code: code.code, keys, channel, peerGone, close: stop };
  } catch (error) {
    signal.removeEventListener('abort', stop);
    hub.close();
    if (signal.aborted) throw new CodeFailure('cancelled', 'Cancelled.');
    throw describeFailure(error);
  }
}
