// The WHATWG "parse a MIME type" algorithm the relay reads a sender's Content-Type with, and the type a receiver is
// given for it: an allow-list of types a browser renders without running script, everything else made safe.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { safeContentType } from '../../src/relay/headers.ts';
import { parseMimeType, serializeMimeType } from '../../src/relay/mime.ts';

// Values a browser may read as an active type, but that are no MIME type by the WHATWG parser (the XSS of issue 15:
// Chromium rendered `text/html x` as HTML when the old filter let it through).
const NOT_MIME_TYPES = [
  'text/html x',
  'text/html (x)',
  'text/html\tx',
  'text/html =',
  'image/svg+xml (x)',
  'text/html\u000bx',
  'text/html\u00a0',
  'text/html,',
  'text/plain, text/html',
  'text/html x; charset=utf-8',
  'text /html',
  'text/',
  '/html',
  'text',
  '',
  ' ',
  'te(xt/html',
  'text/ht"ml',
  'text/html\u0000',
];

describe('parseMimeType', () => {
  for (const value of NOT_MIME_TYPES) {
    test(`${JSON.stringify(value)} is no MIME type`, () => {
      assert.equal(parseMimeType(value), undefined);
    });
  }

  const parsed: Array<[input: string, serialized: string]> = [
    ['text/html', 'text/html'],
    ['TEXT/HTML', 'text/html'],
    [' \t text/plain \r\n', 'text/plain'],
    ['text/plain ;charset=utf-8', 'text/plain; charset=utf-8'],
    ['text/plain;CHARSET=UTF-8', 'text/plain; charset=UTF-8'],
    ['text/plain; charset="utf-8"', 'text/plain; charset=utf-8'],
    ['text/plain; charset=utf-8; charset=latin1', 'text/plain; charset=utf-8'],
    ['text/plain; charset="a\\"b\\\\c"', 'text/plain; charset="a\\"b\\\\c"'],
    ['text/plain; charset="unterminated', 'text/plain; charset=unterminated'],
    ['text/plain; charset="x" junk; a=b', 'text/plain; charset=x; a=b'],
    ['text/plain;;;charset=utf-8', 'text/plain; charset=utf-8'],
    ['text/plain; charset', 'text/plain'],
    ['text/plain; charset=', 'text/plain'],
    ['text/plain; =utf-8', 'text/plain'],
    ['text/plain; ch(a)rset=utf-8', 'text/plain'],
    ['text/plain; charset=utf 8', 'text/plain; charset="utf 8"'],
    ['text/plain; charset=utf-8 ', 'text/plain; charset=utf-8'],
    ['image/svg+xml;', 'image/svg+xml'],
    ['video/mp4; codecs="avc1.42E01E, mp4a.40.2"', 'video/mp4; codecs="avc1.42E01E, mp4a.40.2"'],
  ];
  for (const [input, serialized] of parsed) {
    test(`${JSON.stringify(input)} parses and serializes as ${JSON.stringify(serialized)}`, () => {
      const mime = parseMimeType(input);
      assert.ok(mime);
      assert.equal(serializeMimeType(mime), serialized);
      // The serialized form is canonical: parsing it gives it back.
      assert.equal(serializeMimeType(parseMimeType(serialized) ?? assert.fail()), serialized);
    });
  }
});

describe('safeContentType: what a receiver is given', () => {
  for (const value of NOT_MIME_TYPES) {
    test(`${JSON.stringify(value)} becomes application/octet-stream`, () => {
      assert.equal(safeContentType(value), 'application/octet-stream');
    });
  }

  const cases: Array<[sent: string, received: string]> = [
    // Kept: the types a browser shows as text, an image, a player, a viewer or a download.
    ['text/plain', 'text/plain'],
    ['text/plain; charset=utf-8', 'text/plain; charset=utf-8'],
    ['Text/Plain;Charset=UTF-8', 'text/plain; charset=UTF-8'],
    ['image/png', 'image/png'],
    ['image/jpeg', 'image/jpeg'],
    ['image/webp', 'image/webp'],
    ['audio/ogg', 'audio/ogg'],
    ['video/mp4; codecs="avc1.42E01E"', 'video/mp4; codecs=avc1.42E01E'],
    ['application/json', 'application/json'],
    ['application/pdf', 'application/pdf'],
    ['application/octet-stream', 'application/octet-stream'],
    ['application/zip', 'application/zip'],
    ['application/gzip', 'application/gzip'],
    ['application/x-tar', 'application/x-tar'],
    ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded'],
    ['text/csv; charset=utf-8; header=present', 'text/csv; charset=utf-8; header=present'],
    // Text, markup and script: plain text, the charset kept and nothing else.
    ['text/html', 'text/plain'],
    ['text/html; charset=utf-8', 'text/plain; charset=utf-8'],
    ['TEXT/HTML;CHARSET=ISO-8859-1', 'text/plain; charset=ISO-8859-1'],
    ['text/html; x=y; charset=utf-8', 'text/plain; charset=utf-8'],
    ['image/svg+xml', 'text/plain'],
    ['image/svg+xml; charset=utf-8', 'text/plain; charset=utf-8'],
    ['application/xhtml+xml', 'text/plain'],
    ['application/xml', 'text/plain'],
    ['text/xml', 'text/plain'],
    ['text/xsl', 'text/plain'],
    ['application/rss+xml', 'text/plain'],
    ['application/mathml+xml', 'text/plain'],
    ['text/javascript', 'text/plain'],
    ['application/javascript', 'text/plain'],
    ['application/ecmascript', 'text/plain'],
    ['text/css', 'text/plain'],
    ['application/ld+json', 'text/plain'],
    ['text/vtt', 'text/plain'],
    // Anything else is bytes to save.
    ['application/x-shockwave-flash', 'application/octet-stream'],
    ['application/wasm', 'application/octet-stream'],
    ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'application/octet-stream'],
    ['multipart/x-mixed-replace; boundary=x', 'application/octet-stream'],
    ['message/rfc822', 'application/octet-stream'],
    ['image/x-unknown', 'application/octet-stream'],
    ['x/y', 'application/octet-stream'],
  ];
  for (const [sent, received] of cases) {
    test(`${JSON.stringify(sent)} becomes ${JSON.stringify(received)}`, () => {
      assert.equal(safeContentType(sent), received);
    });
  }
});
