// Reference §1.6 and §1.10: how `n` is read (parseInt of the first `n`, with different texts for a sender and
// a receiver when it is not a number), and how n receivers gather, in any order, and get identical bytes.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { curl } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { Receiver, request, Sender, SUITE_TIMEOUT, uniquePath, waitForStats } from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());
// Every test leaves the relay idle: nothing waiting, nothing wedged.
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

/** The first line a sender gets with this raw query, then it leaves. */
async function senderFirstLine(query: string): Promise<string> {
  const sender = new Sender(`${ferry.url}${uniquePath()}${query}`);
  await sender.waitForLog('\n');
  sender.abort();
  return sender.log;
}

async function assertRejected(query: string, senderText: string, receiverText: string): Promise<void> {
  const path = uniquePath();
  const sent = await request(`${ferry.url}${path}${query}`, { method: 'PUT', body: 'x' });
  assert.equal(sent.status, 400);
  assert.equal(sent.body.toString(), senderText);
  assert.equal(sent.headers['content-type'], 'text/plain');
  assert.equal(sent.headers['access-control-allow-origin'], '*');
  assert.equal(sent.headers['content-length'], String(sent.body.length));
  const received = await request(`${ferry.url}${path}${query}`);
  assert.equal(received.status, 400);
  assert.equal(received.body.toString(), receiverText);
  assert.equal(received.headers['access-control-allow-origin'], '*');
}

describe('the n query parameter', { timeout: SUITE_TIMEOUT }, () => {
  test('absent: one receiver', async () => {
    assert.equal(await senderFirstLine(''), '[INFO] Waiting for 1 receiver(s)...\n');
  });

  for (const query of ['?n=abc', '?n=', '?n']) {
    test(`${query}: not a number, with the sender's and the receiver's own texts`, async () => {
      await assertRejected(query, '[ERROR] Invalid "n" query parameter\n', '[ERROR] Invalid query parameter "n"\n');
    });
  }

  for (const [query, n] of [
    ['?n=0', '0'],
    ['?n=-1', '-1'],
    ['?n=0x10', '0'],
  ]) {
    test(`${query}: 400 "n should > 0, but n = ${n}."`, async () => {
      const text = `[ERROR] n should > 0, but n = ${n}.\n`;
      await assertRejected(query as string, text, text);
    });
  }

  for (const [query, n] of [
    ['?n=1.5', 1],
    ['?n=1e3', 1],
    ['?n=2abc', 2],
    ['?n=%2B2', 2],
    ['?n=+2', 2],
    ['?n=%202', 2],
    ['?n=3&n=5', 3],
    ['?tag=x&n=2&tag=y', 2],
  ] as const) {
    test(`${query} is read as n = ${n}`, async () => {
      assert.equal(await senderFirstLine(query), `[INFO] Waiting for ${n} receiver(s)...\n`);
    });
  }

  test('receivers read n the same way: ?n=2abc and ?n=%2B2 complete a sender with ?n=2', async () => {
    const path = uniquePath();
    const first = new Receiver(`${ferry.url}${path}?n=2abc`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the first receiver');
    const sender = new Sender(`${ferry.url}${path}?n=2`);
    await sender.waitForLog('[INFO] 1 receiver(s) has/have been connected.\n');
    const second = new Receiver(`${ferry.url}${path}?n=%2B2`);
    await sender.waitForLog('[INFO] Start sending to 2 receiver(s)!\n');
    sender.end('two');
    for (const receiver of [first, second]) assert.equal((await receiver.result).body.toString(), 'two');
  });

  test('a huge n is refused by our max-receivers limit (piping-server accepts it and never starts)', async () => {
    const text = '[ERROR] n should be at most 100, but n = 100000000000000000000.\n';
    await assertRejected('?n=99999999999999999999', text, text);
  });
});

describe('several receivers', { timeout: SUITE_TIMEOUT }, () => {
  test('sender first, then three receivers: identical bytes and headers for all', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}?n=3`, {
      headers: { 'Content-Type': 'application/octet-stream', 'X-Piping': 'meta' },
    });
    await sender.waitForLog('[INFO] Waiting for 3 receiver(s)...\n');
    const receivers = [1, 2, 3].map(() => new Receiver(`${ferry.url}${path}?n=3`));
    await sender.waitForLog('[INFO] Start sending to 3 receiver(s)!\n');
    const payload = Buffer.alloc(300_000, 'abc');
    sender.end(payload);
    const results = await Promise.all(receivers.map((r) => r.result));
    const strip = (headers: Record<string, unknown>) => ({ ...headers, date: undefined });
    for (const result of results) {
      assert.equal(result.status, 200);
      assert.ok(result.body.equals(payload));
      assert.deepEqual(strip(result.headers), strip((results[0] as typeof result).headers));
    }
    assert.equal(
      (await sender.result).log,
      '[INFO] Waiting for 3 receiver(s)...\n' +
        '[INFO] A receiver was connected.\n'.repeat(3) +
        '[INFO] Start sending to 3 receiver(s)!\n[INFO] Sent successfully!\n' +
        '[INFO] All receiver(s) was/were received successfully.\n',
    );
  });

  test('receivers first: the sender is told how many are there and starts at once', async () => {
    const path = uniquePath();
    const receivers = [1, 2].map(() => new Receiver(`${ferry.url}${path}?n=2`));
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    const sender = new Sender(`${ferry.url}${path}?n=2`);
    await sender.waitForLog('[INFO] Start sending to 2 receiver(s)!\n');
    sender.end('for both');
    for (const receiver of receivers) assert.equal((await receiver.result).body.toString(), 'for both');
    assert.equal(
      (await sender.result).log,
      '[INFO] Waiting for 2 receiver(s)...\n[INFO] 2 receiver(s) has/have been connected.\n' +
        '[INFO] Start sending to 2 receiver(s)!\n[INFO] Sent successfully!\n' +
        '[INFO] All receiver(s) was/were received successfully.\n',
    );
  });

  test('every party must use the same n, whoever came first', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}?n=2`);
    await sender.waitForLog('[INFO] Waiting for 2 receiver(s)...\n');
    const wrong = await request(`${ferry.url}${path}?n=3`);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.toString(), '[ERROR] The number of receivers should be 2 but 3.\n');
    const defaulted = await request(`${ferry.url}${path}`);
    assert.equal(defaulted.body.toString(), '[ERROR] The number of receivers should be 2 but 1.\n');
    sender.abort();

    const path2 = uniquePath();
    const receiver = new Receiver(`${ferry.url}${path2}?n=3`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const otherReceiver = await request(`${ferry.url}${path2}?n=2`);
    assert.equal(otherReceiver.body.toString(), '[ERROR] The number of receivers should be 3 but 2.\n');
    const otherSender = await request(`${ferry.url}${path2}`, { method: 'PUT', body: 'x' });
    assert.equal(otherSender.status, 400);
    assert.equal(otherSender.body.toString(), '[ERROR] The number of receivers should be 3 but 1.\n');
    receiver.abort();
  });

  test('an extra receiver: "reached limits" before the transfer, "established already" during it', async () => {
    const path = uniquePath();
    const receivers = [1, 2].map(() => new Receiver(`${ferry.url}${path}?n=2`));
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    const early = await curl([`${ferry.url}${path}?n=2`]);
    assert.equal(early.stdout.toString(), '[ERROR] The number of receivers has reached limits.\n');

    const sender = new Sender(`${ferry.url}${path}?n=2`);
    await sender.waitForLog('[INFO] Start sending to 2 receiver(s)!\n');
    await sender.write('first half;');
    for (const receiver of receivers) await receiver.waitForBytes(1);
    const late = await request(`${ferry.url}${path}?n=2`);
    assert.equal(late.status, 400);
    assert.equal(late.body.toString(), `[ERROR] Connection on '${path}' has been established already.\n`);
    const lateSender = await request(`${ferry.url}${path}?n=2`, { method: 'POST', body: 'x' });
    assert.equal(lateSender.body.toString(), `[ERROR] Connection on '${path}' has been established already.\n`);
    sender.end('second half');
    for (const receiver of receivers) {
      assert.equal((await receiver.result).body.toString(), 'first half;second half');
    }
    assert.equal((await sender.result).log.endsWith('[INFO] All receiver(s) was/were received successfully.\n'), true);
  });
});
