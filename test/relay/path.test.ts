// Reference §1.5: what names a pipe. The request-target is read as piping-server reads it (WHATWG URL against
// `a:///`), so dot segments resolve, escapes stay as sent, case and trailing slashes matter, a leading `//host`
// is an authority, and the query (but for n) and fragment are ignored. Raw sockets send targets byte for byte.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, afterEach, before, describe, test } from 'node:test';
import { VERSION } from '../../src/version.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  parseResponse,
  RawClient,
  rawExchange,
  relayStats,
  SUITE_TIMEOUT,
  until,
  waitForStats,
} from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

let tagCounter = 0;
const tag = () => `${process.pid}x${++tagCounter}`;

const DONE = '[INFO] All receiver(s) was/were received successfully.\n';

/** A sender on a raw connection with the exact request-target given; waits until the server answered it. */
async function rawSender(target: string, body: string): Promise<RawClient> {
  const client = new RawClient(ferry.port);
  client.send(`PUT ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await client.waitFor((r) => r.includes('[INFO] Waiting for 1 receiver(s)...\n'), 'the sender to be registered');
  return client;
}

/** A receiver on a raw connection with the exact request-target given. */
function rawReceiver(target: string): RawClient {
  const client = new RawClient(ferry.port);
  client.send(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  return client;
}

async function assertJoins(senderTarget: string, receiverTarget: string): Promise<void> {
  const body = `from ${senderTarget}`;
  const sender = await rawSender(senderTarget, body);
  const receiver = rawReceiver(receiverTarget);
  const response = parseResponse(await receiver.untilClosed());
  assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(response.body.toString(), body);
  await sender.waitFor((r) => r.includes(DONE), 'the sender to hear of success');
  sender.destroy();
}

/** Two targets are different pipes: a sender on one and a receiver on the other both keep waiting. */
async function assertDistinct(a: string, b: string): Promise<void> {
  const before = await relayStats(ferry.url);
  const senderA = await rawSender(a, 'for a');
  const receiverB = rawReceiver(b);
  await waitForStats(ferry.url, (s) => s.waitingReceivers === before.waitingReceivers + 1, 'the receiver on b');
  assert.equal((await relayStats(ferry.url)).waiting, before.waiting + 2, 'two waiting pipes, not one transfer');
  assert.ok(!senderA.received.includes('A receiver was connected'), 'the sender on a saw no receiver');
  assert.equal(receiverB.received.length, 0, 'the receiver on b got nothing');
  // Each finds its own partner.
  const receiverA = rawReceiver(a);
  assert.equal(parseResponse(await receiverA.untilClosed()).body.toString(), 'for a');
  const senderB = await rawSender(b, 'for b');
  assert.equal(parseResponse(await receiverB.untilClosed()).body.toString(), 'for b');
  for (const client of [senderA, senderB]) {
    await client.waitFor((r) => r.includes(DONE), 'success');
    client.destroy();
  }
}

describe('path identity', { timeout: SUITE_TIMEOUT }, () => {
  test('dot segments are resolved: /a/../x and /x are one pipe', async () => {
    const t = tag();
    await assertJoins(`/a/../dot-${t}`, `/dot-${t}`);
  });

  test('encoded dot segments too: /%2e%2e/x is /x', async () => {
    const t = tag();
    await assertJoins(`/%2e%2e/enc-${t}`, `/enc-${t}`);
    await assertJoins(`/enc2-${t}`, `/deeper/%2E%2E/enc2-${t}`);
  });

  test('/./ segments vanish: /x/./ is /x/', async () => {
    const t = tag();
    await assertJoins(`/cur-${t}/./`, `/cur-${t}/`);
  });

  test('%41 is not A: escapes are not decoded', async () => {
    const t = tag();
    await assertDistinct(`/%41-${t}`, `/A-${t}`);
  });

  test('case matters', async () => {
    const t = tag();
    await assertDistinct(`/Case-${t}`, `/case-${t}`);
  });

  test('a trailing slash matters', async () => {
    const t = tag();
    await assertDistinct(`/slash-${t}`, `/slash-${t}/`);
  });

  test('a doubled slash inside the path is kept', async () => {
    const t = tag();
    await assertDistinct(`/a//b-${t}`, `/a/b-${t}`);
  });

  test('a leading //host is an authority: GET //x/p joins /p', async () => {
    const t = tag();
    await assertJoins(`/auth-${t}`, `//x/auth-${t}`);
    await assertJoins(`//somehost/auth2-${t}`, `/auth2-${t}`);
  });

  test('absolute-form targets use their path: http://h/p?n=1 is /p', async () => {
    const t = tag();
    await assertJoins(`http://elsewhere.example/abs-${t}?n=1`, `/abs-${t}`);
  });

  test('other query parameters and the fragment play no part', async () => {
    const t = tag();
    await assertJoins(`/query-${t}?tag=one&x=2`, `/query-${t}#fragment`);
    await assertJoins(`/query2-${t}#frag`, `/query2-${t}?n=1&tag=two`);
  });

  test('the request-target * is the pipe /*', async () => {
    await assertJoins('*', '/*');
  });

  test('pages are found the same way: /a/../version, //foo/version and absolute-form', async () => {
    for (const target of ['/a/../version', '/%2e%2e/version', '//foo/version', 'http://h/version?x=1']) {
      const response = parseResponse(
        await rawExchange(ferry.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      assert.equal(response.statusLine, 'HTTP/1.1 200 OK', target);
      assert.equal(response.body.toString(), `${VERSION}\n`, target);
    }
  });

  test('non-ASCII is percent-encoded: an HTTP/2 sender on /é-x meets an HTTP/1.1 receiver on /%C3%A9-x', async () => {
    const t = tag();
    const session = http2.connect(ferry.url);
    try {
      const upload = session.request({ ':method': 'PUT', ':path': `/é-${t}` });
      let log = '';
      upload.setEncoding('utf8');
      upload.on('data', (text: string) => {
        log += text;
      });
      upload.end('accented');
      await until(() => log.includes('Waiting for 1 receiver(s)'), 'the HTTP/2 sender to wait');
      const receiver = rawReceiver(`/%C3%A9-${t}`);
      assert.equal(parseResponse(await receiver.untilClosed()).body.toString(), 'accented');
      await until(() => log.includes(DONE), 'the HTTP/2 sender to hear of success');
    } finally {
      session.destroy();
    }
  });

  test('a target a URL parser cannot read is a 400 (piping-server throws and never answers)', async () => {
    for (const target of ['http://[x/p', 'http://h:99999/p', '//[::1/p']) {
      const response = parseResponse(
        await rawExchange(ferry.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      assert.equal(response.statusLine, 'HTTP/1.1 400 Bad Request', target);
      assert.equal(response.body.toString(), '[ERROR] Malformed request target.\n', target);
    }
  });

  test('raw non-ASCII bytes in an HTTP/1.1 request line are refused by the parser (400)', async () => {
    const response = await rawExchange(
      ferry.port,
      Buffer.concat([Buffer.from('GET /'), Buffer.from('é'), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]),
    );
    assert.match(
      response.toString('latin1'),
      /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\[ERROR\] Malformed HTTP request\.\n$/,
    );
  });
});
