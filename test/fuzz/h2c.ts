// The HTTP relay over h2c (HTTP/2 without TLS, prior knowledge), two ways: node:http2 requests with odd headers
// and bodies (statuses must stay below 500), and raw frames built by hand (a preface, SETTINGS, HEADERS in HPACK
// literals with odd pseudo-headers and names node:http2 would refuse to send, DATA, frames of every type, on odd
// streams), sometimes damaged byte by byte. A PING ends the raw frames: while the framing is intact the server must
// answer it (or end the connection: GOAWAY or a close); the connection is then dropped, and the server must clean up
// after it.
import http2 from 'node:http2';
import net from 'node:net';
import type { Entrance, Finding, Target } from './harness.ts';
import { describeInput, mutateBytes, type Rng } from './rng.ts';

const DEADLINE_MS = 8000;
/** FERRY_FUZZ_H2=raw or client: only one of the two kinds (to tell which one a finding comes from). */
const ONLY = process.env.FERRY_FUZZ_H2;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

const PATHS = [
  '/',
  '/_/health',
  '/_/ice',
  '/_/app/',
  '/_/nope',
  '/noscript',
  '/%00',
  '/%zz',
  '/%E2%80%AE',
  '/a/../b',
  '*',
  '',
  'x',
];
const METHODS = ['GET', 'PUT', 'POST', 'HEAD', 'OPTIONS', 'DELETE', 'CONNECT', 'X'];

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** Literal header fields without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
function hpack(headers: Array<[string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    out.push(0x00, ...hpackInt(n.length, 7), ...n, ...hpackInt(v.length, 7), ...v);
  }
  return Buffer.from(out);
}

const PING_DATA = Buffer.from('ferryfz!');

function rawConnection(rng: Rng, path: string): { bytes: Buffer; framed: boolean } {
  const frames: Buffer[] = [rng.chance(0.95) ? PREFACE : mutateBytes(rng, PREFACE)];
  const settings = Buffer.alloc(6 * rng.int(4));
  for (let i = 0; i < settings.length; i += 6) {
    settings.writeUInt16BE(rng.pick([1, 2, 3, 4, 5, 6, 8, 0, 0xffff]), i);
    settings.writeUInt32BE(rng.pick([0, 1, 100, 16_384, 2 ** 31 - 1, 2 ** 32 - 1, 16_777_216]) >>> 0, i + 2);
  }
  frames.push(frame(4, 0, 0, settings));
  let stream = rng.chance(0.9) ? 1 : rng.pick([0, 2, 3, 2 ** 31 - 1]);
  for (let r = rng.range(1, 3); r > 0; r--) {
    const method = rng.pick(METHODS);
    const headers: Array<[string, string]> = [
      [':method', method],
      [':scheme', rng.pick(['http', 'https', 'x', ''])],
      [':path', rng.chance(0.5) ? `${path}${r}` : rng.pick(PATHS)],
      [':authority', rng.pick(['127.0.0.1', '', 'a b'])],
    ];
    for (let i = rng.int(4); i > 0; i--) {
      headers.push(
        rng.pick<[string, string]>([
          ['content-length', rng.pick(['0', '5', '1000', '-1', 'x', '99999999999999999999'])],
          ['content-type', rng.pick(['text/html x', 'multipart/form-data; boundary=b', 'text/plain'])],
          ['connection', 'keep-alive'],
          ['te', rng.pick(['trailers', 'gzip'])],
          ['transfer-encoding', 'chunked'],
          ['Upper', 'x'],
          [':protocol', 'websocket'],
          [':status', '200'],
          [':method', 'GET'],
          ['x-nul', 'a\x00b'],
          ['x-crlf', 'a\r\nb'],
          ['', 'x'],
          ['x-long', 'x'.repeat(rng.pick([100, 20_000]))],
        ]),
      );
    }
    if (rng.chance(0.2)) headers.reverse();
    const block = hpack(headers);
    const endStream = method === 'GET' || method === 'HEAD' ? 0x1 : 0;
    if (rng.chance(0.1) && block.length > 2) {
      const cut = rng.int(block.length);
      frames.push(frame(1, endStream, stream, block.subarray(0, cut)), frame(9, 0x4, stream, block.subarray(cut)));
    } else frames.push(frame(1, 0x4 | endStream, stream, block));
    if (!endStream) {
      for (let i = rng.int(3); i > 0; i--) frames.push(frame(0, 0, stream, rng.bytes(rng.size(4096))));
      if (rng.chance(0.8)) frames.push(frame(0, 0x1, stream, Buffer.alloc(0)));
    }
    for (let i = rng.int(3); i > 0; i--) {
      const type = rng.pick([2, 3, 4, 6, 7, 8, 9, 0x0a, 0xff]);
      const on = rng.pick([0, stream, stream + 2]);
      const payload = type === 8 || type === 3 ? rng.bytes(4) : type === 6 ? rng.bytes(8) : rng.bytes(rng.size(64));
      frames.push(frame(type, rng.next() & 0xff, on, payload));
    }
    stream += 2;
  }
  let bytes = Buffer.concat(frames);
  const framed = !rng.chance(0.3);
  if (!framed) bytes = Buffer.concat([PREFACE, mutateBytes(rng, bytes.subarray(PREFACE.length))]);
  return { bytes: Buffer.concat([bytes, frame(6, 0, 0, PING_DATA)]), framed };
}

/**
 * Send the frames; resolves true once the server acknowledged the closing PING or ended the connection, false
 * when it did neither within `waitMs`. The socket is dropped either way.
 */
function rawExchange(port: number, bytes: Buffer, waitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let received = Buffer.alloc(0);
    const finish = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // Frame headers only (no HPACK needed): look for GOAWAY, or PING with the ACK flag and our payload.
      for (let at = 0; at + 9 <= received.length; ) {
        const length = received.readUIntBE(at, 3);
        if (received[at + 3] === 7) return finish(true);
        if (received[at + 3] === 6 && (received[at + 4] ?? 0) & 1 && at + 9 + length <= received.length) {
          if (received.subarray(at + 9, at + 9 + length).equals(PING_DATA)) return finish(true);
        }
        at += 9 + length;
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    socket.on('connect', () => socket.write(bytes));
  });
}

/** One node:http2 request with odd headers: the status, or 0 when the stream was reset or never answered. */
async function clientRequest(rng: Rng, target: Target, path: string): Promise<Finding[]> {
  const method = rng.pick(['GET', 'PUT', 'POST', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH']);
  const headers: http2.OutgoingHttpHeaders = {
    ':method': method,
    ':path': rng.chance(0.6)
      ? `${path}${rng.pick(['', '?n=1', '?n=0', '?n=x', '?n=2'])}`
      : rng.pick(PATHS.filter((p) => p.startsWith('/'))),
  };
  if (rng.chance(0.5))
    headers['content-type'] = rng.pick([
      'text/html x',
      'image/svg+xml (x)',
      'multipart/form-data; boundary=b',
      'text/plain',
      '',
    ]);
  if (rng.chance(0.3)) headers['content-length'] = rng.pick(['0', '5', '1000', '1']);
  if (rng.chance(0.2)) headers['x-odd'] = rng.pick(['\u00e9', 'a;b', '"', 'x'.repeat(8000)]);
  if (rng.chance(0.1)) headers.te = 'trailers';
  const description = JSON.stringify(headers).slice(0, 300);
  const session = http2.connect(target.url);
  session.on('error', () => {});
  try {
    const status = await new Promise<number | 'hang'>((resolve) => {
      const timer = setTimeout(() => resolve('hang'), DEADLINE_MS);
      const done = (value: number) => {
        clearTimeout(timer);
        resolve(value);
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: method === 'GET' || method === 'HEAD' });
      } catch {
        return done(0); // node:http2 refused to send it: not an input the server ever sees.
      }
      stream.on('response', (h) => {
        // A waiting sender or receiver is answered when its peer comes; the answer so far is what counts.
        done(Number(h[':status']));
      });
      stream.on('error', () => done(0));
      stream.on('close', () => done(0));
      if (method !== 'GET' && method !== 'HEAD') stream.end(rng.bytes(rng.size(2048)));
      // A pipe without its other side waits; that is not a hang, so stop asking after a moment.
      setTimeout(() => done(0), 200).unref();
    });
    if (status === 'hang') return [{ input: description, problem: 'no answer and no reset' }];
    if (status >= 500) return [{ input: description, problem: `answered ${status}` }];
    return [];
  } finally {
    session.destroy();
  }
}

let counter = 0;

export const h2cEntrance: Entrance = {
  name: 'h2c',
  perBatch: 1,
  concurrency: 16,
  async batch(rng: Rng, target: Target) {
    const path = `/fz2-${process.pid}-${counter++}`;
    if (ONLY === 'client' || (ONLY !== 'raw' && rng.chance(0.5))) return clientRequest(rng, target, path);
    const { bytes, framed } = rawConnection(rng, path);
    // Damaged framing may leave the server waiting for the rest of a frame, which is no answer to expect.
    const answered = await rawExchange(target.port, bytes, framed ? DEADLINE_MS : 200);
    return answered || !framed
      ? []
      : [
          {
            input: describeInput(bytes),
            problem: `neither a PING ACK nor a GOAWAY nor a close within ${DEADLINE_MS} ms`,
          },
        ];
  },
};
