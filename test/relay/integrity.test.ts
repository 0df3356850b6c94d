// Bytes in, the same bytes out: 256 MiB of random data through real curl clients, to one receiver and to
// three, sender first and receivers first, with a Content-Length and chunked; SHA-256 checked on every side.
// And backpressure: a slow receiver holds the transfer back instead of making the server buffer.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { sha256 } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  BIG_SUITE_TIMEOUT,
  type RandomFile,
  Receiver,
  randomFile,
  Sender,
  startCurl,
  uniquePath,
  until,
  waitForStats,
} from '../helpers/relay.ts';

const SIZE = 256 * 1024 * 1024;
// curl reports the framing headers it got on stderr, keeping stdout for the body.
const HEADERS_TO_STDERR = ['-w', '%{stderr}length=%header{content-length} encoding=%header{transfer-encoding}'];
const ALL_RECEIVED = '[INFO] All receiver(s) was/were received successfully.\n';

let ferry: TestServer;
let file: RandomFile;
before(async () => {
  ferry = await startFerry();
  file = randomFile(SIZE);
});
after(async () => {
  file?.remove();
  await ferry?.close();
});
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

describe('integrity, 256 MiB of random data', { timeout: BIG_SUITE_TIMEOUT }, () => {
  test('n=1, sender first, with a Content-Length (curl -T file)', async () => {
    const path = uniquePath();
    const sender = startCurl(['-T', file.path, `${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingSenders === 1, 'the sender');
    const receiver = startCurl([...HEADERS_TO_STDERR, `${ferry.url}${path}`], { hashOnly: true });
    const got = await receiver.result;
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stderr, `length=${SIZE} encoding=`);
    assert.equal(got.bytes, SIZE);
    assert.equal(got.sha256, file.sha256);
    const sent = await sender.result;
    assert.equal(sent.code, 0, sent.stderr);
    assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED), sent.stdout.toString());
  });

  test('n=3, receivers first, chunked (curl -T - from stdin)', async () => {
    const path = uniquePath();
    const url = `${ferry.url}${path}?n=3`;
    // Two curl receivers and one node:http receiver, so two client stacks read the same stream.
    const curls = [1, 2].map(() => startCurl([...HEADERS_TO_STDERR, url], { hashOnly: true }));
    const node = new Receiver(url, { keepBody: false });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 3, 'three receivers');
    const sender = startCurl(['-T', '-', url], { stdinFile: file.path });
    for (const receiver of curls) {
      const got = await receiver.result;
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stderr, 'length= encoding=chunked');
      assert.equal(got.bytes, SIZE);
      assert.equal(got.sha256, file.sha256);
    }
    const viaNode = await node.result;
    assert.equal(viaNode.complete, true);
    assert.equal(viaNode.bytes, SIZE);
    assert.equal(viaNode.sha256, file.sha256);
    const sent = await sender.result;
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(
      sent.stdout.toString(),
      '[INFO] Waiting for 3 receiver(s)...\n[INFO] 3 receiver(s) has/have been connected.\n' +
        `[INFO] Start sending to 3 receiver(s)!\n[INFO] Sent successfully!\n${ALL_RECEIVED}`,
    );
  });
});

describe('backpressure', { timeout: BIG_SUITE_TIMEOUT }, () => {
  test('the transfer goes at the pace of the slowest receiver; nothing piles up in the server', async () => {
    const size = 64 * 1024 * 1024;
    const data = randomBytes(size);
    const path = uniquePath();
    const url = `${ferry.url}${path}?n=2`;
    const fast = new Receiver(url, { keepBody: false });
    const slow = new Receiver(url, { keepBody: false });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    const sender = new Sender(url, { contentLength: size });
    await sender.waitForLog('[INFO] Start sending to 2 receiver(s)!\n');
    await sender.write(data.subarray(0, 64 * 1024));
    await slow.waitForBytes(1);
    slow.pause();
    let written = 64 * 1024;
    const writing = (async () => {
      for (; written < size; written += 64 * 1024) await sender.write(data.subarray(written, written + 64 * 1024));
      sender.end();
    })();
    // Wait until the fast receiver stops getting bytes: the slow one holds the whole transfer back.
    let last = -1;
    let since = Date.now();
    await until(
      () => {
        if (fast.bytes !== last) {
          last = fast.bytes;
          since = Date.now();
        }
        return Date.now() - since > 300;
      },
      'the fast receiver to be held back',
      15_000,
    );
    assert.ok(fast.bytes < size / 4, `the fast receiver got ${fast.bytes} bytes while the slow one read none`);
    assert.ok(written < size / 4, `the sender could push ${written} bytes`);
    slow.resume();
    await writing;
    for (const receiver of [fast, slow]) {
      const got = await receiver.result;
      assert.equal(got.complete, true);
      assert.equal(got.sha256, sha256(data));
    }
    assert.ok((await sender.result).log.endsWith(ALL_RECEIVED));
  });
});
