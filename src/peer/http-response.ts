// An HTTP/1.1 response read as bytes arrive (RFC 9112): the status line and headers, then the body by chunked
// transfer coding (§7.1), Content-Length (§6.2) or the connection's close (§6.3). It hands the body over as views of
// the bytes it was given, never copying or allocating per piece, which is why the relay client (relay-pipe.ts) reads
// its pipes with it instead of node:http, whose parser copies every body chunk into a fresh buffer.

/** A response that is not HTTP/1.1 as we know it, or that stops before its body ends. */
export class HttpResponseError extends Error {
  override readonly name = 'HttpResponseError';
}

export interface ResponseHandlers {
  /** The final status line and headers (names lower-case). Interim 1xx responses are skipped. */
  head(status: number, headers: Map<string, string>): void;
  /** The next piece of the body: a view of the pushed bytes, valid until the handler returns. */
  body(piece: Uint8Array): void;
  /** The body is complete. */
  end(): void;
}

/** The most a status line and its headers may take, and a chunk-size or trailer line. */
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_LINE_BYTES = 4096;
const LF = 10;
const latin1 = new TextDecoder('latin1');

type State = 'head' | 'size' | 'data' | 'data-end' | 'trailers' | 'length' | 'close' | 'done';

export class ResponseParser {
  readonly #on: ResponseHandlers;
  #state: State = 'head';
  /** The head's lines so far, and their size. */
  #lines: string[] = [];
  #headBytes = 0;
  /** A line cut across pushes, as far as it has come. */
  #partial = '';
  /** Bytes left in the current chunk or the Content-Length body. */
  #left = 0;

  constructor(handlers: ResponseHandlers) {
    this.#on = handlers;
  }

  push(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.#state === 'data' || this.#state === 'length') {
        const n = Math.min(this.#left, bytes.length - at);
        this.#on.body(bytes.subarray(at, at + n));
        at += n;
        this.#left -= n;
        if (this.#left > 0) return;
        if (this.#state === 'data') this.#state = 'data-end';
        else this.#finish();
        continue;
      }
      if (this.#state === 'close') {
        this.#on.body(at === 0 ? bytes : bytes.subarray(at));
        return;
      }
      if (this.#state === 'done') throw new HttpResponseError('bytes after the end of the response');
      const end = bytes.indexOf(LF, at);
      const stop = end < 0 ? bytes.length : end + 1;
      const line = this.#partial + latin1.decode(bytes.subarray(at, stop));
      at = stop;
      if (line.length > (this.#state === 'head' ? MAX_HEAD_BYTES : MAX_LINE_BYTES)) {
        throw new HttpResponseError(
          this.#state === 'data-end' ? 'a chunk is longer than its size' : 'a line is too long',
        );
      }
      if (end < 0) {
        this.#partial = line;
        return;
      }
      this.#partial = '';
      this.#line(line.endsWith('\r\n') ? line.slice(0, -2) : line.slice(0, -1));
    }
  }

  /** The connection ended: the end of a body delimited by it, or a cut anywhere else. */
  finish(): void {
    if (this.#state === 'close') return this.#finish();
    if (this.#state !== 'done') throw new HttpResponseError('the connection closed before the end of the response');
  }

  #line(line: string): void {
    switch (this.#state) {
      case 'head':
        this.#headBytes += line.length + 2;
        if (this.#headBytes > MAX_HEAD_BYTES) throw new HttpResponseError('the response head is too long');
        if (line !== '') this.#lines.push(line);
        else {
          const lines = this.#lines;
          this.#lines = [];
          this.#headBytes = 0;
          this.#head(lines);
        }
        return;
      case 'size': {
        const size = line.split(';', 1)[0]?.trim() ?? '';
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new HttpResponseError(`bad chunk size ${JSON.stringify(size)}`);
        this.#left = Number.parseInt(size, 16);
        this.#state = this.#left === 0 ? 'trailers' : 'data';
        return;
      }
      case 'data-end':
        if (line !== '') throw new HttpResponseError('a chunk is longer than its size');
        this.#state = 'size';
        return;
      case 'trailers':
        if (line === '') this.#finish();
        return;
    }
  }

  #head([statusLine = '', ...lines]: string[]): void {
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (!match) throw new HttpResponseError(`not an HTTP/1.1 response: ${JSON.stringify(statusLine.slice(0, 80))}`);
    const status = Number(match[1]);
    if (status < 200) return;
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new HttpResponseError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    this.#on.head(status, headers);
    const coding = headers.get('transfer-encoding')?.toLowerCase();
    const length = headers.get('content-length');
    if (coding !== undefined) {
      if (coding.split(',').at(-1)?.trim() !== 'chunked') throw new HttpResponseError(`unsupported coding ${coding}`);
      this.#state = 'size';
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length)) throw new HttpResponseError(`bad Content-Length ${JSON.stringify(length)}`);
      this.#left = Number(length);
      if (this.#left === 0) this.#finish();
      else this.#state = 'length';
    } else if (status === 204 || status === 304) this.#finish();
    else this.#state = 'close';
  }

  #finish(): void {
    this.#state = 'done';
    this.#on.end();
  }
}
