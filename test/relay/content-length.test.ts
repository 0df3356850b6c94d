// A sender's body that ends short of its declared Content-Length, or runs past it, never looks like a finished
// transfer to its receivers, on every protocol: HTTP/2 in cleartext and over TLS (node:http2 clients), and HTTP/1.1.
// Node's parsers catch most of it (llhttp frames an HTTP/1 body by its length, nghttp2 resets an HTTP/2 stream that
// breaks it); the relay checks the count itself as well (transfer.ts). Each case ends with the path used again.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { Relay } from '../../src/relay/handler.ts';
import { parseTarget } from '../../src/relay/path.ts';
import { defaultConfig } from '../../src/server/config.ts';
import { createLogger } from '../../src/server/log.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { h2Request } from '../helpers/h2.ts';
import {
  RawClient,
  Receiver,
  request,
  Sender,
  SUITE_TIMEOUT,
  uniquePath,
  until,
  waitForStats,
} from '../helpers/relay.ts';
import { type CertFiles, makeCert } from '../helpers/tls.ts';

let ferry: TestServer;
let cert: CertFiles;
before(async () => {
  cert = makeCert('localhost');
  ferry = await startFerry({ enableHttps: true, httpsPort: 0, keyPath: cert.keyPath, crtPath: cert.crtPath });
});
after(async () => {
  await ferry?.close();
  cert?.remove();
});
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

const ALL_RECEIVED = '[INFO] All receiver(s) was/were received successfully.\n';

/** An honest transfer on `path` right after: the path is free and carries every byte. */
async function pathIsFree(path: string): Promise<void> {
  const data = randomBytes(100_000);
  const receiver = new Receiver(`${ferry.url}${path}`);
  await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the next receiver');
  const sent = await request(`${ferry.url}${path}`, { method: 'PUT', body: data });
  assert.ok(sent.body.toString().endsWith(ALL_RECEIVED), sent.body.toString());
  assert.equal((await receiver.result).sha256, createHash('sha256').update(data).digest('hex'));
}

const protocols: Array<[name: string, connect: () => http2.ClientHttp2Session]> = [
  ['h2c', () => http2.connect(ferry.url)],
  ['h2 over TLS', () => http2.connect(`https://127.0.0.1:${ferry.server.https?.port}`, { ca: cert.cert() })],
];

for (const [name, connect] of protocols) {
  describe(`${name}: a sender's body against its content-length`, { timeout: SUITE_TIMEOUT }, () => {
    let session: http2.ClientHttp2Session;
    before(() => {
      session = connect();
      session.on('error', () => {});
    });
    after(() => session?.destroy());

    /** An HTTP/1.1 and an HTTP/2 receiver on a fresh pipe, then a sender that declares `declared` and sends `body`. */
    async function send(declared: number, body: Buffer, endLater: boolean) {
      const path = uniquePath();
      const h1 = new Receiver(`${ferry.url}${path}?n=2`);
      const h2 = h2Request(session, { ':method': 'GET', ':path': `${path}?n=2` });
      await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
      const sender = h2Request(session, {
        ':method': 'PUT',
        ':path': `${path}?n=2`,
        'content-length': String(declared),
      });
      if (endLater) {
        // The bytes reach the receivers first; only then does the stream end, short.
        sender.stream.write(body);
        await h1.waitForBytes(body.length);
        sender.stream.end();
      } else {
        sender.stream.end(body);
      }
      return { path, h1: await h1.result, h2: await h2.result, sender: await sender.result };
    }

    for (const endLater of [false, true]) {
      test(`content-length 1000, 5 bytes${endLater ? ' that flow before the end' : ''}: both receivers are cut`, async () => {
        const { path, h1, h2, sender } = await send(1000, Buffer.from('hello'), endLater);
        assert.equal(h1.complete, false, 'the HTTP/1.1 receiver is cut');
        assert.ok(h1.bytes <= 5);
        assert.equal(h2.complete, false, 'the HTTP/2 receiver is reset');
        assert.ok(h2.bytes <= 5);
        // The sender either had its stream reset (nghttp2) or reads why in its log (the relay's own check).
        assert.ok(
          !sender.complete || sender.body.toString().endsWith('declared; the receivers were cut.\n'),
          sender.body.toString(),
        );
        await pathIsFree(path);
      });
    }

    test('content-length 3, 11 bytes: both receivers are cut, never given a byte past the third', async () => {
      const { path, h1, h2, sender } = await send(3, Buffer.from('hello world'), false);
      assert.equal(h1.complete, false);
      assert.ok(h1.bytes <= 3, `${h1.bytes} bytes`);
      assert.equal(h2.complete, false);
      assert.ok(h2.bytes <= 3, `${h2.bytes} bytes`);
      assert.ok(!sender.complete || sender.body.toString().includes('ran past its Content-Length'));
      await pathIsFree(path);
    });

    test('content-length as sent: both receivers get the body whole (the check takes nothing honest)', async () => {
      const data = randomBytes(1024 * 1024);
      const { h1, h2, sender } = await send(data.length, data, false);
      assert.equal(h1.complete, true);
      assert.equal(h1.sha256, createHash('sha256').update(data).digest('hex'));
      assert.equal(h2.complete, true);
      assert.equal(h2.sha256, createHash('sha256').update(data).digest('hex'));
      assert.ok(sender.body.toString().endsWith(ALL_RECEIVED));
    });
  });
}

describe('HTTP/1.1: a sender against its Content-Length', { timeout: SUITE_TIMEOUT }, () => {
  test('Content-Length 1000, 5 bytes, then the sender stops sending: the receiver is cut', async () => {
    const path = uniquePath();
    const receiver = new Receiver(`${ferry.url}${path}`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = new RawClient(ferry.port);
    sender.send(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhello`);
    await receiver.waitForBytes(5);
    sender.socket.end();
    const got = await receiver.result;
    assert.equal(got.complete, false);
    await pathIsFree(path);
  });

  test('Content-Length 3, 11 bytes: the body is its 3 bytes, the rest is no part of it', async () => {
    // HTTP/1.1 frames a body by its length: what follows is the next request on the connection (here a malformed
    // one, refused), and never reaches the receiver.
    const path = uniquePath();
    const receiver = new Receiver(`${ferry.url}${path}`);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = new RawClient(ferry.port);
    sender.send(`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nhello world`);
    const got = await receiver.result;
    assert.equal(got.body.toString(), 'hel');
    await sender.untilClosed();
    await pathIsFree(path);
  });
});

describe("the relay's own count, where no parser framed the body by its length", { timeout: SUITE_TIMEOUT }, () => {
  // A chunked HTTP/1.1 request that claims a Content-Length in X-Claimed-Length, handed to the relay as its
  // Content-Length: what the relay would see behind a parser that did not hold the body to the header.
  let server: http.Server;
  let base: string;
  let relay: Relay;
  before(async () => {
    relay = new Relay({ ...defaultConfig() }, createLogger('silent'));
    server = http.createServer((req, res) => {
      const claimed = req.headers['x-claimed-length'];
      if (typeof claimed === 'string') req.headers['content-length'] = claimed;
      const url = new URL(req.url ?? '/', 'a:///');
      relay.handle(req, res, url, parseTarget(url));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server?.closeAllConnections();
    server?.close();
  });

  for (const [claimed, body, line] of [
    [
      1000,
      'hello',
      '[ERROR] The body ended after 5 of the 1000 bytes its Content-Length declared; the receivers were cut.\n',
    ],
    [3, 'hello world', '[ERROR] The body ran past its Content-Length of 3 bytes; the receivers were cut.\n'],
  ] as const) {
    test(`claimed ${claimed}, sent ${body.length}: the receiver is cut and the sender told why`, async () => {
      const path = uniquePath();
      const receiver = new Receiver(`${base}${path}`);
      await until(() => relay.registry.stats().waitingReceivers === 1, 'the receiver');
      const sender = new Sender(`${base}${path}`, { headers: { 'X-Claimed-Length': String(claimed) } });
      await sender.waitForLog('[INFO] Start sending to 1 receiver(s)!\n');
      sender.end(body);
      const got = await receiver.result;
      assert.equal(got.status, 200);
      assert.equal(got.complete, false, 'the receiver is cut');
      assert.ok(got.bytes <= Math.min(claimed, body.length));
      assert.ok((await sender.result).log.endsWith(line), sender.log);
    });
  }
  test('a multipart sender claiming less than its form: the receiver is refused or cut, the sender told', async () => {
    const path = uniquePath();
    const receiver = new Receiver(`${base}${path}`);
    await until(() => relay.registry.stats().waitingReceivers === 1, 'the receiver');
    const form = `--XyZ\r\nContent-Disposition: form-data; name="f"\r\n\r\n${'x'.repeat(200)}\r\n--XyZ--\r\n`;
    const sender = new Sender(`${base}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data; boundary=XyZ', 'X-Claimed-Length': '60' },
    });
    sender.end(form);
    const got = await receiver.result;
    const reason = '[ERROR] Malformed multipart/form-data: the body is longer than its Content-Length.\n';
    if (got.status === 400) {
      assert.equal(got.body.toString(), reason);
    } else {
      assert.equal(got.complete, false, 'the receiver is cut');
      assert.ok(got.bytes <= 60);
    }
    assert.ok((await sender.result).log.endsWith(reason), sender.log);
  });
});
