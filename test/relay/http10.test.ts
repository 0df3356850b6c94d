// Reference §1.14 and §1.7 (HTTP/1.0): every answer to an HTTP/1.0 client starts `HTTP/1.0` and carries a
// Content-Length where it has a body; a sender's log is held back and sent whole at the end; a receiver's
// body is delimited by the connection closing. All over raw sockets, so the status line is what went out.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { VERSION } from '../../src/version.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  parseResponse,
  RawClient,
  Receiver,
  rawExchange,
  rawHeader,
  Sender,
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

const TAIL = '[INFO] Sent successfully!\n[INFO] All receiver(s) was/were received successfully.\n';

async function exchange10(request: string) {
  return parseResponse(await rawExchange(ferry.port, request));
}

describe('HTTP/1.0 clients', { timeout: SUITE_TIMEOUT }, () => {
  test('a page: HTTP/1.0 200 with a Content-Length', async () => {
    const res = await exchange10('GET /version HTTP/1.0\r\n\r\n');
    assert.equal(res.statusLine, 'HTTP/1.0 200 OK');
    assert.deepEqual(rawHeader(res, 'content-length'), [String(VERSION.length + 1)]);
    assert.deepEqual(rawHeader(res, 'transfer-encoding'), []);
    assert.equal(res.body.toString(), `${VERSION}\n`);
  });

  test('errors and the preflight answer in HTTP/1.0 too', async () => {
    const reserved = await exchange10('PUT /version HTTP/1.0\r\nContent-Length: 1\r\n\r\nx');
    assert.equal(reserved.statusLine, 'HTTP/1.0 400 Bad Request');
    const text = "[ERROR] Cannot send to the reserved path '/version'. (e.g. '/mypath123')\n";
    assert.deepEqual(rawHeader(reserved, 'content-length'), [String(text.length)]);
    assert.equal(reserved.body.toString(), text);

    const badN = await exchange10('GET /p?n=x HTTP/1.0\r\n\r\n');
    assert.equal(badN.statusLine, 'HTTP/1.0 400 Bad Request');
    assert.equal(badN.body.toString(), '[ERROR] Invalid query parameter "n"\n');

    const method = await exchange10('DELETE /p HTTP/1.0\r\n\r\n');
    assert.equal(method.statusLine, 'HTTP/1.0 405 Method Not Allowed');
    assert.equal(method.body.toString(), '[ERROR] Unsupported method: DELETE.\n');

    const preflight = await exchange10('OPTIONS /p HTTP/1.0\r\n\r\n');
    assert.equal(preflight.statusLine, 'HTTP/1.0 200 OK');
    assert.deepEqual(rawHeader(preflight, 'content-length'), ['0']);
  });

  test('a sender hears nothing until the transfer is over, then gets its whole log with a Content-Length', async () => {
    const path = uniquePath();
    const sender = new RawClient(ferry.port);
    sender.send(`PUT ${path} HTTP/1.0\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nfirst`);
    await waitForStats(ferry.url, (s) => s.waitingSenders === 1, 'the HTTP/1.0 sender');
    const receiver = new Receiver(`${ferry.url}${path}`);
    await receiver.waitForBytes(5);
    assert.equal(sender.received.length, 0, 'no status line while the transfer runs');
    sender.send('-last');
    const received = await receiver.result;
    assert.equal(received.body.toString(), 'first-last');
    assert.equal(received.headers['content-length'], '10');
    const response = parseResponse(await sender.untilClosed());
    assert.equal(response.statusLine, 'HTTP/1.0 200 OK');
    const log = `[INFO] Waiting for 1 receiver(s)...\n[INFO] A receiver was connected.\n[INFO] Start sending to 1 receiver(s)!\n${TAIL}`;
    assert.deepEqual(rawHeader(response, 'content-length'), [String(log.length)]);
    assert.deepEqual(rawHeader(response, 'connection'), ['close']);
    assert.deepEqual(rawHeader(response, 'transfer-encoding'), []);
    assert.deepEqual(rawHeader(response, 'content-type'), ['text/plain']);
    assert.deepEqual(rawHeader(response, 'access-control-allow-origin'), ['*']);
    assert.equal(response.body.toString(), log);
  });

  test('a receiver of a chunked upload: HTTP/1.0 200, no chunking, the body ends with the connection', async () => {
    const path = uniquePath();
    const receiver = new RawClient(ferry.port);
    receiver.send(`GET ${path} HTTP/1.0\r\n\r\n`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the HTTP/1.0 receiver');
    const sender = new Sender(`${ferry.url}${path}`, { headers: { 'Content-Type': 'application/octet-stream' } });
    await sender.waitForLog('[INFO] Start sending to 1 receiver(s)!\n');
    await sender.write('streamed ');
    await receiver.waitFor((r) => r.includes('streamed '), 'the first bytes');
    sender.end('to an old client');
    const response = parseResponse(await receiver.untilClosed());
    assert.equal(response.statusLine, 'HTTP/1.0 200 OK');
    assert.deepEqual(rawHeader(response, 'transfer-encoding'), []);
    assert.deepEqual(rawHeader(response, 'content-length'), []);
    assert.deepEqual(rawHeader(response, 'connection'), ['close']);
    assert.deepEqual(rawHeader(response, 'content-type'), ['application/octet-stream']);
    assert.equal(response.body.toString(), 'streamed to an old client');
    assert.ok((await sender.result).log.endsWith(TAIL));
  });

  test('a receiver of an upload with a length gets the Content-Length', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`, { contentLength: 5 });
    await sender.waitForLog('[INFO] Waiting for 1 receiver(s)...\n');
    const receiver = new RawClient(ferry.port);
    receiver.send(`GET ${path} HTTP/1.0\r\n\r\n`);
    await sender.waitForLog('[INFO] Start sending to 1 receiver(s)!\n');
    sender.end('hello');
    const response = parseResponse(await receiver.untilClosed());
    assert.equal(response.statusLine, 'HTTP/1.0 200 OK');
    assert.deepEqual(rawHeader(response, 'content-length'), ['5']);
    assert.equal(response.body.toString(), 'hello');
  });

  test('HTTP/1.0 on both sides', async () => {
    const path = uniquePath();
    const receiver = new RawClient(ferry.port);
    receiver.send(`GET ${path} HTTP/1.0\r\n\r\n`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = await rawExchange(ferry.port, `POST ${path} HTTP/1.0\r\nContent-Length: 3\r\n\r\nold`);
    const log = parseResponse(sender);
    assert.equal(log.statusLine, 'HTTP/1.0 200 OK');
    assert.equal(
      log.body.toString(),
      `[INFO] Waiting for 1 receiver(s)...\n[INFO] 1 receiver(s) has/have been connected.\n[INFO] Start sending to 1 receiver(s)!\n${TAIL}`,
    );
    const response = parseResponse(await receiver.untilClosed());
    assert.equal(response.statusLine, 'HTTP/1.0 200 OK');
    assert.equal(response.body.toString(), 'old');
  });

  test('an HTTP/1.0 sender whose receiver leaves gets its log, ending with the abort', async () => {
    const path = uniquePath();
    const sender = new RawClient(ferry.port);
    sender.send(`PUT ${path} HTTP/1.0\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(10)}`);
    await waitForStats(ferry.url, (s) => s.waitingSenders === 1, 'the sender');
    const receiver = new Receiver(`${ferry.url}${path}`);
    await receiver.waitForBytes(10);
    receiver.abort();
    const response = parseResponse(await sender.untilClosed());
    assert.equal(response.statusLine, 'HTTP/1.0 200 OK');
    const log =
      '[INFO] Waiting for 1 receiver(s)...\n[INFO] A receiver was connected.\n[INFO] Start sending to 1 receiver(s)!\n' +
      '[INFO] A receiver aborted.\n[INFO] All receiver(s) was/were aborted halfway.\n';
    assert.deepEqual(rawHeader(response, 'content-length'), [String(log.length)]);
    assert.equal(response.body.toString(), log);
  });
});
