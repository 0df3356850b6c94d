// A small TURN client written from RFC 8656 (TURN) and RFC 8489 (STUN long-term credentials), independent of Ferry
// and of any TURN library, so the tests judge Ferry's credentials by what a TURN server does with them: Allocate
// over UDP or TCP, answer the 401 challenge, check the response's MESSAGE-INTEGRITY, and free the allocation.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import {
  COOKIE,
  crc32,
  type DecodedMessage,
  decodeMessage,
  decodeXorMappedAddress,
  type MappedAddress,
  tlv,
} from '../stun/client.ts';

// RFC 8656 §17 (methods) and §18 (attributes); RFC 8489 §18.3 for the STUN ones.
const METHOD = { ALLOCATE: 0x003, REFRESH: 0x004 } as const;
const CLASS = { REQUEST: 0x000, SUCCESS: 0x100, ERROR: 0x110 } as const;
const ATTR = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  LIFETIME: 0x000d,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  XOR_MAPPED_ADDRESS: 0x0020,
  FINGERPRINT: 0x8028,
} as const;
/** RFC 8656 §18.7: the protocol number of UDP, the only transport a relayed address can have here. */
const PROTOCOL_UDP = 17;

export interface Credentials {
  username: string;
  credential: string;
}

export type AllocateResult =
  | { ok: true; relayed: MappedAddress; mapped: MappedAddress; lifetime: number; integrityValid: boolean }
  | { ok: false; code: number; reason: string };

/** One request/response exchange over a transport; rejects if no response arrives in time. */
interface Exchange {
  request(message: Buffer, transactionId: Buffer, timeoutMs: number): Promise<Buffer>;
  close(): void;
}

export class TurnClient {
  private realm = '';
  private nonce = '';
  private key: Buffer = Buffer.alloc(0);

  private constructor(
    private readonly exchange: Exchange,
    private readonly credentials: Credentials,
  ) {}

  /** Open a client towards a TURN server at host:port over `transport` (RFC 8656 §3.1: UDP or TCP). */
  static async open(
    host: string,
    port: number,
    transport: 'udp' | 'tcp',
    credentials: Credentials,
  ): Promise<TurnClient> {
    const exchange = transport === 'udp' ? await udpExchange(host, port) : await tcpExchange(host, port);
    return new TurnClient(exchange, credentials);
  }

  /**
   * RFC 8656 §7.1/§7.3: an Allocate without credentials draws 401 with REALM and NONCE (RFC 8489 §9.2.4); the
   * retry carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY keyed with MD5(username:realm:password) (§9.2.2).
   */
  async allocate(timeoutMs = 3000): Promise<AllocateResult> {
    const transport = Buffer.from([PROTOCOL_UDP, 0, 0, 0]);
    const first = await this.send(METHOD.ALLOCATE, [tlv(ATTR.REQUESTED_TRANSPORT, transport)], false, timeoutMs);
    const challenge = readError(first);
    if (challenge?.code !== 401) throw new Error(`expected a 401 challenge, got ${describe(first)}`);
    this.learnChallenge(first);
    let response = await this.send(METHOD.ALLOCATE, [tlv(ATTR.REQUESTED_TRANSPORT, transport)], true, timeoutMs);
    // RFC 8489 §9.2.5: 438 Stale Nonce means "retry with the new nonce".
    if (readError(response)?.code === 438) {
      this.learnChallenge(response);
      response = await this.send(METHOD.ALLOCATE, [tlv(ATTR.REQUESTED_TRANSPORT, transport)], true, timeoutMs);
    }
    const error = readError(response);
    if (error) return { ok: false, ...error };
    if (classOf(response) !== CLASS.SUCCESS) throw new Error(`unexpected answer ${describe(response)}`);
    const relayed = attribute(response, ATTR.XOR_RELAYED_ADDRESS);
    const mapped = attribute(response, ATTR.XOR_MAPPED_ADDRESS);
    const lifetime = attribute(response, ATTR.LIFETIME);
    if (!relayed || !mapped || !lifetime) throw new Error(`Allocate success without its attributes`);
    return {
      ok: true,
      relayed: decodeXorMappedAddress(relayed, response.transactionId),
      mapped: decodeXorMappedAddress(mapped, response.transactionId),
      lifetime: lifetime.readUInt32BE(0),
      integrityValid: this.integrityValid(response.raw),
    };
  }

  /** RFC 8656 §7.2: a Refresh asking for `lifetime` seconds; 0 deletes the allocation. */
  async refresh(
    lifetime: number,
    timeoutMs = 3000,
  ): Promise<{ ok: true } | { ok: false; code: number; reason: string }> {
    const value = Buffer.alloc(4);
    value.writeUInt32BE(lifetime);
    const response = await this.send(METHOD.REFRESH, [tlv(ATTR.LIFETIME, value)], true, timeoutMs);
    const error = readError(response);
    return error ? { ok: false, ...error } : { ok: true };
  }

  async release(timeoutMs = 3000): Promise<void> {
    await this.refresh(0, timeoutMs);
  }

  close(): void {
    this.exchange.close();
  }

  private learnChallenge(response: Decoded): void {
    const realm = attribute(response, ATTR.REALM);
    const nonce = attribute(response, ATTR.NONCE);
    if (!realm || !nonce) throw new Error('a 401 without REALM and NONCE');
    this.realm = realm.toString('utf8');
    this.nonce = nonce.toString('utf8');
    // RFC 8489 §9.2.2 (MD5, the default password algorithm). The TURN REST credential is used as the password as is.
    this.key = createHash('md5')
      .update(`${this.credentials.username}:${this.realm}:${this.credentials.credential}`)
      .digest();
  }

  private async send(method: number, attributes: Buffer[], authenticate: boolean, timeoutMs: number) {
    const transactionId = randomBytes(12);
    const parts = [...attributes];
    if (authenticate) {
      parts.push(
        tlv(ATTR.USERNAME, Buffer.from(this.credentials.username, 'utf8')),
        tlv(ATTR.REALM, Buffer.from(this.realm, 'utf8')),
        tlv(ATTR.NONCE, Buffer.from(this.nonce, 'utf8')),
      );
    }
    const message = encode(method | CLASS.REQUEST, transactionId, parts, authenticate ? this.key : undefined);
    const raw = await this.exchange.request(message, transactionId, timeoutMs);
    return { ...decodeMessage(raw), raw };
  }

  /** RFC 8489 §14.5: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, the length field ending at it. */
  private integrityValid(raw: Buffer): boolean {
    const decoded = decodeMessage(raw);
    const mi = decoded.attributes.find((a) => a.type === ATTR.MESSAGE_INTEGRITY);
    if (!mi) return false;
    const covered = Buffer.from(raw.subarray(0, mi.offset));
    covered.writeUInt16BE(mi.offset + 24 - 20, 2);
    return createHmac('sha1', this.key).update(covered).digest().equals(mi.value);
  }
}

type Decoded = DecodedMessage & { raw: Buffer };

/** Header (RFC 8489 §5), attributes, then MESSAGE-INTEGRITY (§14.5) if keyed, then FINGERPRINT (§14.7). */
function encode(type: number, transactionId: Buffer, attributes: Buffer[], key: Buffer | undefined): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(COOKIE, 4);
  transactionId.copy(header, 8);
  let body = Buffer.concat(attributes);
  if (key) {
    header.writeUInt16BE(body.length + 24, 2);
    const hmac = createHmac('sha1', key)
      .update(Buffer.concat([header, body]))
      .digest();
    body = Buffer.concat([body, tlv(ATTR.MESSAGE_INTEGRITY, hmac)]);
  }
  header.writeUInt16BE(body.length + 8, 2);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(Buffer.concat([header, body])) ^ 0x5354554e) >>> 0);
  return Buffer.concat([header, body, tlv(ATTR.FINGERPRINT, crc)]);
}

// RFC 8489 §5: the class bits C1 (0x100) and C0 (0x010) are spread through the message type.
function classOf(message: DecodedMessage): number {
  return message.type & 0x110;
}

function attribute(message: DecodedMessage, type: number): Buffer | undefined {
  return message.attributes.find((a) => a.type === type)?.value;
}

/** RFC 8489 §14.8: ERROR-CODE is 21 reserved bits, a class (hundreds) of 3 bits, a number of 8, then a reason. */
function readError(message: DecodedMessage): { code: number; reason: string } | undefined {
  if (classOf(message) !== CLASS.ERROR) return undefined;
  const value = attribute(message, ATTR.ERROR_CODE);
  if (!value || value.length < 4) return { code: 0, reason: 'error response without ERROR-CODE' };
  return { code: ((value[2] ?? 0) & 0x07) * 100 + (value[3] ?? 0), reason: value.subarray(4).toString('utf8') };
}

function describe(message: DecodedMessage): string {
  const error = readError(message);
  return error ? `error ${error.code} ${error.reason}` : `type 0x${message.type.toString(16)}`;
}

async function udpExchange(host: string, port: number): Promise<Exchange> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, net.isIPv6(host) ? '::1' : '127.0.0.1', () => resolve());
  });
  const waiting = new Map<string, (m: Buffer) => void>();
  socket.on('message', (msg) => {
    if (msg.length >= 20) waiting.get(msg.subarray(8, 20).toString('hex'))?.(msg);
  });
  return {
    request(message, transactionId, timeoutMs) {
      const key = transactionId.toString('hex');
      return new Promise((resolve, reject) => {
        // RFC 8489 §6.2.1: over UDP a request is retransmitted until answered.
        const resend = setInterval(() => socket.send(message, port, host), 250);
        const timer = setTimeout(() => finish(new Error(`no TURN answer from ${host}:${port} (udp)`)), timeoutMs);
        const finish = (result: Buffer | Error) => {
          clearInterval(resend);
          clearTimeout(timer);
          waiting.delete(key);
          if (result instanceof Error) reject(result);
          else resolve(result);
        };
        waiting.set(key, finish);
        socket.send(message, port, host);
      });
    },
    close: () => socket.close(),
  };
}

async function tcpExchange(host: string, port: number): Promise<Exchange> {
  const socket = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', () => {}); // surfaces as a request timeout
  // RFC 8489 §6.2.2: over TCP, messages follow one another; each one's length is in its header.
  let buffered = Buffer.alloc(0);
  const waiting = new Map<string, (m: Buffer) => void>();
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 20 && buffered.length >= 20 + buffered.readUInt16BE(2)) {
      const message = buffered.subarray(0, 20 + buffered.readUInt16BE(2));
      buffered = buffered.subarray(message.length);
      waiting.get(message.subarray(8, 20).toString('hex'))?.(Buffer.from(message));
    }
  });
  return {
    request(message, transactionId, timeoutMs) {
      const key = transactionId.toString('hex');
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(key);
          reject(new Error(`no TURN answer from ${host}:${port} (tcp)`));
        }, timeoutMs);
        waiting.set(key, (m) => {
          clearTimeout(timer);
          waiting.delete(key);
          resolve(m);
        });
        socket.write(message);
      });
    },
    close: () => socket.destroy(),
  };
}
