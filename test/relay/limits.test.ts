// The limits a deployment sets (src/server/config.ts), which piping-server lacks (B10): each one, when hit,
// gives a clear status and text to the one who hit it and leaves everyone else alone.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ServeConfig } from '../../src/server/config.ts';
import { curl } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  type HttpResult,
  Receiver,
  request,
  Sender,
  SUITE_TIMEOUT,
  uniquePath,
  waitForStats,
} from '../helpers/relay.ts';

const WAITING_1 = '[INFO] Waiting for 1 receiver(s)...\n';
const START_1 = '[INFO] Start sending to 1 receiver(s)!\n';
const ALL_RECEIVED = '[INFO] All receiver(s) was/were received successfully.\n';

/** A server with these limits for the tests of one describe block. */
function serverWith(overrides: Partial<ServeConfig>): () => TestServer {
  let ferry: TestServer | undefined;
  before(async () => {
    ferry = await startFerry(overrides);
  });
  after(() => ferry?.close());
  afterEach(() => waitForStats(get().url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));
  const get = () => {
    if (!ferry) throw new Error('server not started');
    return ferry;
  };
  return get;
}

function assertRefused(res: HttpResult, status: number, text: string): void {
  assert.equal(res.status, status);
  assert.equal(res.body.toString(), text);
  assert.equal(res.headers['content-type'], 'text/plain');
  assert.equal(res.headers['access-control-allow-origin'], '*');
  assert.equal(res.headers['content-length'], String(Buffer.byteLength(text)));
}

/** A sender and a receiver meet on `path` and the bytes arrive. */
async function transfer(url: string, path: string, body = 'payload'): Promise<void> {
  const receiver = new Receiver(`${url}${path}`);
  const sent = await curl(['-T', '-', `${url}${path}`], body);
  assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED), sent.stdout.toString());
  assert.equal((await receiver.result).body.toString(), body);
}

describe('max waiting pipes', { timeout: SUITE_TIMEOUT }, () => {
  const ferry = serverWith({ maxWaitingPipes: 2 });

  test('a third waiting pipe is refused with 503; joining a waiting pipe still works', async () => {
    const { url } = ferry();
    const [p1, p2, p3] = [uniquePath(), uniquePath(), uniquePath()];
    const sender = new Sender(`${url}${p1}`);
    await sender.waitForLog(WAITING_1);
    const receiver = new Receiver(`${url}${p2}`);
    await waitForStats(url, (s) => s.waiting === 2, 'two waiting pipes');

    const text = '[ERROR] The server has too many waiting pipes (2); try again later.\n';
    assertRefused(await request(`${url}${p3}`, { method: 'PUT', body: 'x' }), 503, text);
    assertRefused(await request(`${url}${p3}`), 503, text);

    // The pipes already waiting are not affected: each can still be joined.
    const joining = new Receiver(`${url}${p1}`);
    await sender.waitForLog(START_1);
    sender.end('to p1');
    assert.equal((await joining.result).body.toString(), 'to p1');
    // One slot is free again, so a new pipe is admitted.
    await transfer(url, p3, 'to p3');
    const sent = await curl(['-T', '-', `${url}${p2}`], 'to p2');
    assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED));
    assert.equal((await receiver.result).body.toString(), 'to p2');
  });
});

describe('max receivers (largest n)', { timeout: SUITE_TIMEOUT }, () => {
  const ferry = serverWith({ maxReceivers: 3 });

  test('n above the limit: 400 for senders and receivers; n at the limit works', async () => {
    const { url } = ferry();
    const path = uniquePath();
    const text = '[ERROR] n should be at most 3, but n = 4.\n';
    assertRefused(await request(`${url}${path}?n=4`, { method: 'PUT', body: 'x' }), 400, text);
    assertRefused(await request(`${url}${path}?n=4`), 400, text);
    const receivers = [1, 2, 3].map(() => new Receiver(`${url}${path}?n=3`));
    await waitForStats(url, (s) => s.waitingReceivers === 3, 'three receivers');
    const sent = await curl(['-T', '-', `${url}${path}?n=3`], 'three');
    assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED));
    for (const receiver of receivers) assert.equal((await receiver.result).body.toString(), 'three');
  });
});

describe('max path length', { timeout: SUITE_TIMEOUT }, () => {
  const ferry = serverWith({ maxPathLength: 16 });

  test('a path over the limit is 414 for both sides; one at the limit works', async () => {
    const { url } = ferry();
    const text = '[ERROR] The path is too long (at most 16 bytes).\n';
    const tooLong = `/${'a'.repeat(16)}`; // 17 bytes with its slash
    assertRefused(await request(`${url}${tooLong}`, { method: 'POST', body: 'x' }), 414, text);
    assertRefused(await request(`${url}${tooLong}`), 414, text);
    assertRefused(await request(`${url}${tooLong}?n=2`), 414, text);
    const fits = `/${'b'.repeat(15)}`;
    await transfer(url, fits);
    // The length is of the path alone: a long query does not count.
    await transfer(url, `${fits}?tag=${'q'.repeat(100)}`);
    // Pages stay reachable whatever the limit.
    assert.equal((await request(`${url}/noscript?path=${'p'.repeat(100)}`)).status, 200);
  });
});

describe('max pipes per client', { timeout: SUITE_TIMEOUT }, () => {
  const ferry = serverWith({ maxPipesPerClient: 2 });

  test('a client over its limit gets 429; another client is unaffected; a freed slot can be reused', async () => {
    const { url } = ferry();
    const [p1, p2, p3] = [uniquePath(), uniquePath(), uniquePath()];
    const sender = new Sender(`${url}${p1}`);
    await sender.waitForLog(WAITING_1);
    const receiver = new Receiver(`${url}${p2}`);
    await waitForStats(url, (s) => s.waitingReceivers === 1, 'the receiver');

    const text = '[ERROR] You have too many pipes waiting or in progress (2); finish some and try again.\n';
    assertRefused(await request(`${url}${p3}`, { method: 'PUT', body: 'x' }), 429, text);
    assertRefused(await request(`${url}${p1}`), 429, text);

    // 127.0.0.2 is another client on this machine: it may join both pipes.
    const other = new Receiver(`${url}${p1}`, { localAddress: '127.0.0.2' });
    await sender.waitForLog(START_1);
    sender.end('to the other client');
    assert.equal((await other.result).body.toString(), 'to the other client');
    await sender.result;
    const otherSender = await curl(['--interface', '127.0.0.2', '-T', '-', `${url}${p2}`], 'from the other client');
    assert.ok(otherSender.stdout.toString().endsWith(ALL_RECEIVED));
    assert.equal((await receiver.result).body.toString(), 'from the other client');

    // Both of the first client's slots are free again.
    await waitForStats(url, (s) => s.waiting === 0 && s.active === 0, 'the pipes to close');
    await transfer(url, p3);
  });
});

describe('max wait', { timeout: SUITE_TIMEOUT }, () => {
  const ferry = serverWith({ maxWait: 1 });
  const text = '[ERROR] Nobody came to the other end within 1 s; the pipe was closed.\n';

  test('a sender nobody joins is told so, and its response ends', async () => {
    const { url } = ferry();
    const path = uniquePath();
    const started = Date.now();
    const result = await new Sender(`${url}${path}`).result;
    assert.ok(Date.now() - started >= 900, 'not before the limit');
    assert.equal(result.status, 200);
    assert.equal(result.complete, true);
    assert.equal(result.log, `${WAITING_1}${text}`);
    await transfer(url, path, 'the path is free again');
  });

  test('a receiver nobody joins gets 408 with the same text', async () => {
    const { url } = ferry();
    const path = uniquePath();
    const receivers = [1, 2].map(() => new Receiver(`${url}${path}?n=3`));
    for (const receiver of receivers) {
      const result = await receiver.result;
      assert.equal(result.status, 408);
      assert.equal(result.body.toString(), text);
      assert.equal(result.headers['access-control-allow-origin'], '*');
    }
  });

  test('a transfer that starts in time runs as long as it needs', async () => {
    const { url } = ferry();
    const path = uniquePath();
    const sender = new Sender(`${url}${path}`);
    await sender.waitForLog(WAITING_1);
    const receiver = new Receiver(`${url}${path}`);
    await sender.waitForLog(START_1);
    await sender.write('slow ');
    await receiver.waitForBytes(5);
    // Past the waiting limit while the transfer runs: it must not apply any more.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    sender.end('but whole');
    assert.equal((await receiver.result).body.toString(), 'slow but whole');
    assert.ok((await sender.result).log.endsWith(ALL_RECEIVED));
  });
});
