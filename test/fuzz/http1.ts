// The HTTP relay over raw HTTP/1 on TCP: requests built from parts (method, target with percent-escapes and control
// characters, query, version, headers with Content-Type/Content-Length/Transfer-Encoding, chunked and multipart
// bodies with broken part headers), then sometimes damaged byte by byte. Half of the uploads meet an honest receiver.
// After the request the client half-closes; the server must answer with statuses below 500 and close in time.
import http from 'node:http';
import net from 'node:net';
import type { Entrance, Finding, Target } from './harness.ts';
import { describeInput, mutateBytes, type Rng } from './rng.ts';

const CLOSE_DEADLINE_MS = 8000;

const METHODS = ['GET', 'PUT', 'POST', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH', 'TRACE', 'CONNECT', 'get', 'PRI', 'X'];
const BASE_PATHS = [
  '/',
  '/_/health',
  '/_/ice',
  '/_/app/',
  '/_/app/x.js',
  '/_/nope',
  '/noscript',
  '/help',
  '/register',
  '/offer',
  '/_/pipe',
  '/_/ws',
];
const SEGMENTS = [
  'a',
  '%00',
  '%01',
  '%0A',
  '%7F',
  '%zz',
  '%',
  '%E2%82%AC',
  '%F0%9F%98%80',
  '%E2%80%AE',
  '%C0%AF',
  '..',
  '.',
  '',
  '_',
  '€',
  '\x01',
  '\x7f',
  ' ',
  '\t',
  '"',
  '<script>',
];
const QUERIES = [
  '',
  '?n=1',
  '?n=2',
  '?n=0',
  '?n=-1',
  '?n=1e9',
  '?n=abc',
  '?n=1&n=2',
  '?n=%31',
  '?',
  '?&&',
  '?a=%zz',
  '?n=99999999999999999999',
];
const VERSIONS = [
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/2.0',
  'HTTP/0.9',
  'HTTP/1.2',
  'http/1.1',
  'HTTP/11',
  '',
];
const CONTENT_TYPES = [
  'application/octet-stream',
  'text/plain',
  'text/html',
  'text/html x',
  'text/html (x)',
  'text/html\tx',
  'image/svg+xml (x)',
  'multipart/form-data',
  'multipart/form-data; boundary=',
  'multipart/form-data; boundary="',
  'multipart/form-data; boundary=b; boundary=c',
  ';;;',
  '',
];

export interface RawRequest {
  bytes: Buffer;
  method: string;
  path: string;
  /** True when an honest receiver waits on the path. */
  withReceiver: boolean;
}

export function generateRequest(rng: Rng, id: string): RawRequest {
  const method = rng.pick(METHODS);
  const pipe = `/fz-${id}`;
  let path = rng.chance(0.6) ? pipe : rng.pick(BASE_PATHS);
  for (let i = rng.int(3); i > 0; i--) path += `/${rng.pick(SEGMENTS)}`;
  if (rng.chance(0.05)) path = rng.pick(['*', `http://127.0.0.1${pipe}`, `//x${pipe}`, pipe.slice(1), '']);
  const target = path + rng.pick(QUERIES);
  const headers: Array<[string, string]> = [];
  if (rng.chance(0.9)) headers.push(['Host', rng.pick(['127.0.0.1', 'x', '', '[::1]:1', 'a b', '\u00e9'])]);
  let body: Buffer = Buffer.alloc(0);
  const upload = method !== 'GET' && method !== 'HEAD' && rng.chance(0.9);
  if (upload) {
    const kind = rng.int(3);
    const boundary = rng.pick(['b', 'boundary123', '-', 'x'.repeat(71), 'é', 'a b']);
    if (kind === 0) {
      body = multipart(rng, boundary);
      headers.push([
        'Content-Type',
        rng.chance(0.8) ? `multipart/form-data; boundary=${boundary}` : rng.pick(CONTENT_TYPES),
      ]);
    } else {
      body = rng.bytes(rng.size(8192));
      if (rng.chance(0.7)) headers.push(['Content-Type', rng.pick(CONTENT_TYPES)]);
    }
    const framing = rng.int(6);
    if (framing <= 2) headers.push(['Content-Length', contentLength(rng, body.length)]);
    else if (framing <= 4) {
      headers.push([
        'Transfer-Encoding',
        rng.pick(['chunked', 'chunked', 'gzip, chunked', 'chunked, identity', 'identity', 'Chunked']),
      ]);
      body = chunked(rng, body);
      if (rng.chance(0.1)) headers.push(['Content-Length', String(body.length)]);
    }
  }
  for (let i = rng.int(4); i > 0; i--) headers.push(oddHeader(rng));
  let head = `${method} ${target} ${rng.pick(VERSIONS)}`.trimEnd();
  for (const [name, value] of headers) head += `\r\n${name}: ${value}`;
  let bytes: Buffer = Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), body]);
  if (rng.chance(0.3)) bytes = mutateBytes(rng, bytes);
  const withReceiver = upload && path.startsWith(pipe) && rng.chance(0.5);
  return { bytes, method, path: pipe, withReceiver };
}

function contentLength(rng: Rng, length: number): string {
  return rng.pick([
    String(length),
    String(length),
    String(length + 1),
    String(Math.max(0, length - 1)),
    '-1',
    '',
    ' 5',
    '1e3',
    '0x10',
    '99999999999999999999',
    `${length}, ${length}`,
  ]);
}

function oddHeader(rng: Rng): [string, string] {
  return rng.pick<[string, string]>([
    ['Expect', '100-continue'],
    ['Expect', 'x'],
    ['Connection', rng.pick(['close', 'keep-alive', 'Upgrade', 'upgrade, close'])],
    ['Upgrade', rng.pick(['websocket', 'h2c', 'x'])],
    ['Content-Length', rng.pick(['0', '1', '-0', '+1'])],
    ['Transfer-Encoding', 'chunked'],
    ['Range', 'bytes=0-1'],
    ['Origin', 'http://evil.example'],
    ['Access-Control-Request-Method', 'PUT'],
    ['Access-Control-Request-Private-Network', 'true'],
    ['X-Long', 'x'.repeat(rng.pick([100, 9000, 20000]))],
    ['Bad Name', 'x'],
    ['X-Fold', 'a\r\n b'],
    ['X-Nul', 'a\x00b'],
    ['', 'empty name'],
    ['X-Utf8', '\u00ff\u00e9'],
  ]);
}

function chunked(rng: Rng, body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const len = Math.min(body.length - at, rng.range(1, 4096));
    const size = rng.chance(0.05)
      ? rng.pick(['zz', '-1', 'ffffffffffffffff', `${len.toString(16)};ext=1`, ' '])
      : len.toString(16);
    parts.push(Buffer.from(`${size}\r\n`), body.subarray(at, at + len), Buffer.from('\r\n'));
    at += len;
  }
  if (rng.chance(0.9)) parts.push(Buffer.from(rng.chance(0.9) ? '0\r\n\r\n' : '0\r\nX-Trailer: 1\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A multipart/form-data body of one or two parts, whose part headers are sometimes broken. */
function multipart(rng: Rng, boundary: string): Buffer {
  const parts: Buffer[] = [];
  for (let i = rng.range(1, 2); i > 0; i--) {
    const headers = [
      rng.pick([
        'Content-Disposition: form-data; name="input_data"; filename="a.txt"',
        'Content-Disposition: form-data; name="x"',
        'Content-Disposition: attachment',
        'Content-Disposition:',
        'X: y',
      ]),
    ];
    if (rng.chance(0.6)) headers.push(`Content-Type: ${rng.pick(CONTENT_TYPES)}`);
    let head = headers.join('\r\n');
    if (rng.chance(0.4)) {
      const at = rng.int(head.length + 1);
      head =
        head.slice(0, at) + rng.pick(['\x01', '\r', '\n', '\x00', '\x7f', '\r\r', ': ', '\u00e9']) + head.slice(at);
    }
    const separator = rng.chance(0.9) ? '\r\n\r\n' : rng.pick(['\n\n', '\r\n', '']);
    parts.push(
      Buffer.from(`--${boundary}\r\n${head}${separator}`, 'latin1'),
      rng.bytes(rng.size(4096)),
      Buffer.from('\r\n'),
    );
  }
  if (rng.chance(0.85)) parts.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(parts);
}

/** The status codes of every response in `data` (a client may pipeline, and a 100 Continue comes first). */
function statuses(data: Buffer): number[] {
  return [...data.toString('latin1').matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

interface Exchange {
  /** Everything the server sent, and whether it closed the connection before the deadline. */
  data: Buffer;
  closed: boolean;
}

function exchange(port: number, bytes: Buffer): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed: false });
    }, CLOSE_DEADLINE_MS);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: true });
    });
    socket.on('connect', () => {
      socket.end(bytes);
    });
  });
}

/** An honest receiver on `path`: its status (0 if it got none), ended whichever way the transfer ends. */
function receiver(url: string, path: string): { status: Promise<number>; stop(): void } {
  let req: http.ClientRequest | undefined;
  const status = new Promise<number>((resolve) => {
    req = http.get(`${url}${path}`, { agent: false }, (res) => {
      res.resume();
      res.on('close', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
  return { status, stop: () => req?.destroy() };
}

export function checkHttpAnswer(input: Buffer, ex: Exchange, extra: number[] = []): Finding[] {
  const findings: Finding[] = [];
  if (!ex.closed)
    findings.push({
      input: describeInput(input),
      problem: `no close within ${CLOSE_DEADLINE_MS} ms after the client finished`,
    });
  for (const status of [...statuses(ex.data), ...extra]) {
    if (status >= 500)
      findings.push({ input: describeInput(input), problem: `answered ${status}: ${describeInput(ex.data, 300)}` });
  }
  if (ex.data.length > 0 && !ex.data.subarray(0, 7).equals(Buffer.from('HTTP/1.'))) {
    findings.push({
      input: describeInput(input),
      problem: `an answer that is not HTTP/1: ${describeInput(ex.data, 100)}`,
    });
  }
  return findings;
}

let counter = 0;

export const http1Entrance: Entrance = {
  name: 'http1',
  perBatch: 1,
  concurrency: 16,
  async batch(rng: Rng, target: Target) {
    const request = generateRequest(rng, `${process.pid}-${counter++}`);
    const honest = request.withReceiver ? receiver(target.url, request.path) : undefined;
    const ex = await exchange(target.port, request.bytes);
    // By the time the sender's connection is closed the receiver has its answer, or it waits for a sender that never
    // came (the server refused this one before it was a sender).
    const receiverStatus = honest
      ? await Promise.race([honest.status, new Promise<number>((r) => setTimeout(() => r(0), 20))])
      : 0;
    honest?.stop();
    return checkHttpAnswer(request.bytes, ex, receiverStatus ? [receiverStatus] : []);
  },
};
