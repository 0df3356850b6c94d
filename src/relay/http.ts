// The relay speaks through Node's HTTP/1 and HTTP/2-compat request objects alike; the few places where
// they differ (cutting a response, the HTTP/1.0 status line) are handled here and nowhere else.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';

export type Req = IncomingMessage | Http2ServerRequest;
export type Res = ServerResponse | Http2ServerResponse;

/** End a response abnormally, so the client sees a cut transfer and never a complete one. */
export function cut(res: Res): void {
  if ('stream' in res) {
    if (!res.stream.destroyed) res.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  } else {
    res.destroy();
  }
}

/**
 * Whether a response that has closed reached its client whole. HTTP/1 emits 'finish' only once everything
 * was handed to the socket; HTTP/2 emits it on a reset stream too, so there the stream's close code decides.
 */
export function deliveredWhole(res: Res, finished: boolean): boolean {
  if ('stream' in res) return finished && res.stream.rstCode === constants.NGHTTP2_NO_ERROR;
  return finished;
}

export function isHttp10(req: Req): boolean {
  return req.httpVersion === '1.0';
}

/**
 * Answer an HTTP/1.0 client with an HTTP/1.0 status line, as piping-server does (Node always writes 1.1).
 * `_storeHeader` is the one place Node builds the status line; it has been stable since Node 0.x.
 */
export function answerInKind(req: Req, res: Res): void {
  if (!isHttp10(req) || 'stream' in res) return;
  const response = res as ServerResponse & { _storeHeader(firstLine: string, headers: unknown): void };
  const storeHeader = response._storeHeader;
  response._storeHeader = function (firstLine, headers) {
    storeHeader.call(this, firstLine.replace(/^HTTP\/1\.1 /, 'HTTP/1.0 '), headers);
  };
}

export function writeHead(res: Res, status: number, headers: OutgoingHttpHeaders): void {
  (res as ServerResponse).writeHead(status, headers);
}

/**
 * Put the status line and headers on the wire now instead of with the first body bytes (HTTP/1 holds them
 * back; HTTP/2 already sent them in writeHead).
 */
export function flushHeaders(res: Res): void {
  if (!('stream' in res)) res.flushHeaders();
}

// The two response classes have the same write/end behaviour but overload signatures TypeScript cannot unite.
export function write(res: Res, chunk: Buffer | string): boolean {
  return (res as ServerResponse).write(chunk);
}

/** An HTTP/1 response's socket, to cork for batched writes; HTTP/2 streams share theirs, so undefined there. */
export function http1Socket(res: Res): Socket | undefined {
  return 'stream' in res ? undefined : (res.socket ?? undefined);
}

/** Bytes written to a response and not yet taken by the kernel. */
export function queued(res: Res): number {
  return 'stream' in res ? res.stream.writableLength : res.writableLength;
}

export function end(res: Res, body?: Buffer | string): void {
  if (body === undefined) res.end();
  else (res as ServerResponse).end(body);
}

/** A complete text response (errors, pages). HEAD requests get the headers only. */
export function sendText(req: Req, res: Res, status: number, body: string, headers: OutgoingHttpHeaders = {}): void {
  const bytes = Buffer.from(body);
  const merged: OutgoingHttpHeaders = {
    'Content-Type': 'text/plain',
    'Content-Length': bytes.length,
    'Access-Control-Allow-Origin': '*',
    ...headers,
  };
  // A header given as undefined is one this response must not carry.
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  writeHead(res, status, merged);
  end(res, req.method === 'HEAD' ? undefined : bytes);
}
