// Reference §1.7/§1.8: a sender and its receivers meeting in either order, with the sender's exact progress
// log; the sender's and the receiver's checks, each in piping-server's order and with its exact text; leaving
// before the transfer starts; and the B9 fix (a late close of an old sender never evicts a newer one).
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, afterEach, before, describe, test } from 'node:test';
import { curl } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  parseResponse,
  RawClient,
  Receiver,
  relayStats,
  request,
  Sender,
  SUITE_TIMEOUT,
  uniquePath,
  until,
  waitForStats,
} from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

const WAITING_1 = '[INFO] Waiting for 1 receiver(s)...\n';
const START_1 = '[INFO] Start sending to 1 receiver(s)!\n';
const TAIL = '[INFO] Sent successfully!\n[INFO] All receiver(s) was/were received successfully.\n';

async function assert400(res: Promise<{ status: number; body: Buffer }>, text: string): Promise<void> {
  const { status, body } = await res;
  assert.equal(status, 400);
  assert.equal(body.toString(), text);
}

describe('meeting in either order', { timeout: SUITE_TIMEOUT }, () => {
  test('sender first: 200 and "Waiting" at once, bytes stream live, the exact log', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`, { headers: { 'Content-Type': 'text/plain' } });
    await sender.waitForLog(WAITING_1);
    assert.equal(sender.status, 200);
    const receiver = new Receiver(`${ferry.url}${path}`);
    await sender.waitForLog(START_1);
    // The receiver gets the first bytes while the upload is still open: nothing is stored and forwarded.
    await sender.write('first;');
    await receiver.waitForBytes('first;'.length);
    sender.end('last');
    const received = await receiver.result;
    assert.equal(received.status, 200);
    assert.equal(received.body.toString(), 'first;last');
    const result = await sender.result;
    assert.equal(result.headers['content-type'], 'text/plain');
    assert.equal(result.headers['access-control-allow-origin'], '*');
    assert.equal(result.headers['content-length'], undefined);
    assert.equal(result.headers['transfer-encoding'], 'chunked');
    assert.equal(result.log, `${WAITING_1}[INFO] A receiver was connected.\n${START_1}${TAIL}`);
  });

  test('receiver first: it hears nothing at all until the sender comes, then the exact log', async () => {
    const path = uniquePath();
    const receiver = new RawClient(ferry.port);
    receiver.send(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    // Round-trip another request so anything the server had sent the receiver would have arrived by now.
    await request(`${ferry.url}/version`);
    assert.equal(receiver.received.length, 0, 'no status line, no headers before the transfer');
    const sent = await curl(['-T', '-', `${ferry.url}${path}`], 'hello receiver');
    assert.equal(sent.code, 0);
    assert.equal(
      sent.stdout.toString(),
      `${WAITING_1}[INFO] 1 receiver(s) has/have been connected.\n${START_1}${TAIL}`,
    );
    const response = parseResponse(await receiver.untilClosed());
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(response.body.toString(), 'hello receiver');
  });

  test('receiver, sender, receiver, receiver (n=3): each arrival is logged', async () => {
    const path = uniquePath();
    const url = `${ferry.url}${path}?n=3`;
    const first = new Receiver(url);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the first receiver');
    const sender = new Sender(url);
    await sender.waitForLog('[INFO] 1 receiver(s) has/have been connected.\n');
    const second = new Receiver(url);
    await sender.waitForLog('[INFO] A receiver was connected.\n');
    const third = new Receiver(url);
    await sender.waitForLog('[INFO] Start sending to 3 receiver(s)!\n');
    sender.end('three');
    for (const receiver of [first, second, third]) assert.equal((await receiver.result).body.toString(), 'three');
    assert.equal(
      (await sender.result).log,
      '[INFO] Waiting for 3 receiver(s)...\n[INFO] 1 receiver(s) has/have been connected.\n' +
        '[INFO] A receiver was connected.\n[INFO] A receiver was connected.\n' +
        `[INFO] Start sending to 3 receiver(s)!\n${TAIL}`,
    );
  });

  test('an empty body, with Content-Length: 0 and chunked, is a complete (empty) transfer', async () => {
    for (const options of [{ contentLength: 0 }, {}]) {
      const path = uniquePath();
      const sender = new Sender(`${ferry.url}${path}`, options);
      await sender.waitForLog(WAITING_1);
      const receiver = new Receiver(`${ferry.url}${path}`);
      await sender.waitForLog(START_1);
      sender.end();
      const result = await receiver.result;
      assert.equal(result.status, 200);
      assert.equal(result.complete, true);
      assert.equal(result.bytes, 0);
      assert.equal(result.headers['content-length'], options.contentLength === 0 ? '0' : undefined);
      assert.equal((await sender.result).log, `${WAITING_1}[INFO] A receiver was connected.\n${START_1}${TAIL}`);
    }
  });

  test('curl on both sides, sender first (Expect: 100-continue is answered)', async () => {
    const path = uniquePath();
    const sender = curl(['-T', '-', '-H', 'Expect: 100-continue', `${ferry.url}${path}`], 'via curl');
    await waitForStats(ferry.url, (s) => s.waitingSenders === 1, 'the sender');
    const received = await curl([`${ferry.url}${path}`]);
    assert.equal(received.code, 0);
    assert.equal(received.stdout.toString(), 'via curl');
    assert.equal((await sender).stdout.toString(), `${WAITING_1}[INFO] A receiver was connected.\n${START_1}${TAIL}`);
  });
});

describe("the sender's checks, in order", { timeout: SUITE_TIMEOUT }, () => {
  test('reserved path comes before Content-Range and a bad n', async () => {
    await assert400(
      request(`${ferry.url}/version?n=abc`, { method: 'PUT', body: 'x', headers: { 'Content-Range': 'bytes 0-0/1' } }),
      "[ERROR] Cannot send to the reserved path '/version'. (e.g. '/mypath123')\n",
    );
  });

  for (const method of ['POST', 'PUT']) {
    test(`Content-Range on ${method} is refused, before a bad n`, async () => {
      const res = await request(`${ferry.url}${uniquePath()}?n=abc`, {
        method,
        body: 'x',
        headers: { 'Content-Range': 'bytes 0-0/1' },
      });
      assert.equal(res.status, 400);
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.body.toString(), `[ERROR] Content-Range is not supported for now in ${method}\n`);
    });
  }

  test('a bad n comes before the state of the path', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog(WAITING_1);
    await assert400(
      request(`${ferry.url}${path}?n=x`, { method: 'PUT', body: 'x' }),
      '[ERROR] Invalid "n" query parameter\n',
    );
    await assert400(
      request(`${ferry.url}${path}?n=0`, { method: 'PUT', body: 'x' }),
      '[ERROR] n should > 0, but n = 0.\n',
    );
    sender.abort();
  });

  test('a second sender: "Another sender" even when its n differs', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog(WAITING_1);
    const another = `[ERROR] Another sender has been connected on '${path}'.\n`;
    await assert400(request(`${ferry.url}${path}`, { method: 'PUT', body: 'x' }), another);
    await assert400(request(`${ferry.url}${path}?n=2`, { method: 'POST', body: 'x' }), another);
    // The first sender is untouched.
    sender.end('first');
    assert.equal((await request(`${ferry.url}${path}`)).body.toString(), 'first');
  });

  test('a sender whose n differs from the waiting receivers', async () => {
    const path = uniquePath();
    const receivers = [1, 2].map(() => new Receiver(`${ferry.url}${path}?n=2`));
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'the receivers');
    await assert400(
      request(`${ferry.url}${path}?n=3`, { method: 'PUT', body: 'x' }),
      '[ERROR] The number of receivers should be 2 but 3.\n',
    );
    for (const receiver of receivers) receiver.abort();
  });

  test('a sender on a path whose transfer is running: "established already", before "Another sender"', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`);
    const receiver = new Receiver(`${ferry.url}${path}`);
    await sender.waitForLog(START_1);
    const text = `[ERROR] Connection on '${path}' has been established already.\n`;
    await assert400(request(`${ferry.url}${path}`, { method: 'PUT', body: 'x' }), text);
    await assert400(request(`${ferry.url}${path}?n=2`, { method: 'POST', body: 'x' }), text);
    sender.end('done');
    assert.equal((await receiver.result).body.toString(), 'done');
  });
});

describe("the receiver's checks, in order", { timeout: SUITE_TIMEOUT }, () => {
  test('Service-Worker: script is refused, before a bad n', async () => {
    const res = await request(`${ferry.url}${uniquePath()}?n=abc`, { headers: { 'Service-Worker': 'script' } });
    assert.equal(res.status, 400);
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.body.toString(), '[ERROR] Service Worker registration is rejected.\n');
  });

  test('a bad n comes before the state of the path', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`);
    const receiver = new Receiver(`${ferry.url}${path}`);
    await sender.waitForLog(START_1);
    await assert400(request(`${ferry.url}${path}?n=zz`), '[ERROR] Invalid query parameter "n"\n');
    await assert400(request(`${ferry.url}${path}?n=-3`), '[ERROR] n should > 0, but n = -3.\n');
    await assert400(request(`${ferry.url}${path}`), `[ERROR] Connection on '${path}' has been established already.\n`);
    sender.end('ok');
    assert.equal((await receiver.result).body.toString(), 'ok');
  });

  test('n mismatch comes before "reached limits"', async () => {
    const path = uniquePath();
    const waiting = new Receiver(`${ferry.url}${path}`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    await assert400(request(`${ferry.url}${path}?n=2`), '[ERROR] The number of receivers should be 1 but 2.\n');
    await assert400(request(`${ferry.url}${path}`), '[ERROR] The number of receivers has reached limits.\n');
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog(START_1);
    sender.end('only one');
    assert.equal((await waiting.result).body.toString(), 'only one');
  });

  test('another Service-Worker value is an ordinary receiver', async () => {
    const path = uniquePath();
    const receiver = new Receiver(`${ferry.url}${path}`, { headers: { 'Service-Worker': 'none' } });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    await curl(['-T', '-', `${ferry.url}${path}`], 'fine');
    assert.equal((await receiver.result).body.toString(), 'fine');
  });
});

describe('leaving before the transfer starts', { timeout: SUITE_TIMEOUT }, () => {
  test('a waiting sender that leaves frees the path; what it uploaded is dropped', async () => {
    const path = uniquePath();
    const first = new Sender(`${ferry.url}${path}`);
    await first.waitForLog(WAITING_1);
    await first.write('stale bytes that nobody should see');
    first.abort();
    await waitForStats(ferry.url, (s) => s.waiting === 0, 'the pipe to be closed');
    const second = new Sender(`${ferry.url}${path}`);
    await second.waitForLog(WAITING_1);
    second.end('fresh');
    assert.equal((await request(`${ferry.url}${path}`)).body.toString(), 'fresh');
    assert.equal((await second.result).log, `${WAITING_1}[INFO] A receiver was connected.\n${START_1}${TAIL}`);
  });

  test('a waiting receiver that leaves frees its place', async () => {
    const path = uniquePath();
    const gone = new Receiver(`${ferry.url}${path}`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    gone.abort();
    await waitForStats(ferry.url, (s) => s.waiting === 0, 'the pipe to be closed');
    const stays = new Receiver(`${ferry.url}${path}`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the new receiver');
    const sent = await curl(['-T', '-', `${ferry.url}${path}`], 'for the one who stayed');
    assert.equal(
      sent.stdout.toString(),
      `${WAITING_1}[INFO] 1 receiver(s) has/have been connected.\n${START_1}${TAIL}`,
    );
    assert.equal((await stays.result).body.toString(), 'for the one who stayed');
  });

  test('one of two waiting receivers leaves: the pipe keeps the other and still needs two', async () => {
    const path = uniquePath();
    const url = `${ferry.url}${path}?n=2`;
    const gone = new Receiver(url);
    const stays = new Receiver(url);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    gone.abort();
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'one receiver left');
    const sender = new Sender(url);
    await sender.waitForLog('[INFO] 1 receiver(s) has/have been connected.\n');
    const third = new Receiver(url);
    await sender.waitForLog('[INFO] Start sending to 2 receiver(s)!\n');
    sender.end('pair');
    for (const receiver of [stays, third]) assert.equal((await receiver.result).body.toString(), 'pair');
  });
});

describe('B9: a late close of an old sender never evicts a new one', { timeout: SUITE_TIMEOUT }, () => {
  test('an old sender whose stream closes after its transfer is over does not evict the next sender', async () => {
    // Over HTTP/2 a multipart sender's stream outlives its transfer: the first part is delivered and the path is
    // free again while the client is still uploading the rest of the form. Its stream closes only later.
    const path = uniquePath();
    const session = http2.connect(ferry.url);
    try {
      const boundary = 'b9boundary';
      const old = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': `multipart/form-data; boundary=${boundary}`,
      });
      let oldLog = '';
      old.setEncoding('utf8');
      old.on('data', (text: string) => {
        oldLog += text;
      });
      old.on('error', () => {});
      old.write(`--${boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\nold\r\n--${boundary}\r\n`);
      old.write('Content-Disposition: form-data; name="b"\r\n\r\nthe rest of the form, still uploading');
      const first = await request(`${ferry.url}${path}`);
      assert.equal(first.body.toString(), 'old');
      await until(
        () => oldLog.endsWith('[INFO] All receiver(s) was/were received successfully.\n'),
        'the old log to end',
      );
      await waitForStats(ferry.url, (s) => s.active === 0, 'the old transfer to be released');

      const fresh = new Sender(`${ferry.url}${path}`);
      await fresh.waitForLog(WAITING_1);
      // Now the old stream closes; a ping on the same connection returns once the server has processed that.
      old.close(http2.constants.NGHTTP2_CANCEL);
      await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
      assert.equal((await relayStats(ferry.url)).waitingSenders, 1, 'the new sender is still registered');

      const receiver = new Receiver(`${ferry.url}${path}`);
      await fresh.waitForLog(START_1);
      fresh.end('new');
      assert.equal((await receiver.result).body.toString(), 'new');
    } finally {
      session.destroy();
    }
  });

  test('old sender leaves while waiting, a new one takes the path; the old one cannot take it back', async () => {
    const path = uniquePath();
    const old = new Sender(`${ferry.url}${path}`);
    await old.waitForLog(WAITING_1);
    old.abort();
    await waitForStats(ferry.url, (s) => s.waiting === 0, 'the old pipe to close');
    const fresh = new Sender(`${ferry.url}${path}`);
    await fresh.waitForLog(WAITING_1);
    await old.result.catch(() => undefined);
    await request(`${ferry.url}/version`);
    assert.equal((await relayStats(ferry.url)).waitingSenders, 1);
    const receiver = new Receiver(`${ferry.url}${path}`);
    await fresh.waitForLog(START_1);
    fresh.end('still mine');
    assert.equal((await receiver.result).body.toString(), 'still mine');
  });
});
