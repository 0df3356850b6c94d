// The headers a receiver gets: the sender's Content-Length, Content-Type, Content-Disposition and X-Piping,
// with any type a browser would run as a document made inert (piping-server bug B8).
import type { OutgoingHttpHeaders } from 'node:http';

export interface ContentHeaders {
  contentLength?: number;
  contentType?: string;
  contentDisposition?: string;
  xPiping: string[];
}

// Types a browser renders as an active document: HTML, XHTML, SVG and XML (XML can embed XHTML script).
function isActive(essence: string): boolean {
  return (
    essence === 'text/html' ||
    essence === 'text/xml' ||
    essence === 'application/xml' ||
    essence.endsWith('+xml') ||
    essence === 'text/xsl'
  );
}

function essenceOf(mediaType: string): string {
  const semicolon = mediaType.indexOf(';');
  return (semicolon < 0 ? mediaType : mediaType.slice(0, semicolon)).trim().toLowerCase();
}

export function inertContentType(value: string): string {
  // A browser reading "a, b" takes the last valid type (Fetch §4.4 "extract a MIME type"), so check them all.
  if (value.includes(',')) return value.split(',').some((part) => isActive(essenceOf(part))) ? 'text/plain' : value;
  if (!isActive(essenceOf(value))) return value;
  const semicolon = value.indexOf(';');
  return semicolon < 0 ? 'text/plain' : `text/plain${value.slice(semicolon)}`;
}

export function receiverHeaders(content: ContentHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  if (content.contentLength !== undefined) headers['Content-Length'] = content.contentLength;
  if (content.contentType !== undefined) headers['Content-Type'] = inertContentType(content.contentType);
  if (content.contentDisposition !== undefined) headers['Content-Disposition'] = content.contentDisposition;
  if (content.xPiping.length > 0) headers['X-Piping'] = content.xPiping;
  headers['Access-Control-Allow-Origin'] = '*';
  if (content.xPiping.length > 0) headers['Access-Control-Expose-Headers'] = 'X-Piping';
  headers['X-Robots-Tag'] = 'none';
  headers['X-Content-Type-Options'] = 'nosniff';
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
