// The WebSocket entrance to a pipe (src/server/pipe-socket.ts): a `ws` client sends through it and curl receives
// with a plain GET, byte-identical; a socket dropped before its end message cuts the receiver (curl 18) instead of
// ending its download; bad input gets a stable error code; the relay's own refusals come back with its status.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { sha256 } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { relayStats, SUITE_TIMEOUT, startCurl, uniquePath, until, waitForStats } from '../helpers/relay.ts';
import { TestSocket } from '../helpers/ws.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

function entrance(query: string): Promise<TestSocket> {
  return TestSocket.open(`${ferry.url.replace(/^http/, 'ws')}/_/pipe?${query}`);
}

/** Send binary messages, waiting while the socket's own buffer is full (the server pauses reading under load). */
async function sendAll(socket: TestSocket, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; at += 64 * 1024) {
    socket.ws.send(data.subarray(at, at + 64 * 1024));
    while (socket.ws.bufferedAmount > 4 * 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('WebSocket entrance to a pipe', { timeout: SUITE_TIMEOUT }, () => {
  test('16 MiB reaches a curl receiver whole; the socket hears the log, then done and a normal close', async () => {
    const path = uniquePath();
    const receiver = startCurl([`${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const data = randomBytes(16 * 1024 * 1024);
    const socket = await entrance(`path=${encodeURIComponent(path)}`);
    await sendAll(socket, data);
    socket.send({ type: 'end' });
    const messages = [];
    for (;;) {
      const message = await socket.next();
      messages.push(message);
      if (message.type === 'done') break;
    }
    assert.deepEqual(messages.at(-1), { type: 'done', status: 200 });
    const log = messages.flatMap((m) => (m.type === 'log' ? [m.text] : [])).join('');
    assert.match(log, /Start sending to 1 receiver/);
    assert.match(log, /All receiver\(s\) was\/were received successfully/);
    assert.equal((await socket.closed).code, 1000);
    const got = await receiver.result;
    assert.equal(got.code, 0, got.stderr);
    assert.equal(sha256(got.stdout), sha256(data));
  });

  test('a socket that closes before its end message cuts the receiver (curl exit 18)', async () => {
    const path = uniquePath();
    const receiver = startCurl([`${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const socket = await entrance(`path=${encodeURIComponent(path)}`);
    await sendAll(socket, randomBytes(1024 * 1024));
    await waitForStats(ferry.url, (s) => s.active === 1, 'the transfer to start');
    socket.ws.terminate();
    const got = await receiver.result;
    assert.equal(got.code, 18, `curl must see a cut transfer, not a finished one: ${got.stderr}`);
  });

  test('n=2: both curl receivers get the bytes', async () => {
    const path = uniquePath();
    const receivers = [startCurl([`${ferry.url}${path}?n=2`]), startCurl([`${ferry.url}${path}?n=2`])];
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'the receivers');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const socket = await entrance(`path=${encodeURIComponent(path)}&n=2`);
    await sendAll(socket, data);
    socket.send({ type: 'end' });
    for (const receiver of receivers) {
      const got = await receiver.result;
      assert.equal(got.code, 0, got.stderr);
      assert.equal(sha256(got.stdout), sha256(data));
    }
    await socket.closed;
  });

  for (const [query, code] of [
    ['', 'bad_path'],
    ['path=photos', 'bad_path'],
    ['path=/a&n=two', 'bad_n'],
  ] as const) {
    test(`bad input ?${query}: error ${code}, close 4400`, async () => {
      const socket = await entrance(query);
      const message = await socket.next();
      assert.equal(message.type, 'error');
      assert.equal(message.code, code);
      assert.equal((await socket.closed).code, 4400);
    });
  }

  test('a text message other than end: error bad_message, and the receiver is cut', async () => {
    const path = uniquePath();
    const receiver = startCurl([`${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const socket = await entrance(`path=${encodeURIComponent(path)}`);
    socket.ws.send(randomBytes(1000));
    await waitForStats(ferry.url, (s) => s.active === 1, 'the transfer to start');
    socket.send('hello');
    let message = await socket.next();
    while (message.type === 'log') message = await socket.next();
    assert.equal(message.type, 'error');
    assert.equal(message.code, 'bad_message');
    assert.equal((await socket.closed).code, 4400);
    assert.equal((await receiver.result).code, 18);
  });

  // Found by the fuzzer (test/fuzz): each of these left the socket paused for good, so it never read its client's
  // close frame, and the first two left a waiting sender on the path forever.
  test('a waiting sender that sent its body and end, then closes: the closing handshake completes, the pipe goes', async () => {
    const socket = await entrance(`path=${encodeURIComponent(uniquePath())}`);
    // More than the in-process request buffers: the server pauses reading until a receiver takes it.
    socket.ws.send(randomBytes(513));
    socket.ws.send(randomBytes(56_994));
    socket.send({ type: 'end' });
    await waitForStats(ferry.url, (s) => s.waitingSenders === 1, 'the waiting sender');
    socket.ws.close(1000);
    assert.equal((await socket.closed).code, 1000);
  });

  test('a waiting sender paused for backpressure whose client drops its connection: the pipe goes', async () => {
    const path = uniquePath();
    const socket = await entrance(`path=${encodeURIComponent(path)}`);
    for (let i = 0; i < 40; i++) socket.ws.send(randomBytes(64 * 1024));
    await waitForStats(ferry.url, (s) => s.waitingSenders === 1, 'the waiting sender');
    await new Promise((resolve) => setTimeout(resolve, 500));
    socket.ws.terminate();
    // The paused socket reads nothing; the server's next ping finds the connection gone (within two intervals).
    await until(async () => (await relayStats(ferry.url)).waiting === 0, 'the waiting sender to go', 15_000);
    // And the path is free for an honest pair.
    const receiver = startCurl([`${ferry.url}${path}`]);
    const data = randomBytes(100_000);
    const sender = startCurl(['-T', '-', `${ferry.url}${path}`], { stdin: data });
    assert.equal((await sender.result).code, 0);
    assert.equal((await receiver.result).sha256, sha256(data));
  });

  test('messages after a refusal are not read into the cut request: the closing handshake completes', async () => {
    const socket = await entrance(`path=${encodeURIComponent(uniquePath())}`);
    socket.send('null');
    socket.ws.send(randomBytes(4));
    socket.send({ type: 'end' });
    let message = await socket.next();
    while (message.type === 'log') message = await socket.next();
    assert.equal(message.code, 'bad_message');
    assert.equal((await socket.closed).code, 4400);
  });

  test("the relay's refusal comes back with its status: a reserved path is 400", async () => {
    const socket = await entrance('path=/_/health');
    const log = await socket.next();
    assert.equal(log.type, 'log');
    assert.match(String(log.text), /\[ERROR\]/);
    assert.deepEqual(await socket.next(), { type: 'done', status: 400 });
  });
});
