// One HTTP/2 request on a node:http2 client session, read as a test would check it: status, headers, the body's
// length and SHA-256 (and its first MiB), and whether the stream ended normally or was reset.
import { createHash } from 'node:crypto';
import http2 from 'node:http2';

export interface H2Result {
  status: number;
  headers: http2.IncomingHttpHeaders;
  bytes: number;
  sha256: string;
  /** The body's first MiB. */
  body: Buffer;
  /** False when the server reset the stream instead of ending it. */
  complete: boolean;
}

/** The body (if any) is written by the caller through `stream`; GET and HEAD are sent without one. */
export function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): {
  stream: http2.ClientHttp2Stream;
  /** Body bytes so far. */
  progress: { bytes: number };
  result: Promise<H2Result>;
} {
  const stream = session.request(headers, { endStream: headers[':method'] === 'GET' || headers[':method'] === 'HEAD' });
  const progress = { bytes: 0 };
  const result = new Promise<H2Result>((resolve) => {
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    const hash = createHash('sha256');
    let bytes = 0;
    const kept: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      progress.bytes = bytes;
      hash.update(chunk);
      if (bytes <= 1024 * 1024) kept.push(chunk);
    });
    let ended = false;
    stream.on('end', () => {
      ended = true;
    });
    stream.on('error', () => {});
    stream.on('close', () =>
      resolve({
        status,
        headers: responseHeaders,
        bytes,
        sha256: hash.digest('hex'),
        body: Buffer.concat(kept),
        complete: ended && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR,
      }),
    );
  });
  return { stream, progress, result };
}
