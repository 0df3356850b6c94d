// Everything a code transfer derives from the SPAKE2 key Ke (spake2.ts): a MAC key that authenticates each side's
// DTLS certificate fingerprint (a signaling server that swaps SDP is caught before any data flows), one relay key and
// one unguessable relay path per direction, and a short verification string both sides can show.
//
// All derivations are HKDF-SHA256 (RFC 5869) from Ke with a fixed salt and one distinct info label each, so no two
// outputs are related and a new use never changes an existing one. Labels are versioned ("ferry/1 …").

import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { constantTimeEqual, fromHex, toHex, utf8 } from './bytes.ts';
import { CODE_WORDLIST } from './code.ts';
import { ProtocolError } from './errors.ts';
import type { FerryRole } from './spake2.ts';

const SALT = utf8.encode('ferry/1 session keys');

/** The info labels, one per derived value. Part of the wire protocol: never change one. */
export const KEY_LABELS = Object.freeze({
  fingerprintMac: 'ferry/1 dtls fingerprint mac',
  relayKeySenderToReceiver: 'ferry/1 relay key sender-to-receiver',
  relayKeyReceiverToSender: 'ferry/1 relay key receiver-to-sender',
  relayPathSenderToReceiver: 'ferry/1 relay path sender-to-receiver',
  relayPathReceiverToSender: 'ferry/1 relay path receiver-to-sender',
  verification: 'ferry/1 verification string',
});

function derive(Ke: Uint8Array, label: string, length: number): Uint8Array {
  return hkdf(sha256, Ke, SALT, utf8.encode(label), length);
}

/** One direction of the relay fallback: its own pipe and its own stream key, so the two directions never share a nonce space. */
export interface RelayChannelKeys {
  /** 32-byte key for stream-cipher.ts. */
  key: Uint8Array;
  /** The pipe path on the relay, `/` + 32 base32 characters (160 bits): unguessable, and known only to the two peers. */
  path: string;
}

export interface SessionKeys {
  /** 32-byte HMAC-SHA256 key for signFingerprint / verifyFingerprint. */
  fingerprintMacKey: Uint8Array;
  relay: { senderToReceiver: RelayChannelKeys; receiverToSender: RelayChannelKeys };
  /** A short string both sides display; equal on both sides exactly when they share Ke. */
  verification: VerificationString;
}

/** The relay direction `role` writes to and the one it reads from. */
export function relayDirections(
  keys: SessionKeys,
  role: FerryRole,
): { outward: RelayChannelKeys; inward: RelayChannelKeys } {
  const { senderToReceiver, receiverToSender } = keys.relay;
  return role === 'sender'
    ? { outward: senderToReceiver, inward: receiverToSender }
    : { outward: receiverToSender, inward: senderToReceiver };
}

export interface VerificationString {
  /** Three words from the code wordlist (33 bits), e.g. "orbit frozen piano". */
  words: string;
  /** Six digits in two groups (about 20 bits), e.g. "482 913". */
  digits: string;
}

// RFC 4648 §6 alphabet, lowercased: paths stay case-insensitive-safe and contain no characters a URL must escape.
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function verificationFrom(bytes: Uint8Array): VerificationString {
  // 8 bytes: the first 33 bits pick three 11-bit words, the last 4 bytes give the digits.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const high = view.getUint32(0);
  const low = view.getUint32(4);
  const bits = (BigInt(high) << 32n) | BigInt(low);
  const words = [0, 1, 2].map((i) => CODE_WORDLIST[Number((bits >> BigInt(53 - 11 * i)) & 2047n)] as string);
  const digits = String(low % 1_000_000).padStart(6, '0');
  return { words: words.join(' '), digits: `${digits.slice(0, 3)} ${digits.slice(3)}` };
}

/** Derives every session value from Ke (the 16-byte output of Spake2.verify). Deterministic. */
export function deriveSessionKeys(Ke: Uint8Array): SessionKeys {
  if (Ke.length < 16) throw new RangeError('Ke must be at least 16 bytes');
  return {
    fingerprintMacKey: derive(Ke, KEY_LABELS.fingerprintMac, 32),
    relay: {
      senderToReceiver: {
        key: derive(Ke, KEY_LABELS.relayKeySenderToReceiver, 32),
        path: `/${base32(derive(Ke, KEY_LABELS.relayPathSenderToReceiver, 20))}`,
      },
      receiverToSender: {
        key: derive(Ke, KEY_LABELS.relayKeyReceiverToSender, 32),
        path: `/${base32(derive(Ke, KEY_LABELS.relayPathReceiverToSender, 20))}`,
      },
    },
    verification: verificationFrom(derive(Ke, KEY_LABELS.verification, 8)),
  };
}

const FINGERPRINT_ALGORITHMS = new Set(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);

/**
 * Canonical form of a DTLS certificate fingerprint (RFC 8122 §5): "<hash> <HEX:HEX:…>", hash function lowercase,
 * hex uppercase. Accepts the value of an SDP `a=fingerprint:` attribute with or without the `a=fingerprint:` prefix.
 */
export function canonicalFingerprint(input: string): string {
  const match = /^(?:a=fingerprint:)?\s*([A-Za-z0-9-]+)\s+([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+)\s*$/.exec(input.trim());
  const algorithm = match?.[1]?.toLowerCase();
  if (match === null || algorithm === undefined || !FINGERPRINT_ALGORITHMS.has(algorithm)) {
    throw new ProtocolError('FINGERPRINT_FORMAT', `not a DTLS certificate fingerprint: "${input.slice(0, 120)}"`);
  }
  return `${algorithm} ${(match[2] as string).toUpperCase()}`;
}

/** Every `a=fingerprint:` value in an SDP (session and media level), canonical, sorted, without duplicates. */
export function fingerprintsFromSdp(sdp: string): string[] {
  const found = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('a=fingerprint:')) found.add(canonicalFingerprint(line));
  }
  return [...found].sort();
}

function fingerprintMessage(role: FerryRole, fingerprints: string | readonly string[]): Uint8Array {
  const list = (typeof fingerprints === 'string' ? [fingerprints] : [...fingerprints]).map(canonicalFingerprint);
  if (list.length === 0) throw new ProtocolError('FINGERPRINT_FORMAT', 'no DTLS fingerprint to authenticate');
  const unique = [...new Set(list)].sort();
  // The role is inside the MAC so a tag cannot be reflected back as the other side's.
  return utf8.encode(`ferry/1 dtls fingerprint\n${role}\n${unique.join('\n')}`);
}

/**
 * The tag (64 hex characters) that `role` sends with its SDP, authenticating its own DTLS certificate fingerprint(s).
 * Pass fingerprintsFromSdp(localDescription.sdp) — or a single fingerprint string.
 */
export function signFingerprint(
  fingerprintMacKey: Uint8Array,
  role: FerryRole,
  fingerprints: string | readonly string[],
): string {
  return toHex(hmac(sha256, fingerprintMacKey, fingerprintMessage(role, fingerprints)));
}

/**
 * Checks the tag the peer (`role` = the peer's role) sent against the fingerprint(s) in the SDP we are about to
 * apply. Throws ProtocolError('FINGERPRINT_MISMATCH') if the SDP was altered in transit (or the tag is missing or
 * malformed): stop before connecting.
 */
export function verifyFingerprint(
  fingerprintMacKey: Uint8Array,
  role: FerryRole,
  fingerprints: string | readonly string[],
  tag: string,
): void {
  const expected = hmac(sha256, fingerprintMacKey, fingerprintMessage(role, fingerprints));
  let given: Uint8Array;
  try {
    given = fromHex(tag);
  } catch {
    given = new Uint8Array(0);
  }
  if (!constantTimeEqual(expected, given)) {
    throw new ProtocolError(
      'FINGERPRINT_MISMATCH',
      `the ${role}'s connection details were altered on the way (DTLS fingerprint not authenticated by the code): ` +
        'someone may be intercepting this transfer; it was stopped',
    );
  }
}

/**
 * A verification string from the two DTLS fingerprints alone, for peers that met without a code (rooms): both
 * sides compute the same string whatever their order.
 */
export function fingerprintVerificationString(local: string, remote: string): VerificationString {
  const pair = [canonicalFingerprint(local), canonicalFingerprint(remote)].sort();
  return verificationFrom(sha256(utf8.encode(`ferry/1 fingerprint pair\n${pair.join('\n')}`)).subarray(0, 8));
}
