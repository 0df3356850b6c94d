// Shared by the WebSocket entrances: open a `ws` client that records every message and how the socket closed,
// and the close codes that count as a proper end (a code the server chose, never an abnormal drop or 1011).
import net from 'node:net';
import WebSocket from 'ws';
import { mutateBytes, type Rng } from './rng.ts';

export interface Recorded {
  ws: WebSocket;
  messages: Array<{ data: Buffer; isBinary: boolean }>;
  /** Resolves when the socket has closed: the code (1006 when the connection dropped without a close frame). */
  closed: Promise<number>;
  /** Wake when a message arrives or the socket closes. */
  wait(check: () => boolean, ms: number): Promise<boolean>;
}

/** Opens a socket; resolves with the HTTP status instead when the server refused the upgrade. */
export function openRecorded(url: string): Promise<Recorded | { status: number }> {
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 8000 });
    } catch {
      // A URL the client refuses to send: not an input the server ever sees.
      return resolve({ status: -1 });
    }
    const messages: Recorded['messages'] = [];
    const wakers = new Set<() => void>();
    const wake = () => {
      for (const waker of wakers) waker();
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      messages.push({ data, isBinary });
      wake();
    });
    const closed = new Promise<number>((done) =>
      ws.once('close', (code) => {
        done(code);
        wake();
      }),
    );
    ws.on('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once('error', () => resolve({ status: 0 }));
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        closed,
        wait(check, ms) {
          return new Promise((done) => {
            const finish = (result: boolean) => {
              clearTimeout(timer);
              wakers.delete(waker);
              done(result);
            };
            const waker = () => {
              if (check() || ws.readyState === WebSocket.CLOSED) finish(check());
            };
            const timer = setTimeout(() => finish(check()), ms);
            wakers.add(waker);
            waker();
          });
        },
      }),
    );
  });
}

/** Close codes a server may end a fuzzed socket with: normal, going away, protocol error, unsupported data,
 * no status (our own close echoed), invalid payload, policy, too big, and the application's 4000-4999. */
export function properClose(code: number): boolean {
  return [1000, 1001, 1002, 1003, 1005, 1007, 1008, 1009].includes(code) || (code >= 4000 && code <= 4999);
}

/** Our side is done: close, and wait (bounded) for the server to finish the closing handshake. */
export async function finish(socket: Recorded, ms = 8000): Promise<number | 'hang'> {
  if (socket.ws.readyState === WebSocket.OPEN) socket.ws.close(1000);
  const code = await Promise.race([socket.closed, new Promise<'hang'>((r) => setTimeout(() => r('hang'), ms))]);
  if (code === 'hang') socket.ws.terminate();
  return code;
}

/** Random, mostly valid WebSocket frames at the byte level (for the raw-frame part of each entrance). */
export function wsFrame(opcode: number, payload: Buffer, { fin = true, mask = true, rsv = 0 } = {}): Buffer {
  const length = payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else if (length < 65536) head.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    head.push(maskBit | 127, 0, 0, 0, 0);
    head.push((length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] ?? 0) ^ (key[i % 4] ?? 0);
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/**
 * A WebSocket upgrade over raw TCP (its headers sometimes wrong), then raw frames (odd opcodes, reserved bits,
 * unmasked, fragmented, oversized lengths), then a half-close. The server must answer the upgrade below 500 and
 * close the connection in time; anything else is a finding, described.
 */
export function rawWebSocket(
  port: number,
  path: string,
  frames: Buffer,
  badHandshake: boolean,
): Promise<string | undefined> {
  const headers = [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    badHandshake ? 'Upgrade: websocket, h2c' : 'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${badHandshake ? 'not base64!' : 'dGhlIHNhbXBsZSBub25jZQ=='}`,
    `Sec-WebSocket-Version: ${badHandshake ? '8' : '13'}`,
  ];
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(
        `no close within 8000 ms after the client finished; answered ${JSON.stringify(received.subarray(0, 80).toString('latin1'))}`,
      );
    }, 8000);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received.toString('latin1'))?.[1];
      resolve(status !== undefined && Number(status) >= 500 ? `answered the upgrade ${status}` : undefined);
    });
    socket.on('connect', () => socket.end(Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`), frames])));
  });
}

/** Frames for rawWebSocket: each of a few kinds, with `text` as the payload of the well-formed ones. */
export function rawFrames(rng: Rng, text: string): Buffer {
  const frames: Buffer[] = [];
  for (let i = rng.range(1, 4); i > 0; i--) {
    const payload = rng.chance(0.6) ? Buffer.from(text) : rng.bytes(rng.size(200));
    switch (rng.int(8)) {
      case 0:
        frames.push(wsFrame(rng.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xf]), payload));
        break;
      case 1:
        frames.push(wsFrame(1, payload, { rsv: rng.range(1, 7) }));
        break;
      case 2:
        frames.push(wsFrame(1, payload, { mask: false }));
        break;
      case 3:
        // Fragments: a start, maybe a control frame in between, maybe no end.
        frames.push(wsFrame(1, payload.subarray(0, 3), { fin: false }), wsFrame(9, Buffer.from('p')));
        if (rng.chance(0.7)) frames.push(wsFrame(0, payload.subarray(3)));
        break;
      case 4:
        frames.push(wsFrame(rng.pick([8, 9, 10]), rng.bytes(rng.pick([0, 1, 2, 125, 126]))));
        break;
      case 5: {
        // A header that claims far more than follows.
        const head = wsFrame(2, Buffer.alloc(0));
        head[1] = 0x80 | 127;
        frames.push(
          Buffer.concat([
            head.subarray(0, 2),
            Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Buffer.alloc(4),
          ]),
        );
        break;
      }
      case 6:
        frames.push(wsFrame(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from([0xff, 0xfe])])));
        break;
      default:
        frames.push(wsFrame(rng.chance(0.5) ? 1 : 2, payload));
    }
  }
  const bytes = Buffer.concat(frames);
  return rng.chance(0.2) ? mutateBytes(rng, bytes) : bytes;
}
