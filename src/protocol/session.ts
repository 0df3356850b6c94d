// The handshake of a code transfer, independent of how messages travel: the messages the two peers exchange through the hub's addressed `message` (docs/transfer-protocol.md §3.2), the
// SPAKE2 run with key confirmation (RFC 9382 §4) that turns the code into session keys, the transport both sides
// agree on, and the authenticated SDP that carries each side's DTLS fingerprint. Isomorphic: the CLI and the web app
// drive the same functions, each with its own signaling client and RTCPeerConnection.

import { z } from 'zod';
import { fromBase64Url, toBase64Url } from './bytes.ts';
import { ProtocolError, type ProtocolErrorCode } from './errors.ts';
import {
  deriveSessionKeys,
  fingerprintsFromSdp,
  type SessionKeys,
  signFingerprint,
  verifyFingerprint,
} from './keys.ts';
import {
  createCodeSpake2,
  FERRY_MHF,
  type FerryRole,
  type ScryptFunction,
  SPAKE2_CONFIRM_BYTES,
  SPAKE2_MESSAGE_BYTES,
  type Spake2,
} from './spake2.ts';

export const SESSION_VERSION = 1;

/** What a side asks for: `auto` tries a data channel and falls back to the relay. */
export type TransportPreference = 'auto' | 'p2p' | 'relay';
export const TRANSPORT_PREFERENCES: readonly TransportPreference[] = ['auto', 'p2p', 'relay'];
/** What actually carried a transfer. */
export type TransportKind = 'p2p' | 'relay';

const b64u = z
  .string()
  .max(256)
  .regex(/^[A-Za-z0-9_-]*$/);
const Role = z.enum(['sender', 'receiver']);
const Preference = z.enum(['auto', 'p2p', 'relay']);
/** Which negotiation (1, 2, …) an SDP or candidate belongs to: the sender may start over after a failed one. */
const Attempt = z.number().int().min(1).max(1000);

/** Every message of the handshake, as it rides in the hub's `message.data`. Unknown fields are ignored. */
export const SessionMessage = z.discriminatedUnion('t', [
  z.object({ t: z.literal('pake'), v: z.number().int(), role: Role, msg: b64u }),
  z.object({ t: z.literal('confirm'), mac: b64u, transport: Preference }),
  z.object({
    t: z.literal('sdp'),
    n: Attempt,
    type: z.enum(['offer', 'answer']),
    sdp: z.string().min(1).max(32_768),
    tag: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  z.object({
    t: z.literal('candidate'),
    n: Attempt,
    candidate: z.string().max(4096),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(65535).nullable().optional(),
  }),
  z.object({ t: z.literal('transport'), use: z.literal('relay') }),
  z.object({ t: z.literal('error'), code: z.string().max(64), message: z.string().max(1024) }),
]);
export type SessionMessage = z.infer<typeof SessionMessage>;
export type SessionMessageOf<T extends SessionMessage['t']> = Extract<SessionMessage, { t: T }>;

/** Reads a hub `message.data`; a malformed one is a protocol error (the peer, or someone in its place, misbehaves). */
export function parseSessionMessage(data: unknown): SessionMessage {
  const result = SessionMessage.safeParse(data);
  if (!result.success) {
    throw new ProtocolError('SESSION_PROTOCOL', 'the other side sent a malformed handshake message');
  }
  return result.data;
}

/**
 * Error codes a peer may report in an `error` message that we adopt as our own (both sides then fail the same way).
 * Anything else becomes SESSION_PEER: we do not let the peer pick arbitrary codes for us.
 */
const ADOPTED_PEER_CODES: ReadonlySet<string> = new Set<ProtocolErrorCode>([
  'WRONG_CODE',
  'FINGERPRINT_MISMATCH',
  'SESSION_TRANSPORT',
  'SESSION_PROTOCOL',
]);

/** The error a peer's `error` message stands for. */
export function peerError(message: SessionMessageOf<'error'>): ProtocolError {
  const code = ADOPTED_PEER_CODES.has(message.code) ? (message.code as ProtocolErrorCode) : 'SESSION_PEER';
  return new ProtocolError(code, `the other side stopped: ${message.message}`);
}

/** The `error` message that tells the peer why we stop. */
export function errorMessage(error: unknown): SessionMessageOf<'error'> {
  if (error instanceof ProtocolError) return { t: 'error', code: error.code, message: error.message.slice(0, 1024) };
  return { t: 'error', code: 'SESSION_PEER', message: 'the other side failed' };
}

/** Where the handshake's messages come from and go to (the hub's `message`, addressed to the one peer). */
export interface SessionSignals {
  send(message: SessionMessage): void;
  /** The peer's next message, in order. Rejects when the peer or the hub is gone. */
  next(): Promise<SessionMessage>;
}

/** The transport both preferences allow, or a SESSION_TRANSPORT error when they exclude each other. */
export function agreeTransport(sender: TransportPreference, receiver: TransportPreference): TransportPreference {
  if (sender === 'auto') return receiver;
  if (receiver === 'auto' || receiver === sender) return sender;
  throw new ProtocolError(
    'SESSION_TRANSPORT',
    `the sender allows only ${sender} and the receiver only ${receiver}: drop --transport on one side`,
  );
}

export interface HandshakeResult {
  keys: SessionKeys;
  /** What both sides allow (docs/transfer-protocol.md §3.2). */
  transport: TransportPreference;
}

/**
 * One SPAKE2 run with the peer (RFC 9382 §3.3, §4): send our share, answer the peer's share with our confirmation
 * MAC (sent before checking the peer's, so both sides always learn the outcome), check the peer's MAC. A different
 * code on the other side is WRONG_CODE here and on the other side; nothing else about the code leaks.
 * `spake2` may be created ahead of time (its scrypt takes ~150 ms), so it overlaps with reaching the hub.
 * A failure other than WRONG_CODE (which the peer finds out by itself) is also sent to the peer, which would
 * otherwise wait for our next message.
 */
export async function runHandshake(
  role: FerryRole,
  spake2: Spake2 | Promise<Spake2>,
  preference: TransportPreference,
  signals: SessionSignals,
): Promise<HandshakeResult> {
  try {
    return await handshakeSteps(role, spake2, preference, signals);
  } catch (error) {
    if (error instanceof ProtocolError && error.code !== 'WRONG_CODE') {
      try {
        signals.send(errorMessage(error));
      } catch {
        // The hub is gone; the peer learns that from it.
      }
    }
    throw error;
  }
}

async function handshakeSteps(
  role: FerryRole,
  spake2: Spake2 | Promise<Spake2>,
  preference: TransportPreference,
  signals: SessionSignals,
): Promise<HandshakeResult> {
  const spake = await spake2;
  signals.send({ t: 'pake', v: SESSION_VERSION, role, msg: toBase64Url(spake.start()) });
  const share = await expect(signals, 'pake');
  if (share.v !== SESSION_VERSION) {
    throw new ProtocolError('SESSION_PROTOCOL', `the other side speaks handshake version ${share.v}, not 1`);
  }
  if (share.role === role) {
    throw new ProtocolError(
      'SESSION_PROTOCOL',
      `both sides are ${role}s: one side must run \`ferry send\` and the other \`ferry receive\``,
    );
  }
  const peerShare = decode(share.msg, SPAKE2_MESSAGE_BYTES);
  const { confirm } = spake.finish(peerShare);
  signals.send({ t: 'confirm', mac: toBase64Url(confirm), transport: preference });
  const peerConfirm = await expect(signals, 'confirm');
  // verify() throws WRONG_CODE with one fixed message on any mismatch.
  const keys = deriveSessionKeys(spake.verify(decode(peerConfirm.mac, SPAKE2_CONFIRM_BYTES, true)));
  const transport =
    role === 'sender'
      ? agreeTransport(preference, peerConfirm.transport)
      : agreeTransport(peerConfirm.transport, preference);
  return { keys, transport };
}

/**
 * Starts the SPAKE2 state for a role and code (the code is checked and normalised; CODE_* errors otherwise).
 * `scrypt`: a faster implementation of the same function where the platform has one (Node's native one).
 */
export function startSpake2(role: FerryRole, code: string, scrypt?: ScryptFunction): Promise<Spake2> {
  return createCodeSpake2(role, code, FERRY_MHF, scrypt);
}

async function expect<T extends 'pake' | 'confirm'>(signals: SessionSignals, type: T): Promise<SessionMessageOf<T>> {
  const message = await signals.next();
  if (message.t === 'error') throw peerError(message);
  if (message.t !== type) {
    throw new ProtocolError('SESSION_PROTOCOL', `the other side sent "${message.t}" where "${type}" was due`);
  }
  return message as SessionMessageOf<T>;
}

function decode(text: string, length: number, asConfirm = false): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text);
  } catch {
    bytes = new Uint8Array(0);
  }
  if (bytes.length !== length) {
    // A confirmation of the wrong size can only fail verification: report it exactly like a wrong code.
    if (asConfirm) return new Uint8Array(length);
    throw new ProtocolError('SPAKE2_BAD_MESSAGE', `the other side's SPAKE2 share is not ${length} bytes`);
  }
  return bytes;
}

/** The `sdp` message for our local description: the SDP and a tag over its DTLS fingerprints (keys.ts). */
export function sdpMessage(
  keys: SessionKeys,
  role: FerryRole,
  attempt: number,
  description: { type: 'offer' | 'answer'; sdp: string },
): SessionMessageOf<'sdp'> {
  const tag = signFingerprint(keys.fingerprintMacKey, role, fingerprintsFromSdp(description.sdp));
  return { t: 'sdp', n: attempt, type: description.type, sdp: description.sdp, tag };
}

/**
 * Checks the peer's SDP before it is applied: its fingerprints must carry the tag only a holder of the session key
 * can make. Throws FINGERPRINT_MISMATCH (or FINGERPRINT_FORMAT for an SDP without a fingerprint) otherwise.
 */
export function checkSdpMessage(keys: SessionKeys, authorRole: FerryRole, message: SessionMessageOf<'sdp'>): void {
  let fingerprints: string[];
  try {
    fingerprints = fingerprintsFromSdp(message.sdp);
  } catch {
    fingerprints = [];
  }
  if (fingerprints.length === 0) {
    // No fingerprint means no way to authenticate the DTLS peer: as bad as a swapped one.
    throw new ProtocolError('FINGERPRINT_MISMATCH', `the ${authorRole}'s connection details carry no DTLS fingerprint`);
  }
  verifyFingerprint(keys.fingerprintMacKey, authorRole, fingerprints, message.tag);
}

/** An unbounded FIFO with async take: how callback-shaped sources (WebSockets, data channels) feed a loop. */
export class AsyncQueue<T> {
  #items: T[] = [];
  #waiters: Array<{ resolve: (value: T) => void; reject: (error: Error) => void }> = [];
  #error: Error | undefined;

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    if (this.#error !== undefined) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.#items.push(item);
  }

  /** Ends the queue: items already queued are still handed out, then every take rejects with `error`. */
  fail(error: Error): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  take(): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift() as T);
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }
}
