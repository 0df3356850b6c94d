// The STUN wire format, as far as a Binding responder needs it (RFC 8489): validate a Binding request and encode
// its success response. Pure functions over buffers, no I/O (the sockets live in responder.ts), so every check
// can be reasoned about, and tested, one datagram at a time.
import net from 'node:net';
import zlib from 'node:zlib';

/** RFC 8489 §5: the fixed value in bytes 4..7 of every STUN message. */
export const MAGIC_COOKIE = 0x2112a442;
/** RFC 8489 §5: the header is 20 bytes (type, length, magic cookie, 96-bit transaction id). */
export const HEADER_BYTES = 20;

// RFC 8489 §5: class and method are interleaved in the 14 low bits of the message type.
const CLASS_REQUEST = 0b00;
const METHOD_BINDING = 0x001;
const BINDING_SUCCESS_RESPONSE = 0x0101;

// RFC 8489 §18.3 (the STUN Attributes registry): the attribute types this module reads or writes.
const ATTR_MESSAGE_INTEGRITY = 0x0008;
const ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001c;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_SOFTWARE = 0x8022;
const ATTR_FINGERPRINT = 0x8028;

/**
 * Comprehension-required attributes (type < 0x8000, RFC 8489 §14) that RFC 8489 itself defines. They are known,
 * so a request carrying them is still a Binding request we can answer; we have no use for any of them (no
 * authentication: RFC 8489 §12 lets a basic server run without it) and ignore their values.
 */
const KNOWN_REQUIRED_ATTRIBUTES: ReadonlySet<number> = new Set([
  0x0001, // MAPPED-ADDRESS
  0x0006, // USERNAME
  ATTR_MESSAGE_INTEGRITY,
  0x0009, // ERROR-CODE
  0x000a, // UNKNOWN-ATTRIBUTES
  0x0014, // REALM
  0x0015, // NONCE
  ATTR_MESSAGE_INTEGRITY_SHA256,
  0x001d, // PASSWORD-ALGORITHM
  0x001e, // USERHASH
  ATTR_XOR_MAPPED_ADDRESS,
]);

/** RFC 8489 §14.7: the FINGERPRINT value is CRC-32 of the message before it, XOR this ("STUN" in ASCII). */
const FINGERPRINT_XOR = 0x5354554e;

/**
 * Why a datagram got no answer. The responder counts each one under exactly one reason (for metrics);
 * `badSource` and `internal` are the responder's own, the rest come from {@link parseBindingRequest}.
 */
export const STUN_DROP_REASONS = [
  'short', // fewer than 20 bytes (including empty datagrams)
  'oversized', // larger than the responder's maxRequestBytes
  'notStun', // one of the two leading bits is set (RFC 8489 §5): RTP, DTLS or noise
  // No magic cookie: not STUN, or a classic RFC 3489 client. RFC 8489 §12 says a basic server SHOULD still answer
  // those (§11), but with no cookie and no FINGERPRINT there is little to tell them from noise, every client in
  // use today sends the cookie, and an answer to noise is a reflection.
  'badCookie',
  'badLength', // length field is not a multiple of 4 or does not match the datagram
  'notRequest', // an indication, success or error response
  'unknownMethod', // a request for a method other than Binding
  'badAttribute', // an attribute runs past the message, or FINGERPRINT is malformed or not last
  'unknownAttribute', // an unknown comprehension-required attribute (RFC 8489 §6.3.1 wants a 420; we stay silent)
  'badFingerprint', // FINGERPRINT present but wrong (RFC 8489 §7)
  'badSource', // the source address/port cannot be replied to (port 0, unparsable address)
  'internal', // a bug of ours; also reported through onError
] as const;
export type StunDropReason = (typeof STUN_DROP_REASONS)[number];

export type ParsedBindingRequest =
  | { ok: true; transactionId: Buffer }
  | { ok: false; reason: Exclude<StunDropReason, 'badSource' | 'internal'> };

const pad4 = (n: number) => (n + 3) & ~3;

/**
 * Accept a datagram only if it is a well-formed STUN Binding request (RFC 8489 §6.3, §6.3.1). The checks run
 * cheapest first; the returned transaction id is a copy, so the datagram's buffer can be reused.
 */
export function parseBindingRequest(msg: Buffer, maxBytes: number): ParsedBindingRequest {
  if (msg.length < HEADER_BYTES) return { ok: false, reason: 'short' };
  if (msg.length > maxBytes) return { ok: false, reason: 'oversized' };
  const type = msg.readUInt16BE(0);
  // RFC 8489 §5: "The most significant 2 bits of every STUN message MUST be zeroes."
  if ((type & 0xc000) !== 0) return { ok: false, reason: 'notStun' };
  if (msg.readUInt32BE(4) !== MAGIC_COOKIE) return { ok: false, reason: 'badCookie' };
  // RFC 8489 §5: the length counts the bytes after the header, and is a multiple of 4 since attributes are padded.
  const length = msg.readUInt16BE(2);
  if (length % 4 !== 0 || HEADER_BYTES + length !== msg.length) return { ok: false, reason: 'badLength' };
  // RFC 8489 §5, figure 3: type = M11..M7 C1 M6..M4 C0 M3..M0.
  const messageClass = ((type >> 7) & 0b10) | ((type >> 4) & 0b01);
  if (messageClass !== CLASS_REQUEST) return { ok: false, reason: 'notRequest' };
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  if (method !== METHOD_BINDING) return { ok: false, reason: 'unknownMethod' };

  // RFC 8489 §14: type-length-value attributes; the length excludes padding to the next 4-byte boundary.
  let unknownRequired = false;
  let afterIntegrity = false;
  let offset = HEADER_BYTES;
  while (offset < msg.length) {
    if (offset + 4 > msg.length) return { ok: false, reason: 'badAttribute' };
    const attrType = msg.readUInt16BE(offset);
    const attrLength = msg.readUInt16BE(offset + 2);
    const valueStart = offset + 4;
    const next = valueStart + pad4(attrLength);
    if (next > msg.length) return { ok: false, reason: 'badAttribute' };
    if (attrType === ATTR_FINGERPRINT) {
      // RFC 8489 §14.7: 32 bits, and the last attribute; the CRC covers everything before it, header included
      // (whose length field already counts the FINGERPRINT attribute).
      if (attrLength !== 4 || next !== msg.length) return { ok: false, reason: 'badAttribute' };
      const expected = (crc32(msg.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
      if (msg.readUInt32BE(valueStart) !== expected) return { ok: false, reason: 'badFingerprint' };
    } else if (attrType < 0x8000 && !afterIntegrity && !KNOWN_REQUIRED_ATTRIBUTES.has(attrType)) {
      // RFC 8489 §14.5/§14.6: attributes after MESSAGE-INTEGRITY(-SHA256), except FINGERPRINT, are ignored.
      unknownRequired = true;
    }
    if (attrType === ATTR_MESSAGE_INTEGRITY || attrType === ATTR_MESSAGE_INTEGRITY_SHA256) afterIntegrity = true;
    offset = next;
  }
  // Decided after the walk so that a corrupted datagram counts as corrupted, not as an unknown attribute.
  if (unknownRequired) return { ok: false, reason: 'unknownAttribute' };
  return { ok: true, transactionId: Buffer.from(msg.subarray(8, HEADER_BYTES)) };
}

/** Largest SOFTWARE value we send, in UTF-8 bytes (RFC 8489 §14.14 allows up to 763; we keep replies small). */
export const MAX_SOFTWARE_BYTES = 127;

/**
 * The most a reply can exceed the request it answers by, in bytes: a 20-byte request (the smallest) earns at most
 * 20 + 24 (XOR-MAPPED-ADDRESS, IPv6) + 4 + 128 (SOFTWARE, padded) + 8 (FINGERPRINT) = 184 bytes. Because UDP
 * sources can be spoofed, that bound is the whole of our contribution to a reflection attack (RFC 8489 §16): one
 * datagram out per well-formed request in, never larger than this, and never an error response to anything.
 */
export const MAX_REPLY_OVERHEAD = 24 + 4 + pad4(MAX_SOFTWARE_BYTES) + 8;

/** Check a SOFTWARE description once, at start-up, and return its bytes. */
export function encodeSoftware(software: string): Buffer {
  const bytes = Buffer.from(software, 'utf8');
  if (bytes.length === 0 || bytes.length > MAX_SOFTWARE_BYTES) {
    throw new RangeError(`STUN SOFTWARE must be 1..${MAX_SOFTWARE_BYTES} UTF-8 bytes, got ${bytes.length}.`);
  }
  return bytes;
}

/**
 * RFC 8489 §6.3.1.1 and §12: a Binding success response with, in this order, XOR-MAPPED-ADDRESS (the request's
 * source), SOFTWARE and FINGERPRINT (which must be last). Returns undefined if `address` is not an IP address.
 */
export function encodeBindingSuccess(
  transactionId: Buffer,
  address: string,
  port: number,
  software: Buffer,
): Buffer | undefined {
  const ip = ipBytes(address);
  if (ip === undefined || transactionId.length !== 12) return undefined;
  const mappedLength = 4 + ip.length;
  const length = 4 + mappedLength + 4 + pad4(software.length) + 8;
  const out = Buffer.alloc(HEADER_BYTES + length); // zero-filled, so padding bytes are zero
  out.writeUInt16BE(BINDING_SUCCESS_RESPONSE, 0);
  out.writeUInt16BE(length, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(out, 8);

  // RFC 8489 §14.2: family 0x01/0x02; X-Port is the port XOR the cookie's high 16 bits; X-Address is the address
  // XOR the cookie (IPv4) or XOR the cookie followed by the transaction id (IPv6) — that is, header bytes 4..19.
  let offset = HEADER_BYTES;
  out.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, offset);
  out.writeUInt16BE(mappedLength, offset + 2);
  out[offset + 5] = ip.length === 4 ? 0x01 : 0x02;
  out.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), offset + 6);
  for (let i = 0; i < ip.length; i++) out[offset + 8 + i] = (ip[i] ?? 0) ^ (out[4 + i] ?? 0);
  offset += 4 + mappedLength;

  // RFC 8489 §14.14.
  out.writeUInt16BE(ATTR_SOFTWARE, offset);
  out.writeUInt16BE(software.length, offset + 2);
  software.copy(out, offset + 4);
  offset += 4 + pad4(software.length);

  // RFC 8489 §14.7: the length field above already counts this attribute, as the CRC requires.
  out.writeUInt16BE(ATTR_FINGERPRINT, offset);
  out.writeUInt16BE(4, offset + 2);
  out.writeUInt32BE((crc32(out.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0, offset + 4);
  return out;
}

/**
 * The 4 or 16 bytes of an address as `dgram` reports it. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
 * dual-stack socket reports for an IPv4 peer) yields the IPv4 bytes: the client asked over IPv4 and must be told
 * its IPv4 address. A zone (`fe80::1%eth0`) is local to this host and dropped.
 */
export function ipBytes(address: string): Buffer | undefined {
  if (net.isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  const text = address.split('%')[0] ?? '';
  if (!net.isIPv6(text)) return undefined;
  const bytes = ipv6Bytes(text);
  if (bytes === undefined) return undefined;
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? Buffer.from(bytes.subarray(12)) : bytes;
}

/** Text to bytes for an address already validated by `net.isIPv6`, including a trailing dotted quad. */
function ipv6Bytes(text: string): Buffer | undefined {
  let hex = text;
  const lastColon = hex.lastIndexOf(':');
  const tail = hex.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    hex = `${hex.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = hex.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string | undefined) => (s ? s.split(':') : []);
  const head = groupsOf(halves[0]);
  const rest = groupsOf(halves[1]);
  const zeros = 8 - head.length - rest.length;
  if (halves.length === 1 ? zeros !== 0 : zeros < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 1 ? 0 : zeros).fill('0'), ...rest];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => {
    out.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  });
  return out;
}

// CRC-32 as RFC 8489 §14.7 specifies it (ITU V.42, the one in gzip and zlib). Node has it natively from 20.15;
// older Node 20 releases, which package.json still admits, get the classic table-driven version.
let crcTable: Uint32Array | undefined;
export function crc32Fallback(data: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = (crcTable[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
const nativeCrc32: ((data: Uint8Array) => number) | undefined = (zlib as { crc32?: (data: Uint8Array) => number })
  .crc32;
export const crc32: (data: Uint8Array) => number = nativeCrc32 ?? crc32Fallback;
