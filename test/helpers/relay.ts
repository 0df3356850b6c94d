// Real clients for relay tests: a streaming sender and receiver over node:http, curl in the background,
// raw sockets for what no polite client sends, a deadline-bound poll, and random data files on disk.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let counter = 0;

/** A pipe path no other test uses. */
export function uniquePath(label = 'pipe'): string {
  counter += 1;
  return `/${label}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** Poll `check` until it holds; fail with `what` once `timeoutMs` has passed. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Reject when a promise takes longer than `ms`, so a hung transfer fails the test instead of stalling the suite. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RelayStats {
  waiting: number;
  waitingSenders: number;
  waitingReceivers: number;
  active: number;
}

/** The relay's counters, read from the public health endpoint. */
export async function relayStats(baseUrl: string): Promise<RelayStats> {
  const res = await request(`${baseUrl}/_/health`);
  return (JSON.parse(res.body.toString()) as { relay: RelayStats }).relay;
}

/** Wait until the server has registered what a test just started (receivers announce themselves to no one). */
export function waitForStats(baseUrl: string, check: (s: RelayStats) => boolean, what: string): Promise<void> {
  return until(async () => check(await relayStats(baseUrl)), what);
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** False when the response was cut before its end. */
  complete: boolean;
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: Buffer | string;
  localAddress?: string;
}

/** One complete request with node:http (no connection reuse). */
export function request(url: string, options: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false, localAddress: options.localAddress },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        const done = () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
            complete: res.complete,
          });
        res.once('end', done);
        res.once('error', done);
        res.once('aborted', done);
      },
    );
    req.once('error', reject);
    req.end(options.body);
  });
}

/** Header names of a response, lower-cased, in the order they were sent. */
export function headerNames(rawHeaders: string[]): string[] {
  return rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
}

export interface SenderResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  log: string;
  /** True when the sender's response ended normally, false when the server cut it. */
  complete: boolean;
}

export interface SenderOptions {
  method?: 'PUT' | 'POST';
  headers?: http.OutgoingHttpHeaders;
  /** Declare a Content-Length; without one the body is chunked. */
  contentLength?: number;
  localAddress?: string;
}

/** A sender whose body the test writes piece by piece, and whose progress log it can wait on. */
export class Sender {
  readonly req: http.ClientRequest;
  log = '';
  status: number | undefined;
  readonly result: Promise<SenderResult>;
  private readonly logWaiters = new Set<() => void>();

  constructor(url: string, options: SenderOptions = {}) {
    const headers: http.OutgoingHttpHeaders = { ...options.headers };
    if (options.contentLength !== undefined) headers['Content-Length'] = options.contentLength;
    this.req = http.request(url, {
      method: options.method ?? 'PUT',
      headers,
      agent: false,
      localAddress: options.localAddress,
    });
    this.result = new Promise((resolve, reject) => {
      this.req.once('response', (res) => {
        this.status = res.statusCode;
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          this.log += text;
          for (const wake of this.logWaiters) wake();
        });
        const done = () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, log: this.log, complete: res.complete });
        res.once('end', done);
        res.once('aborted', done);
        res.once('error', done);
      });
      // An error before any response (e.g. the server dropped us) is a failure the test should see.
      this.req.once('error', (err) => {
        if (this.status === undefined) reject(err);
      });
    });
    this.result.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    this.req.flushHeaders();
  }

  /** Write a chunk, honouring backpressure. */
  async write(chunk: Buffer | string): Promise<void> {
    if (!this.req.write(chunk)) await once(this.req, 'drain');
  }

  end(chunk?: Buffer | string): void {
    this.req.end(chunk);
  }

  /** Disconnect without finishing the body. */
  abort(): void {
    this.req.destroy();
  }

  /** Resolves once the log contains `text` (`times` times). */
  waitForLog(text: string, times = 1, timeoutMs = 10_000): Promise<void> {
    const count = () => this.log.split(text).length - 1;
    if (count() >= times) return Promise.resolve();
    return within(
      new Promise<void>((resolve) => {
        const wake = () => {
          if (count() < times) return;
          this.logWaiters.delete(wake);
          resolve();
        };
        this.logWaiters.add(wake);
      }),
      timeoutMs,
      `the sender log to show ${JSON.stringify(text)} x${times}; it is ${JSON.stringify(this.log)}`,
    );
  }
}

export interface ReceiverResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  bytes: number;
  sha256: string;
  /** False when the response was cut before its end. */
  complete: boolean;
}

export interface ReceiverOptions {
  headers?: http.OutgoingHttpHeaders;
  localAddress?: string;
  /** Keep the body in memory (default); otherwise only count and hash it. */
  keepBody?: boolean;
}

/** A receiver that hashes what it gets and can leave halfway. */
export class Receiver {
  readonly req: http.ClientRequest;
  bytes = 0;
  status: number | undefined;
  private res: http.IncomingMessage | undefined;
  readonly result: Promise<ReceiverResult>;
  private readonly byteWaiters = new Set<() => void>();

  constructor(url: string, options: ReceiverOptions = {}) {
    const keepBody = options.keepBody ?? true;
    this.req = http.request(url, { headers: options.headers, agent: false, localAddress: options.localAddress });
    this.result = new Promise((resolve, reject) => {
      this.req.once('response', (res) => {
        this.status = res.statusCode;
        this.res = res;
        const hash = createHash('sha256');
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          this.bytes += chunk.length;
          hash.update(chunk);
          if (keepBody) chunks.push(chunk);
          for (const wake of this.byteWaiters) wake();
        });
        let settled = false;
        const done = () => {
          if (settled) return;
          settled = true;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
            bytes: this.bytes,
            sha256: hash.digest('hex'),
            complete: res.complete,
          });
        };
        res.once('end', done);
        res.once('aborted', done);
        res.once('error', done);
        res.once('close', done);
      });
      this.req.once('error', (err) => {
        if (this.status === undefined) reject(err);
      });
    });
    this.result.catch(() => {});
    this.req.end();
  }

  /** Resolves once at least `count` body bytes have arrived. */
  waitForBytes(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.bytes >= count) return Promise.resolve();
    return within(
      new Promise<void>((resolve) => {
        const wake = () => {
          if (this.bytes < count) return;
          this.byteWaiters.delete(wake);
          resolve();
        };
        this.byteWaiters.add(wake);
      }),
      timeoutMs,
      `${count} bytes at the receiver (has ${this.bytes})`,
    );
  }

  abort(): void {
    this.req.destroy();
  }

  /** Stop reading (a slow receiver); bytes wait in the socket buffers and backpressure does the rest. */
  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }
}

export interface CurlRun {
  child: ChildProcess;
  /** curl's exit code, its stdout (hashed; kept too unless hashOnly) and stderr. */
  result: Promise<{ code: number | null; stdout: Buffer; bytes: number; sha256: string; stderr: string }>;
}

/**
 * curl in the background. `stdin` may be data or a file path to stream from (for `-T -`).
 * With `hashOnly`, stdout is hashed and counted but not kept (for large bodies).
 */
export function startCurl(
  args: string[],
  options: { stdin?: Buffer | string; stdinFile?: string; hashOnly?: boolean } = {},
): CurlRun {
  const fd = options.stdinFile === undefined ? undefined : openSync(options.stdinFile, 'r');
  const child = spawn('curl', ['--silent', '--show-error', ...args], {
    stdio: [fd ?? 'pipe', 'pipe', 'pipe'],
  });
  if (fd !== undefined) closeSync(fd);
  else child.stdin?.end(options.stdin);
  const result = new Promise<Awaited<CurlRun['result']>>((resolve, reject) => {
    const hash = createHash('sha256');
    const out: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
      if (!options.hashOnly) out.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out), bytes, sha256: hash.digest('hex'), stderr }),
    );
  });
  return { child, result };
}

export interface RawResponse {
  statusLine: string;
  /** Header lines in order, names as sent. */
  headers: Array<[string, string]>;
  /** The body, de-chunked when the response was chunked. */
  body: Buffer;
}

/** Look a header up by name (case-insensitive); all values, in order. */
export function rawHeader(response: RawResponse, name: string): string[] {
  return response.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

/** Split one HTTP/1.x response as it came off the wire. */
export function parseResponse(data: Buffer): RawResponse {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`no complete response head in ${JSON.stringify(data.toString('latin1'))}`);
  const [statusLine = '', ...lines] = data.toString('latin1', 0, headEnd).split('\r\n');
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  let body = data.subarray(headEnd + 4);
  const chunked = headers.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v));
  if (chunked) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at);
      if (lineEnd < 0) break;
      const size = Number.parseInt(body.toString('latin1', at, lineEnd), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { statusLine, headers, body };
}

/** A raw TCP client: bytes exactly as the test writes them, everything the server sends back. */
export class RawClient {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  closed = false;
  readonly whenClosed: Promise<Buffer>;
  private readonly waiters = new Set<() => void>();

  constructor(port: number, options: { localAddress?: string } = {}) {
    this.socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    this.socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      for (const wake of this.waiters) wake();
    });
    // A reset from the server is a way of closing too; the test looks at what arrived before it.
    this.socket.on('error', () => {});
    this.whenClosed = new Promise((resolve) => {
      this.socket.once('close', () => {
        this.closed = true;
        for (const wake of this.waiters) wake();
        resolve(this.received);
      });
    });
  }

  send(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Resolves once what was received satisfies `check` (or the socket closed, which fails unless it satisfies it). */
  waitFor(check: (received: Buffer) => boolean, what: string, timeoutMs = 10_000): Promise<Buffer> {
    if (check(this.received)) return Promise.resolve(this.received);
    return within(
      new Promise<Buffer>((resolve, reject) => {
        const wake = () => {
          if (check(this.received)) {
            this.waiters.delete(wake);
            resolve(this.received);
          } else if (this.closed) {
            this.waiters.delete(wake);
            reject(new Error(`closed before ${what}; got ${JSON.stringify(this.received.toString('latin1'))}`));
          }
        };
        this.waiters.add(wake);
      }),
      timeoutMs,
      what,
    );
  }

  /** Resolves with everything received once the server closes the connection. */
  untilClosed(timeoutMs = 10_000): Promise<Buffer> {
    return within(this.whenClosed, timeoutMs, 'the server to close the connection');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Send `data` on a fresh connection and return everything the server answers before it closes. */
export async function rawExchange(port: number, data: string | Buffer, timeoutMs = 10_000): Promise<Buffer> {
  const client = new RawClient(port);
  client.send(data);
  try {
    return await client.untilClosed(timeoutMs);
  } finally {
    client.destroy();
  }
}

export interface RandomFile {
  path: string;
  size: number;
  sha256: string;
  remove(): void;
}

/** A file of random bytes in a fresh temp directory, with its hash. */
export function randomFile(size: number): RandomFile {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-relay-'));
  const path = join(dir, 'random.bin');
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  const chunkSize = 4 * 1024 * 1024;
  try {
    for (let written = 0; written < size; written += chunkSize) {
      const chunk = randomBytes(Math.min(chunkSize, size - written));
      hash.update(chunk);
      writeSync(fd, chunk);
    }
  } finally {
    closeSync(fd);
  }
  return { path, size, sha256: hash.digest('hex'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A hung transfer fails its suite after this long instead of stalling the run (the after hooks still close). */
export const SUITE_TIMEOUT = 60_000;
/** For suites that move hundreds of MiB. */
export const BIG_SUITE_TIMEOUT = 180_000;
