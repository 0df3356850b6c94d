// Small byte helpers shared by the protocol modules. Web-platform only (no Buffer), so the browser bundle can use
// them unchanged.

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Compares in time that depends only on the lengths, so a MAC check leaks nothing about where bytes differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

const HEX = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX[byte >> 4] + (HEX[byte & 15] as string);
  return out;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('not a hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export const utf8 = new TextEncoder();
export const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Big-endian unsigned integer of any length, as used for scalars and for reducing KDF output mod n. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  if (value < 0n || value >= 1n << BigInt(length * 8)) throw new RangeError('integer does not fit');
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/** Random bytes from the platform CSPRNG (WebCrypto in both Node and browsers). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let at = 0; at < length; at += 65536)
    globalThis.crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  return out;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** RFC 4648 §5 base64url without padding: how binary handshake values travel inside JSON signaling messages. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let c = 0; c < chars; c++) out += B64URL[(n >> (18 - 6 * c)) & 63];
  }
  return out;
}

export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new TypeError('not unpadded base64url');
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const char of text) {
    value = (value << 6) | B64URL.indexOf(char);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  // Canonical encodings only: the unused low bits of the last character must be zero.
  if ((value & ((1 << bits) - 1)) !== 0) throw new TypeError('not canonical base64url');
  return out;
}

/**
 * Bytes that arrive in pieces cut anywhere and leave in lengths the reader chooses (records, frames). A read is a
 * view into one piece when that piece holds it, and a copy only when it straddles pieces.
 */
export class ByteQueue {
  #pieces: Uint8Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#pieces.push(bytes);
    this.#length += bytes.length;
  }

  /** The first `length` bytes (at most {@link length}), left in the queue. */
  peek(length: number): Uint8Array {
    const first = this.#pieces[0];
    if (first !== undefined && first.length >= length) return first.subarray(0, length);
    const out = new Uint8Array(length);
    let at = 0;
    for (const piece of this.#pieces) {
      const n = Math.min(piece.length, length - at);
      out.set(piece.subarray(0, n), at);
      at += n;
      if (at === length) break;
    }
    return out;
  }

  /** The first `length` bytes (at most {@link length}), removed from the queue. */
  take(length: number): Uint8Array {
    const out = this.peek(length);
    let left = length;
    while (left > 0) {
      const piece = this.#pieces[0] as Uint8Array;
      if (piece.length <= left) {
        left -= piece.length;
        this.#pieces.shift();
      } else {
        this.#pieces[0] = piece.subarray(left);
        left = 0;
      }
    }
    this.#length -= length;
    return out;
  }
}
