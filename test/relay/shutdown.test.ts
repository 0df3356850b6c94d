// Graceful shutdown as the relay sees it: new connections are refused, waiting parties are told the server
// is going away, running transfers may finish within the grace period and are cut when it is over.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { sha256 } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  Receiver,
  request,
  Sender,
  SUITE_TIMEOUT,
  startCurl,
  uniquePath,
  waitForStats,
  within,
} from '../helpers/relay.ts';

const SHUTTING_DOWN = '[ERROR] The server is shutting down; try again later.\n';
const START_1 = '[INFO] Start sending to 1 receiver(s)!\n';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function server(): Promise<TestServer> {
  const ferry = await startFerry();
  servers.push(ferry);
  return ferry;
}

describe('shutdown', { timeout: SUITE_TIMEOUT }, () => {
  test('with grace: running transfers finish, waiting parties get 503 / the shutdown line, no new connections', async () => {
    const ferry = await server();
    const data = randomBytes(2 * 1024 * 1024);
    const path = uniquePath();
    const running = new Sender(`${ferry.url}${path}`, { contentLength: data.length });
    const receiver = startCurl([`${ferry.url}${path}`], { hashOnly: true });
    await running.waitForLog(START_1);
    await running.write(data.subarray(0, 1024 * 1024));

    const waitingReceiver = new Receiver(`${ferry.url}${uniquePath()}`);
    const waitingSender = new Sender(`${ferry.url}${uniquePath()}`);
    await waitingSender.waitForLog('[INFO] Waiting for 1 receiver(s)...\n');
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1 && s.active === 1, 'everyone in place');

    let closed = false;
    const closing = ferry.server.close(30).then(() => {
      closed = true;
    });

    const refused = await waitingReceiver.result;
    assert.equal(refused.status, 503);
    assert.equal(refused.body.toString(), SHUTTING_DOWN);
    const told = await waitingSender.result;
    assert.equal(told.log, `[INFO] Waiting for 1 receiver(s)...\n${SHUTTING_DOWN}`);
    assert.equal(told.complete, true);
    await assert.rejects(request(`${ferry.url}/version`), { code: 'ECONNREFUSED' });
    assert.equal(closed, false, 'shutdown waits for the running transfer');

    await running.write(data.subarray(1024 * 1024));
    running.end();
    const got = await receiver.result;
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.sha256, sha256(data));
    assert.ok((await running.result).log.endsWith('[INFO] All receiver(s) was/were received successfully.\n'));
    // ...and returns as soon as it is done, long before the 30 s grace.
    await within(closing, 5000, 'close() to resolve once the transfer is done');
  });

  test('with no grace: a running transfer is cut', async () => {
    const ferry = await server();
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`, { contentLength: 1000 });
    const receiver = startCurl([`${ferry.url}${path}`]);
    await sender.waitForLog(START_1);
    await sender.write('only the start');
    await within(ferry.server.close(0), 5000, 'close(0)');
    const got = await receiver.result;
    assert.equal(got.code, 18, got.stderr);
    const result = await sender.result.catch((err: Error) => err);
    assert.ok(result instanceof Error || result.complete === false, 'the sender sees its connection cut');
  });

  test('a grace period that runs out cuts what is still running', async () => {
    const ferry = await server();
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`);
    const receiver = startCurl([`${ferry.url}${path}`]);
    await sender.waitForLog(START_1);
    await sender.write('never finished');
    const started = Date.now();
    await within(ferry.server.close(1), 5000, 'close(1)');
    assert.ok(Date.now() - started >= 900, 'the grace period was given');
    const got = await receiver.result;
    assert.equal(got.code, 18, got.stderr);
  });
});
