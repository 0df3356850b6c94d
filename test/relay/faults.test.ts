// Reference §1.12/§1.13 and bugs B1/B2/B10: what each side sees when the other vanishes mid-transfer, that
// one receiver leaving never harms the others and always ends the sender's log with a report, that bad
// requests next to a running transfer get clear answers without touching it, and that no timeout cuts a
// transfer while a client that never finishes its headers is dropped.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { curl, sha256 } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  parseResponse,
  RawClient,
  Receiver,
  rawExchange,
  request,
  Sender,
  SUITE_TIMEOUT,
  startCurl,
  uniquePath,
  until,
  waitForStats,
} from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  // A short header deadline, so the slow-client case is quick and the long-transfer cases prove it never
  // applies once a request is under way.
  ferry = await startFerry({ headerTimeout: 1 });
});
after(() => ferry.close());
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

const WAITING_1 = '[INFO] Waiting for 1 receiver(s)...\n';
const START_1 = '[INFO] Start sending to 1 receiver(s)!\n';
const ALL_RECEIVED = '[INFO] All receiver(s) was/were received successfully.\n';

/** Write `data` through the sender in 64 KiB pieces, honouring backpressure. */
async function writeAll(sender: Sender, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; at += 64 * 1024) await sender.write(data.subarray(at, at + 64 * 1024));
}

/** The path can be used again at once: a new sender is the first party, not "established already". */
async function assertReusable(path: string, query = ''): Promise<void> {
  const sender = new Sender(`${ferry.url}${path}${query}`);
  await sender.waitForLog('[INFO] Waiting for');
  assert.match(sender.log, /^\[INFO\] Waiting for \d+ receiver\(s\)\.\.\.\n$/);
  sender.abort();
}

describe('the sender vanishes mid-stream', { timeout: SUITE_TIMEOUT }, () => {
  test('with a Content-Length: the receiver is cut (curl 18), the path is free at once', async () => {
    const path = uniquePath();
    const receiver = startCurl([`${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = new Sender(`${ferry.url}${path}`, { contentLength: 100 });
    await sender.waitForLog(START_1);
    await sender.write('0123456789');
    sender.abort();
    const got = await receiver.result;
    assert.equal(got.code, 18, got.stderr);
    assert.match(got.stderr, /transfer closed with \d+ bytes remaining to read/);
    assert.ok('0123456789'.startsWith(got.stdout.toString()));
    await assertReusable(path);
  });

  test('chunked: the receiver is cut (curl 18), never a clean end', async () => {
    const path = uniquePath();
    const receiver = startCurl([`${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog(START_1);
    await sender.write('0123456789');
    sender.abort();
    const got = await receiver.result;
    assert.equal(got.code, 18, got.stderr);
    assert.match(got.stderr, /transfer closed with outstanding read data remaining/);
    await assertReusable(path);
  });

  test('with several receivers, every one is cut', async () => {
    const path = uniquePath();
    const url = `${ferry.url}${path}?n=2`;
    const receivers = [new Receiver(url), new Receiver(url)];
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'the receivers');
    const sender = new Sender(url);
    await sender.waitForLog('[INFO] Start sending to 2 receiver(s)!\n');
    await sender.write('partial');
    for (const receiver of receivers) await receiver.waitForBytes(7);
    sender.abort();
    for (const receiver of receivers) {
      const result = await receiver.result;
      assert.equal(result.complete, false);
      assert.equal(result.body.toString(), 'partial');
    }
    await assertReusable(path, '?n=2');
  });
});

describe('receivers vanish mid-stream (B1, B2)', { timeout: SUITE_TIMEOUT }, () => {
  test('the only receiver leaves: the sender is told and disconnected, the path is free', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog(WAITING_1);
    const receiver = new Receiver(`${ferry.url}${path}`);
    await sender.waitForLog(START_1);
    await sender.write('some');
    await receiver.waitForBytes(4);
    receiver.abort();
    await sender.waitForLog('[INFO] All receiver(s) was/were aborted halfway.\n');
    const result = await sender.result;
    assert.equal(
      result.log,
      `${WAITING_1}[INFO] A receiver was connected.\n${START_1}` +
        '[INFO] A receiver aborted.\n[INFO] All receiver(s) was/were aborted halfway.\n',
    );
    await until(() => sender.req.destroyed || sender.req.socket?.destroyed === true, 'the sender to be disconnected');
    await assertReusable(path);
  });

  for (const n of [2, 3]) {
    test(`n=${n}, one receiver leaves: the others get every byte, the sender's log ends with a report`, async () => {
      const data = randomBytes(4 * 1024 * 1024);
      const path = uniquePath();
      const url = `${ferry.url}${path}?n=${n}`;
      const leaving = new Receiver(url, { keepBody: false });
      const staying = Array.from({ length: n - 1 }, () => startCurl([url], { hashOnly: true }));
      await waitForStats(ferry.url, (s) => s.waitingReceivers === n, 'every receiver');
      const sender = new Sender(url, { contentLength: data.length });
      await sender.waitForLog(`[INFO] Start sending to ${n} receiver(s)!\n`);
      await sender.write(data.subarray(0, 64 * 1024));
      await leaving.waitForBytes(1);
      leaving.abort();
      await sender.waitForLog('[INFO] A receiver aborted.\n');
      await writeAll(sender, data.subarray(64 * 1024));
      sender.end();
      for (const receiver of staying) {
        const got = await receiver.result;
        assert.equal(got.code, 0, got.stderr);
        assert.equal(got.bytes, data.length);
        assert.equal(got.sha256, sha256(data));
      }
      const result = await sender.result;
      assert.equal(result.complete, true, "the sender's response ends");
      assert.equal(
        result.log,
        `[INFO] Waiting for ${n} receiver(s)...\n[INFO] ${n} receiver(s) has/have been connected.\n` +
          `[INFO] Start sending to ${n} receiver(s)!\n[INFO] A receiver aborted.\n[INFO] Sent successfully!\n` +
          `[INFO] ${n - 1} receiver(s) received successfully; 1 aborted halfway.\n`,
      );
      // Right after, the path is a fresh one.
      await assertReusable(path, `?n=${n}`);
    });
  }
});

describe('bad requests beside a running transfer', { timeout: SUITE_TIMEOUT }, () => {
  test('each gets its clear answer; the transfer carries on untouched', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const path = uniquePath();
    const receiver = startCurl([`${ferry.url}${path}`], { hashOnly: true });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = new Sender(`${ferry.url}${path}`, { contentLength: data.length });
    await sender.waitForLog(START_1);
    await writeAll(sender, data.subarray(0, data.length / 2));

    const answer = async (text: string) => (await rawExchange(ferry.port, text)).toString('latin1');
    assert.equal(
      await answer('THIS IS NOT HTTP\r\n\r\n'),
      'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\n' +
        '[ERROR] Malformed HTTP request.\n',
    );
    assert.equal(
      await answer(`GET ${path} HTTP/1.1\r\nHost: x\r\nX-Huge: ${'h'.repeat(17 * 1024)}\r\n\r\n`),
      'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 56\r\n' +
        'Connection: close\r\n\r\n[ERROR] Request headers are too large (16 KiB at most).\n',
    );
    const long = parseResponse(
      await rawExchange(ferry.port, `GET /${'l'.repeat(1024)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    assert.equal(long.statusLine, 'HTTP/1.1 414 URI Too Long');
    assert.equal(long.body.toString(), '[ERROR] The path is too long (at most 1024 bytes).\n');
    const badN = await request(`${ferry.url}${path}?n=zero`);
    assert.equal(badN.status, 400);
    assert.equal(badN.body.toString(), '[ERROR] Invalid query parameter "n"\n');
    const badForm = await curl([
      '-H',
      'Content-Type: multipart/form-data',
      '--data-binary',
      'x',
      `${ferry.url}${uniquePath()}`,
    ]);
    assert.equal(
      badForm.stdout.toString(),
      '[ERROR] Malformed multipart/form-data: the Content-Type has no valid boundary.\n',
    );
    const brokenForm = await curl([
      '-H',
      'Content-Type: multipart/form-data; boundary=q',
      '--data-binary',
      'x',
      `${ferry.url}${path}`,
    ]);
    assert.equal(brokenForm.stdout.toString(), `[ERROR] Connection on '${path}' has been established already.\n`);

    // A client that never finishes its headers is answered 408 and dropped after the 1 s deadline...
    const slow = new RawClient(ferry.port);
    slow.send(`GET ${uniquePath()} HTTP/1.1\r\nHost: x\r\n`);
    const started = Date.now();
    const dropped = (await slow.untilClosed(5000)).toString('latin1');
    assert.match(
      dropped,
      /^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*\r\n\r\n\[ERROR\] Request headers took too long\.\n$/,
    );
    assert.ok(Date.now() - started < 4000, `dropped after ${Date.now() - started} ms`);
    // ...and one that sends nothing at all is closed too.
    const silent = new RawClient(ferry.port);
    assert.equal((await silent.untilClosed(5000)).length, 0);

    // The transfer sat idle through all of that (well past the header deadline) and is unharmed.
    await writeAll(sender, data.subarray(data.length / 2));
    sender.end();
    const got = await receiver.result;
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.sha256, sha256(data));
    assert.ok((await sender.result).log.endsWith(ALL_RECEIVED));
  });

  test('a receiver may wait, and a sender may pause, far longer than the header deadline', async () => {
    const path = uniquePath();
    const receiver = new Receiver(`${ferry.url}${path}`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    // Time passing is the point here: two header deadlines with nothing happening.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver, still waiting');
    assert.equal(receiver.status, undefined, 'and still told nothing');
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog(START_1);
    await sender.write('before the pause;');
    await receiver.waitForBytes(1);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    sender.end('after the pause');
    const result = await receiver.result;
    assert.equal(result.complete, true);
    assert.equal(result.body.toString(), 'before the pause;after the pause');
    assert.ok((await sender.result).log.endsWith(ALL_RECEIVED));
  });
});
