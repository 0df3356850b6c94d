// A multipart/form-data sender (RFC 7578) forwards its first part only: the part's body streams to the
// receivers with the part's own Content-Type and Content-Disposition; the rest of the upload is read and dropped.
// Unlike piping-server we never guess the part's length from the request's (bug B4): a receiver gets one only
// when the part declares it, and then the part is held to it.
import { Readable } from 'node:stream';
import StreamSearch from 'streamsearch';
import type { Req } from './http.ts';

export class MultipartError extends Error {}

const MAX_PART_HEADER_BYTES = 16 * 1024;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

export function isMultipart(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*multipart\/form-data\s*(;|$)/i.test(contentType);
}

/** The boundary parameter (RFC 2046 §5.1.1: 1 to 70 characters), or undefined when it is missing or invalid. */
export function boundaryOf(contentType: string): string | undefined {
  const match = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  return boundary !== undefined && boundary.length <= 70 ? boundary : undefined;
}

export interface FirstPart {
  contentType?: string;
  contentDisposition?: string;
  contentLength?: number;
  body: Readable;
}

/**
 * Resolves once the first part's headers are read; rejects with MultipartError when there is no valid first part.
 * `requestLength` is the request's Content-Length: a body that runs past it fails the part.
 */
export function readFirstPart(req: Req, boundary: string, requestLength?: number): Promise<FirstPart> {
  return new Promise((resolve, reject) => {
    type State = 'preamble' | 'headers' | 'body' | 'epilogue';
    let state: State = 'preamble';
    let head = Buffer.alloc(0);
    let declaredLength: number | undefined;
    let bodyBytes = 0;
    let requestBytes = 0;
    const requestLimit = requestLength ?? Number.POSITIVE_INFINITY;
    const body = new Readable({ read: () => req.resume() });
    // The part can fail in the very chunk that carried its headers, before the caller (resumed by this promise)
    // has attached its handlers; without a listener that 'error' would crash the process. The caller reads
    // `body.errored` when it resumes and listens for 'error' from then on.
    body.on('error', () => {});

    const fail = (reason: string) => {
      req.off('data', onData);
      req.resume(); // drain the rest so the sender's upload is not left hanging
      if (state === 'body') body.destroy(new MultipartError(reason));
      else reject(new MultipartError(reason));
      state = 'epilogue';
    };

    const emitBody = (bytes: Buffer) => {
      bodyBytes += bytes.length;
      if (declaredLength !== undefined && bodyBytes > declaredLength)
        return fail('the part is longer than its Content-Length');
      if (!body.push(bytes)) req.pause();
    };

    const startBody = () => {
      const lineEnd = head.indexOf(CRLF);
      const headerStart = lineEnd + 2;
      const headerEnd = head.subarray(headerStart, headerStart + 2).equals(CRLF)
        ? headerStart
        : head.indexOf(HEADER_END, headerStart);
      if (headerEnd > MAX_PART_HEADER_BYTES) return fail('the part headers are too large');
      const headers = parsePartHeaders(head.toString('latin1', headerStart, headerEnd));
      if (!headers) return fail('a part header is malformed');
      if (headers['content-length'] !== undefined) {
        if (!/^\d+$/.test(headers['content-length'])) return fail('a part has an invalid Content-Length');
        declaredLength = Number(headers['content-length']);
      }
      state = 'body';
      resolve({
        contentType: headers['content-type'],
        contentDisposition: headers['content-disposition'],
        contentLength: declaredLength,
        body,
      });
      const rest = head.subarray(headerEnd + (headerEnd === headerStart ? 2 : 4));
      head = Buffer.alloc(0);
      if (rest.length > 0) emitBody(rest);
    };

    const headersComplete = () => {
      const lineEnd = head.indexOf(CRLF);
      if (lineEnd < 0) return false;
      if (head.subarray(lineEnd + 2, lineEnd + 4).equals(CRLF)) return true;
      return head.indexOf(HEADER_END, lineEnd + 2) >= 0;
    };

    const search = new StreamSearch(`\r\n--${boundary}`, (isMatch, data, start, end, isDataSafe) => {
      if (data && end > start && state !== 'preamble' && state !== 'epilogue') {
        const bytes = isDataSafe ? data.subarray(start, end) : Buffer.from(data.subarray(start, end));
        if (state === 'body') {
          emitBody(bytes);
        } else {
          head = Buffer.concat([head, bytes]);
          // "--" right after the first delimiter closes the form (RFC 2046 §5.1.1): say so, not "ended early".
          if (head.length >= 2 && head.toString('latin1', 0, 2) === '--') return fail('the form has no parts');
          // The same piece may carry the end of the headers and much of the body: judge the size only while
          // the headers are still incomplete (checking first refused any file part larger than the limit).
          if (headersComplete()) startBody();
          else if (head.length > MAX_PART_HEADER_BYTES) fail('the part headers are too large');
        }
      }
      if (!isMatch) return;
      if (state === 'preamble') {
        state = 'headers';
      } else if (state === 'headers') {
        fail(head.toString('latin1').startsWith('--') ? 'the form has no parts' : 'the part headers are incomplete');
      } else if (state === 'body') {
        if (declaredLength !== undefined && bodyBytes !== declaredLength) {
          return fail('the part is shorter than its Content-Length');
        }
        state = 'epilogue';
        body.push(null);
        req.resume(); // read and drop the remaining parts
      }
    });

    const onData = (chunk: Buffer) => {
      if (state === 'epilogue') return;
      requestBytes += chunk.length;
      if (requestBytes > requestLimit) return fail('the body is longer than its Content-Length');
      search.push(chunk);
    };
    // The delimiter is "CRLF--boundary", and the first one may open the body without the CRLF (RFC 2046 §5.1.1).
    search.push(CRLF);
    req.on('data', onData);
    req.once('end', () => {
      if (state !== 'epilogue') fail('the form ended before its closing boundary');
    });
  });
}

// RFC 9110 §5: a field name is a token; a field value is visible characters, obs-text, spaces and tabs (no CR, LF
// or other control character, which a receiver's response could not carry: Node refuses to write them).
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t\x20-\x7e\x80-\xff]*?)[\t ]*$/;
const FORWARDED = new Set(['content-type', 'content-disposition', 'content-length']);

/** The part's headers by lower-cased name, or undefined when a line is malformed or a forwarded one repeats. */
function parsePartHeaders(block: string): Record<string, string> | undefined {
  const headers: Record<string, string> = {};
  if (block === '') return headers;
  for (const line of block.split('\r\n')) {
    const match = HEADER_LINE.exec(line);
    if (!match) return undefined;
    const name = (match[1] as string).toLowerCase();
    if (FORWARDED.has(name) && headers[name] !== undefined) return undefined;
    headers[name] = match[2] as string;
  }
  return headers;
}
