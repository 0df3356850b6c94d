// The headers a receiver gets: the sender's Content-Length, Content-Type, Content-Disposition and X-Piping, with
// the type held to those a browser renders without running script (piping-server bug B8).
import type { OutgoingHttpHeaders } from 'node:http';
import { essence, type MimeType, parseMimeType, serializeMimeType } from './mime.ts';

export interface ContentHeaders {
  contentLength?: number;
  contentType?: string;
  contentDisposition?: string;
  xPiping: string[];
}

// What a browser may render from a receiver's URL, which is Ferry's own origin: types it shows as text, an image, a
// player, a PDF viewer or a download, never as a document that runs script. The sender's type reaches receivers
// only when it is one of these; every receiver response also carries `Content-Security-Policy: sandbox` and nosniff.
const RENDERED_AS_IS = new Set([
  'text/plain',
  'text/csv',
  'text/tab-separated-values',
  'text/markdown',
  'application/json',
  'application/pdf',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'application/zip',
  'application/gzip',
  'application/x-gzip',
  'application/x-tar',
  'application/x-bzip2',
  'application/x-xz',
  'application/zstd',
  'application/x-7z-compressed',
  'application/vnd.rar',
  'application/x-rar-compressed',
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/apng',
  'image/bmp',
  'image/tiff',
  'image/heic',
  'image/heif',
  'image/jxl',
  'image/x-icon',
  'image/vnd.microsoft.icon',
]);

/** Types a browser would read as text, script or markup: shown as plain text instead. */
function isTextual({ type, subtype }: MimeType): boolean {
  return (
    type === 'text' ||
    subtype === 'xml' ||
    subtype.endsWith('+xml') ||
    subtype.endsWith('+json') ||
    subtype === 'javascript' ||
    subtype === 'ecmascript'
  );
}

/**
 * The Content-Type a receiver gets for the sender's `value`, always in the canonical form the WHATWG parser reads
 * back the same way: the sender's type when it is safe to render (lower-cased, its parameters kept); any other text,
 * markup or script type as text/plain with its charset; the rest, and any value that is no MIME type at all (such
 * as `text/html x`, which Chromium reads as HTML), as application/octet-stream.
 */
export function safeContentType(value: string): string {
  const mime = parseMimeType(value);
  if (!mime) return OCTET_STREAM;
  if (RENDERED_AS_IS.has(essence(mime)) || mime.type === 'audio' || mime.type === 'video') {
    return serializeMimeType(mime);
  }
  if (!isTextual(mime)) return OCTET_STREAM;
  const charset = mime.parameters.get('charset');
  const parameters = new Map<string, string>(charset === undefined ? [] : [['charset', charset]]);
  return serializeMimeType({ type: 'text', subtype: 'plain', parameters });
}

const OCTET_STREAM = 'application/octet-stream';

export function receiverHeaders(content: ContentHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  if (content.contentLength !== undefined) headers['Content-Length'] = content.contentLength;
  if (content.contentType !== undefined) headers['Content-Type'] = safeContentType(content.contentType);
  if (content.contentDisposition !== undefined) headers['Content-Disposition'] = content.contentDisposition;
  if (content.xPiping.length > 0) headers['X-Piping'] = content.xPiping;
  headers['Access-Control-Allow-Origin'] = '*';
  if (content.xPiping.length > 0) headers['Access-Control-Expose-Headers'] = 'X-Piping';
  headers['X-Robots-Tag'] = 'none';
  headers['X-Content-Type-Options'] = 'nosniff';
  // Even a type a browser renders inertly runs in an opaque origin without script, forms or plugins.
  headers['Content-Security-Policy'] = 'sandbox';
  return headers;
}

/** X-Piping lines in the order the sender wrote them, never comma-joined. */
export function rawHeaderValues(rawHeaders: string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === name) values.push(rawHeaders[i + 1] as string);
  }
  return values;
}

export function parseContentLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}
