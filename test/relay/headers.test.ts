// Reference §1.9: what a receiver is told about the body — the sender's Content-Length, Content-Type,
// Content-Disposition and X-Piping lines, CORS and X-Robots-Tag, nothing else — and the B8 fix: only a type a
// browser renders without running script arrives as sent; other text and markup arrive as text/plain, the rest (and
// any value that is no MIME type) as application/octet-stream, always with nosniff and `Content-Security-Policy:
// sandbox`. test/relay/mime.test.ts covers the parser; test/e2e/receiver-xss.test.ts opens receivers in Chromium.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { curl } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  headerNames,
  parseResponse,
  RawClient,
  Receiver,
  type ReceiverResult,
  rawHeader,
  Sender,
  type SenderOptions,
  SUITE_TIMEOUT,
  uniquePath,
  waitForStats,
} from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

/** Send `body` with these sender options; return what one receiver got. */
async function relay(body: string, options: SenderOptions = {}): Promise<ReceiverResult> {
  const path = uniquePath();
  const sender = new Sender(`${ferry.url}${path}`, options);
  await sender.waitForLog('[INFO] Waiting for 1 receiver(s)...\n');
  const receiver = new Receiver(`${ferry.url}${path}`);
  await sender.waitForLog('[INFO] Start sending to 1 receiver(s)!\n');
  sender.end(body);
  const result = await receiver.result;
  assert.equal((await sender.result).log.endsWith('[INFO] All receiver(s) was/were received successfully.\n'), true);
  assert.equal(result.body.toString(), body);
  return result;
}

describe('headers forwarded to receivers', { timeout: SUITE_TIMEOUT }, () => {
  test('Content-Length, Content-Type, Content-Disposition, CORS, robots, nosniff and the sandbox, in order', async () => {
    const body = 'a report';
    const result = await relay(body, {
      contentLength: body.length,
      headers: { 'Content-Type': 'application/pdf', 'Content-Disposition': 'attachment; filename="r.pdf"' },
    });
    assert.equal(result.status, 200);
    assert.equal(result.headers['content-length'], String(body.length));
    assert.equal(result.headers['content-type'], 'application/pdf');
    assert.equal(result.headers['content-disposition'], 'attachment; filename="r.pdf"');
    assert.equal(result.headers['access-control-allow-origin'], '*');
    assert.equal(result.headers['x-robots-tag'], 'none');
    assert.equal(result.headers['x-content-type-options'], 'nosniff');
    assert.equal(result.headers['content-security-policy'], 'sandbox');
    assert.equal(result.headers['access-control-expose-headers'], undefined, 'no X-Piping, no Expose-Headers');
    const names = headerNames(result.rawHeaders).filter((n) => !['date', 'connection', 'keep-alive'].includes(n));
    assert.deepEqual(names, [
      'content-length',
      'content-type',
      'content-disposition',
      'access-control-allow-origin',
      'x-robots-tag',
      'x-content-type-options',
      'content-security-policy',
    ]);
  });

  test('without a Content-Length the body is chunked; without a type, no Content-Type', async () => {
    const result = await relay('streamed');
    assert.equal(result.headers['content-length'], undefined);
    assert.equal(result.headers['transfer-encoding'], 'chunked');
    assert.equal(result.headers['content-type'], undefined);
    assert.equal(result.headers['content-disposition'], undefined);
  });

  test('X-Piping lines arrive as separate lines, in order, never comma-joined, and are exposed', async () => {
    const path = uniquePath();
    const sender = new RawClient(ferry.port);
    sender.send(
      `PUT ${path} HTTP/1.1\r\nHost: x\r\nX-Piping: first, with a comma\r\nX-Other: dropped\r\n` +
        'x-piping: second\r\nX-PIPING: {"third":3}\r\nContent-Length: 4\r\n\r\nbody',
    );
    await sender.waitFor((r) => r.includes('Waiting for 1'), 'the sender to wait');
    const receiver = new RawClient(ferry.port);
    receiver.send(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const response = parseResponse(await receiver.untilClosed());
    assert.deepEqual(rawHeader(response, 'x-piping'), ['first, with a comma', 'second', '{"third":3}']);
    assert.deepEqual(rawHeader(response, 'access-control-expose-headers'), ['X-Piping']);
    assert.deepEqual(rawHeader(response, 'x-other'), []);
    assert.equal(response.body.toString(), 'body');
    sender.destroy();
  });

  test('headers other than these are not forwarded', async () => {
    const result = await relay('x', {
      headers: {
        'X-Other': 'secret',
        Authorization: 'Bearer t',
        Cookie: 'a=b',
        'Cache-Control': 'no-cache',
        'Content-Encoding': 'gzip',
        'Content-Language': 'en',
        'X-Forwarded-For': '1.2.3.4',
      },
    });
    for (const name of [
      'x-other',
      'authorization',
      'cookie',
      'set-cookie',
      'cache-control',
      'content-encoding',
      'content-language',
      'x-forwarded-for',
    ]) {
      assert.equal(result.headers[name], undefined, name);
    }
  });

  test('curl --data-binary sends a form type, forwarded as it is', async () => {
    const path = uniquePath();
    const receiver = new Receiver(`${ferry.url}${path}`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sent = await curl(['--data-binary', 'k=v', `${ferry.url}${path}`]);
    assert.equal(sent.code, 0);
    const result = await receiver.result;
    assert.equal(result.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(result.headers['content-length'], '3');
    assert.equal(result.body.toString(), 'k=v');
  });
});

describe('B8: only types a browser renders inertly arrive as sent', { timeout: SUITE_TIMEOUT }, () => {
  const cases: Array<[sent: string, received: string]> = [
    ['text/html', 'text/plain'],
    ['text/html; charset=utf-8', 'text/plain; charset=utf-8'],
    ['TEXT/HTML', 'text/plain'],
    ['Text/Html; charset=UTF-8', 'text/plain; charset=UTF-8'],
    ['text/html ;charset=utf-8', 'text/plain; charset=utf-8'],
    ['image/svg+xml', 'text/plain'],
    ['application/xhtml+xml', 'text/plain'],
    ['application/xhtml+xml; charset=utf-8', 'text/plain; charset=utf-8'],
    ['text/xml', 'text/plain'],
    ['application/xml', 'text/plain'],
    ['application/rss+xml', 'text/plain'],
    ['text/xsl', 'text/plain'],
    // No MIME type at all by the WHATWG parser, though Chromium rendered the first ones as HTML or SVG (issue 15).
    ['text/html x', 'application/octet-stream'],
    ['text/html (x)', 'application/octet-stream'],
    ['text/html	x', 'application/octet-stream'],
    ['text/html =', 'application/octet-stream'],
    ['image/svg+xml (x)', 'application/octet-stream'],
    ['text/plain, text/html', 'application/octet-stream'],
    // Neither text nor on the list: bytes to save.
    ['application/x-shockwave-flash', 'application/octet-stream'],
  ];
  for (const [sent, received] of cases) {
    test(`${JSON.stringify(sent)} arrives as ${JSON.stringify(received)}, with nosniff and the sandbox`, async () => {
      const result = await relay('<script>alert(1)</script>', { headers: { 'Content-Type': sent } });
      assert.equal(result.headers['content-type'], received);
      assert.equal(result.headers['x-content-type-options'], 'nosniff');
      assert.equal(result.headers['content-security-policy'], 'sandbox');
    });
  }

  for (const type of [
    'text/plain',
    'text/plain; charset=utf-8',
    'application/octet-stream',
    'image/png',
    'application/json',
    'video/mp4',
  ]) {
    test(`${type} is left alone`, async () => {
      const result = await relay('{}', { headers: { 'Content-Type': type } });
      assert.equal(result.headers['content-type'], type);
      assert.equal(result.headers['x-content-type-options'], 'nosniff');
      assert.equal(result.headers['content-security-policy'], 'sandbox');
    });
  }

  test('every receiver of a pipe gets the safe type', async () => {
    const path = uniquePath();
    const receivers = [1, 2].map(() => new Receiver(`${ferry.url}${path}?n=2`));
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    const sent = await curl(['-T', '-', '-H', 'Content-Type: TEXT/HTML x', `${ferry.url}${path}?n=2`], '<b>hi</b>');
    assert.equal(sent.code, 0);
    for (const receiver of receivers) {
      const result = await receiver.result;
      assert.equal(result.headers['content-type'], 'application/octet-stream');
      assert.equal(result.headers['x-content-type-options'], 'nosniff');
      assert.equal(result.headers['content-security-policy'], 'sandbox');
      assert.equal(result.body.toString(), '<b>hi</b>');
    }
  });
});
