// A STUN client written from RFC 8489 alone, independent of src/stun, so the tests check the responder against the
// RFC rather than against itself. It can also build every kind of broken datagram the tests throw at the server.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';

export const COOKIE = 0x2112a442;
export const TYPE_BINDING_REQUEST = 0x0001;
export const TYPE_BINDING_SUCCESS = 0x0101;
export const ATTR = {
  USERNAME: 0x0006,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
} as const;

// CRC-32 (ITU V.42 / IEEE 802.3, reflected, polynomial 0xEDB88320), bit by bit: slow and obviously correct.
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export interface RawAttribute {
  type: number;
  value: Buffer;
}

export interface RequestSpec {
  type?: number;
  cookie?: number;
  transactionId?: Buffer;
  attributes?: RawAttribute[];
  /** Append a correct FINGERPRINT (RFC 8489 §14.7). */
  fingerprint?: boolean;
  /** Write this into the header's length field instead of the true length. */
  lengthField?: number;
}

/** Encode a STUN message: 20-byte header (RFC 8489 §5), then TLV attributes padded to 4 bytes (§14). */
export function encodeMessage(spec: RequestSpec = {}): Buffer {
  const transactionId = spec.transactionId ?? randomBytes(12);
  const parts: Buffer[] = [];
  for (const attr of spec.attributes ?? []) parts.push(tlv(attr.type, attr.value));
  let body = Buffer.concat(parts);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(spec.type ?? TYPE_BINDING_REQUEST, 0);
  header.writeUInt32BE(spec.cookie ?? COOKIE, 4);
  transactionId.copy(header, 8);
  if (spec.fingerprint) {
    header.writeUInt16BE(body.length + 8, 2);
    const crc = (crc32(Buffer.concat([header, body])) ^ 0x5354554e) >>> 0;
    const value = Buffer.alloc(4);
    value.writeUInt32BE(crc);
    body = Buffer.concat([body, tlv(ATTR.FINGERPRINT, value)]);
  }
  header.writeUInt16BE(spec.lengthField ?? body.length, 2);
  return Buffer.concat([header, body]);
}

export function tlv(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

export interface DecodedAttribute extends RawAttribute {
  /** Where the attribute's header starts in the message. */
  offset: number;
}

export interface DecodedMessage {
  type: number;
  length: number;
  cookie: number;
  transactionId: Buffer;
  attributes: DecodedAttribute[];
}

/** Strict decoder for responses: throws on anything a correct server would never send. */
export function decodeMessage(buf: Buffer): DecodedMessage {
  if (buf.length < 20) throw new Error(`message too short: ${buf.length}`);
  const length = buf.readUInt16BE(2);
  if (length + 20 !== buf.length || length % 4 !== 0) throw new Error(`bad length field ${length} for ${buf.length}`);
  const attributes: DecodedAttribute[] = [];
  let offset = 20;
  while (offset < buf.length) {
    const type = buf.readUInt16BE(offset);
    const len = buf.readUInt16BE(offset + 2);
    const end = offset + 4 + Math.ceil(len / 4) * 4;
    if (end > buf.length) throw new Error(`attribute 0x${type.toString(16)} overruns the message`);
    attributes.push({ type, value: Buffer.from(buf.subarray(offset + 4, offset + 4 + len)), offset });
    offset = end;
  }
  return {
    type: buf.readUInt16BE(0),
    length,
    cookie: buf.readUInt32BE(4),
    transactionId: Buffer.from(buf.subarray(8, 20)),
    attributes,
  };
}

export interface MappedAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
}

/**
 * RFC 8489 §14.2: X-Port = port XOR the cookie's top 16 bits; X-Address = address XOR the cookie (IPv4) or XOR the
 * cookie followed by the transaction id (IPv6). IPv6 comes back in the WHATWG URL's canonical form.
 */
export function decodeXorMappedAddress(value: Buffer, transactionId: Buffer): MappedAddress {
  const family = value[1];
  const port = value.readUInt16BE(2) ^ (COOKIE >>> 16);
  const key = Buffer.alloc(16);
  key.writeUInt32BE(COOKIE, 0);
  transactionId.copy(key, 4);
  if (family === 0x01) {
    if (value.length !== 8) throw new Error(`IPv4 XOR-MAPPED-ADDRESS of ${value.length} bytes`);
    const ip = [0, 1, 2, 3].map((i) => (value[4 + i] ?? 0) ^ (key[i] ?? 0));
    return { family: 'IPv4', address: ip.join('.'), port };
  }
  if (family === 0x02) {
    if (value.length !== 20) throw new Error(`IPv6 XOR-MAPPED-ADDRESS of ${value.length} bytes`);
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) {
      const hi = (value[4 + i] ?? 0) ^ (key[i] ?? 0);
      const lo = (value[5 + i] ?? 0) ^ (key[i + 1] ?? 0);
      groups.push(((hi << 8) | lo).toString(16));
    }
    return { family: 'IPv6', address: canonicalIPv6(groups.join(':')), port };
  }
  throw new Error(`unknown address family ${family}`);
}

export function canonicalIPv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** RFC 8489 §14.7: FINGERPRINT is last and equals CRC-32 of everything before it XOR 0x5354554E. */
export function fingerprintValid(buf: Buffer): boolean {
  const msg = decodeMessage(buf);
  const last = msg.attributes.at(-1);
  if (!last || last.type !== ATTR.FINGERPRINT || last.value.length !== 4) return false;
  return last.value.readUInt32BE(0) === (crc32(buf.subarray(0, last.offset)) ^ 0x5354554e) >>> 0;
}

/** A UDP socket that records every datagram it receives. */
export class StunTestClient {
  readonly received: Buffer[] = [];
  #waiters: Array<() => void> = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (msg) => {
      this.received.push(msg);
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static async open(host: string): Promise<StunTestClient> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new StunTestClient(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(datagram: Buffer, port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(datagram, port, host, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Wait for the reply carrying this transaction id; undefined if none arrives in `timeoutMs`. */
  async waitFor(transactionId: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find((m) => m.length >= 20 && m.subarray(8, 20).equals(transactionId));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Send a Binding request and wait for its answer. */
  async bind(port: number, host: string, spec: RequestSpec = {}, timeoutMs?: number) {
    const transactionId = spec.transactionId ?? randomBytes(12);
    const request = encodeMessage({ ...spec, transactionId });
    await this.send(request, port, host);
    return { request, transactionId, reply: await this.waitFor(transactionId, timeoutMs) };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
