// Hostile input against `ferry serve` as its own process, so that a crash shows as an exit: each input gets its clear
// error, and the server keeps serving an honest pipe and honest peers beside it (issue 15's crashes).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../helpers/curl.ts';
import { type SpawnedServer, spawnFerry } from '../helpers/ferry.ts';
import { SUITE_TIMEOUT, startCurl, waitForStats } from '../helpers/relay.ts';
import { TestSocket } from '../helpers/ws.ts';

let ferry: SpawnedServer;
let wsUrl: string;
before(async () => {
  ferry = await spawnFerry();
  wsUrl = ferry.url.replace(/^http/, 'ws');
});
after(() => ferry.stop());

/** The server is still running and a 1 MiB pipe transfer through it arrives whole. */
async function stillServes(): Promise<void> {
  assert.equal(ferry.process.exitCode, null, `ferry serve exited: ${ferry.stderr()}`);
  const data = randomBytes(1024 * 1024);
  const path = `/honest-${randomBytes(4).toString('hex')}`;
  const receiver = startCurl([`${ferry.url}${path}`]);
  const sender = startCurl(['-T', '-', `${ferry.url}${path}`], { stdin: data });
  const [got, sent] = await Promise.all([receiver.result, sender.result]);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.sha256, sha256(data));
  assert.equal(ferry.process.exitCode, null, `ferry serve exited: ${ferry.stderr()}`);
}

/** The first message of a `/_/pipe` entrance other than the relay's log lines. */
async function firstVerdict(socket: TestSocket): Promise<Record<string, unknown>> {
  let message = await socket.next();
  while (message.type === 'log') message = await socket.next();
  return message;
}

// 1500 levels of nesting: zod's recursive JSON check overflowed the stack on this and the process exited.
const DEEP = `${'['.repeat(1500)}${']'.repeat(1500)}`;

describe('hostile input does not stop the server', { timeout: SUITE_TIMEOUT }, () => {
  for (const encoded of ['%00', '%01', '%7F', '%E2%80%AE', '%E2%81%A6']) {
    test(`/_/pipe?path=/${encoded}: bad_path, and the server goes on`, async () => {
      const socket = await TestSocket.open(`${wsUrl}/_/pipe?path=${encodeURIComponent(`/${encoded}`)}`);
      const verdict = await socket.next();
      assert.equal(verdict.type, 'error');
      assert.equal(verdict.code, 'bad_path');
      assert.equal((await socket.closed).code, 4400);
      // Raw in the parameter (decoded once by the query), the same.
      const raw = await TestSocket.open(`${wsUrl}/_/pipe?path=/${encoded}`);
      assert.equal((await raw.next()).code, 'bad_path');
      await stillServes();
    });
  }

  for (const name of ['€', '😀', 'é/ü']) {
    test(`/_/pipe?path=/${name}: the same pipe as curl's percent-encoded GET`, async () => {
      const path = `/${name}`;
      const receiver = startCurl([`${ferry.url}${encodeURI(path)}`]);
      await waitForStats(ferry.url, (s) => s.waitingReceivers >= 1, 'the receiver');
      const socket = await TestSocket.open(`${wsUrl}/_/pipe?path=${encodeURIComponent(path)}`);
      const data = randomBytes(200_000);
      socket.ws.send(data);
      socket.send({ type: 'end' });
      assert.deepEqual(await firstVerdict(socket), { type: 'done', status: 200 });
      const got = await receiver.result;
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.sha256, sha256(data));
      await stillServes();
    });
  }

  test('/_/ws: 1500 nested arrays get too_deep; the peer stays connected and messages still flow', async () => {
    const alice = await TestSocket.peer(ferry.url);
    const bob = await TestSocket.peer(ferry.url, { id: `bob-${randomBytes(4).toString('hex')}` });
    const bobId = bob.id;
    alice.send(`{"type":"message","to":"${bobId}","data":${DEEP}}`);
    const error = await alice.next();
    assert.equal(error.type, 'error');
    assert.equal(error.code, 'too_deep');
    alice.send(`{"type":"hello","versions":[1],"id":${DEEP}}`);
    assert.equal((await alice.next()).code, 'too_deep');
    alice.send({ type: 'message', to: bobId, data: { ok: [1, [2, [3]]] } });
    const got = await bob.next();
    assert.deepEqual(got, { type: 'message', to: bobId, data: { ok: [1, [2, [3]]] }, from: alice.id });
    await alice.close();
    await bob.close();
    await stillServes();
  });

  test('/_/ws: a message of more values than the limit gets too_large, cheaply', async () => {
    const alice = await TestSocket.peer(ferry.url);
    alice.send({ type: 'message', to: alice.id, data: Array.from({ length: 6000 }, () => 1) });
    const error = await alice.next();
    assert.equal(error.code, 'too_large');
    await alice.expectNothingPending();
    await alice.close();
  });

  for (const endpoint of ['/register', '/offer']) {
    test(`${endpoint}: a deeply nested frame or payload is a bad request (code 1), and the server goes on`, async () => {
      const socket = await TestSocket.open(`${wsUrl}${endpoint}`);
      socket.send(`{"command":1,"payload":null,"x":${DEEP}}`);
      // A frame too deep to read has no command to answer to: 0 + 100, as for any unreadable frame.
      const frameReply = await socket.next();
      assert.equal(frameReply.command, 100);
      assert.equal(JSON.parse(Buffer.from(String(frameReply.payload), 'base64').toString()).code, 1);
      const payload = Buffer.from(`{"source":${DEEP}}`).toString('base64');
      socket.send({ command: 1, payload });
      const payloadReply = await socket.next();
      assert.equal(payloadReply.command, 101);
      assert.equal(JSON.parse(Buffer.from(String(payloadReply.payload), 'base64').toString()).code, 1);
      await socket.close();
      await stillServes();
    });
  }

  test('an upgrade socket reset by its client mid-refusal does not take the server down', async () => {
    const net = await import('node:net');
    const port = Number(new URL(ferry.url).port);
    for (let i = 0; i < 20; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      socket.resetAndDestroy();
    }
    await stillServes();
  });
});
