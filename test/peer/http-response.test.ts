// The relay client's HTTP/1.1 response reader: every way a body can be delimited, cut anywhere between pushes, and
// the broken responses it must refuse instead of handing on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpResponseError, ResponseParser } from '../../src/peer/http-response.ts';

interface Seen {
  status?: number;
  headers?: Map<string, string>;
  body: Buffer[];
  ended: boolean;
}

function parser(): { parser: ResponseParser; seen: Seen } {
  const seen: Seen = { body: [], ended: false };
  const p = new ResponseParser({
    head(status, headers) {
      seen.status = status;
      seen.headers = headers;
    },
    // Copied: the piece is only valid during the call.
    body: (piece) => seen.body.push(Buffer.from(piece)),
    end() {
      assert.equal(seen.ended, false, 'end() called twice');
      seen.ended = true;
    },
  });
  return { parser: p, seen };
}

/** Feeds `bytes` cut at every position in `cuts`, each piece in a buffer that is overwritten right after. */
function feed(p: ResponseParser, bytes: Buffer, cuts: number[]): void {
  const scratch = Buffer.alloc(bytes.length);
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    const piece = scratch.subarray(0, to - from);
    bytes.copy(piece, 0, from, to);
    p.push(piece);
    piece.fill(0xee);
    from = to;
  }
}

const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));

function chunked(pieces: Buffer[], trailers = ''): Buffer {
  const parts: Buffer[] = [];
  for (const piece of pieces) parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  return Buffer.concat([...parts, Buffer.from(`0\r\n${trailers}\r\n`)]);
}

const head = (lines: string) => Buffer.from(`HTTP/1.1 200 OK\r\n${lines}\r\n`);

describe('HTTP/1.1 response reader', () => {
  test('a chunked body, cut at every single byte and at every pair of places, comes out whole', () => {
    const response = Buffer.concat([
      head('Transfer-Encoding: chunked\r\nX-Other: a\r\nX-Other: b\r\n'),
      chunked([body.subarray(0, 1000), body.subarray(1000, 1001), body.subarray(1001)], 'X-Trailer: 1\r\n'),
    ]);
    for (let cut = 0; cut <= response.length; cut++) {
      const { parser: p, seen } = parser();
      feed(p, response, [cut]);
      assert.deepEqual(Buffer.concat(seen.body), body, `cut at ${cut}`);
      assert.equal(seen.ended, true);
      assert.equal(seen.status, 200);
      assert.equal(seen.headers?.get('x-other'), 'a, b');
    }
    const { parser: p, seen } = parser();
    feed(
      p,
      response,
      Array.from({ length: response.length }, (_, i) => i),
    );
    assert.deepEqual(Buffer.concat(seen.body), body);
  });

  test('Content-Length and close-delimited bodies; chunk extensions and a bare LF are accepted', () => {
    const withLength = parser();
    feed(withLength.parser, Buffer.concat([head(`Content-Length: ${body.length}\r\n`), body]), [10, 100, 2000]);
    assert.deepEqual(Buffer.concat(withLength.seen.body), body);
    assert.equal(withLength.seen.ended, true);

    const untilClose = parser();
    feed(untilClose.parser, Buffer.concat([head(''), body]), [50]);
    assert.equal(untilClose.seen.ended, false);
    untilClose.parser.finish();
    assert.deepEqual(Buffer.concat(untilClose.seen.body), body);
    assert.equal(untilClose.seen.ended, true);

    const odd = parser();
    odd.parser.push(Buffer.from('HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3;name=value\r\nabc\r\n0\r\n\r\n'));
    assert.equal(Buffer.concat(odd.seen.body).toString(), 'abc');
    assert.equal(odd.seen.ended, true);
  });

  test('an interim 100 Continue is skipped; another status is reported with its body', () => {
    const { parser: p, seen } = parser();
    p.push(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\noops!'));
    assert.equal(seen.status, 400);
    assert.equal(Buffer.concat(seen.body).toString(), 'oops!');
    assert.equal(seen.ended, true);
  });

  test('a response cut before its end is an error at finish(), never a clean end', () => {
    const cuts = [
      head('Transfer-Encoding: chunked\r\n').subarray(0, 10),
      Buffer.concat([head('Transfer-Encoding: chunked\r\n'), Buffer.from('10\r\nabc')]),
      Buffer.concat([head('Transfer-Encoding: chunked\r\n'), Buffer.from('3\r\nabc\r\n')]),
      Buffer.concat([head('Content-Length: 10\r\n'), Buffer.from('abc')]),
    ];
    for (const cut of cuts) {
      const { parser: p, seen } = parser();
      p.push(cut);
      assert.throws(() => p.finish(), HttpResponseError);
      assert.equal(seen.ended, false);
    }
  });

  test('malformed responses are refused with a reason', () => {
    const bad: [string, RegExp][] = [
      ['SSH-2.0-OpenSSH\r\n\r\n', /not an HTTP\/1.1 response/],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /bad header line/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n', /longer than its size/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', /unsupported coding/],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /bad Content-Length/],
      [`HTTP/1.1 200 OK\r\n${'X-Big: y\r\n'.repeat(7000)}\r\n`, /too long/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '0'.repeat(5000), /too long/],
    ];
    for (const [text, message] of bad) {
      const { parser: p, seen } = parser();
      assert.throws(() => p.push(Buffer.from(text)), message, text.slice(0, 60));
      assert.equal(seen.ended, false);
    }
    // A server that sends more than it announced: the body it announced is whole, the rest is refused.
    const { parser: p } = parser();
    assert.throws(() => p.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab')), /bytes after the end/);
  });
});
