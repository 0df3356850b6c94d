// The relay over cleartext HTTP/2 on the HTTP port (node:http2 with prior knowledge), mixed with HTTP/1.1
// clients: bytes identical by SHA-256, the same headers, and the same cut semantics when a side vanishes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import { after, afterEach, before, describe, test } from 'node:test';
import { curl, sha256 } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { h2Request } from '../helpers/h2.ts';
import { Receiver, Sender, SUITE_TIMEOUT, startCurl, uniquePath, until, waitForStats } from '../helpers/relay.ts';

let ferry: TestServer;
let session: http2.ClientHttp2Session;
before(async () => {
  ferry = await startFerry();
  session = http2.connect(ferry.url);
});
after(async () => {
  session?.destroy();
  await ferry?.close();
});
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

const ALL_RECEIVED = '[INFO] All receiver(s) was/were received successfully.\n';

/** Write `data` to an HTTP/2 stream in 64 KiB pieces with backpressure. */
async function writeAll(stream: http2.ClientHttp2Stream, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; at += 64 * 1024) {
    if (!stream.write(data.subarray(at, at + 64 * 1024))) {
      await new Promise((resolve) => stream.once('drain', resolve));
    }
  }
}

describe('h2c', { timeout: SUITE_TIMEOUT }, () => {
  test('32 MiB from an HTTP/2 sender (no length) to an HTTP/2 and an HTTP/1.1 receiver', async () => {
    const data = randomBytes(32 * 1024 * 1024);
    const path = uniquePath();
    const h2Receiver = h2Request(session, { ':method': 'GET', ':path': `${path}?n=2` });
    const h1Receiver = startCurl([`${ferry.url}${path}?n=2`], { hashOnly: true });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    const sender = h2Request(session, {
      ':method': 'PUT',
      ':path': `${path}?n=2`,
      'content-type': 'application/x-tar',
    });
    await writeAll(sender.stream, data);
    sender.stream.end();

    const viaH2 = await h2Receiver.result;
    assert.equal(viaH2.status, 200);
    assert.equal(viaH2.complete, true);
    assert.equal(viaH2.bytes, data.length);
    assert.equal(viaH2.sha256, sha256(data));
    assert.equal(viaH2.headers['content-type'], 'application/x-tar');
    assert.equal(viaH2.headers['x-content-type-options'], 'nosniff');
    assert.equal(viaH2.headers['access-control-allow-origin'], '*');
    assert.equal(viaH2.headers['content-length'], undefined);
    const viaH1 = await h1Receiver.result;
    assert.equal(viaH1.code, 0, viaH1.stderr);
    assert.equal(viaH1.sha256, sha256(data));
    const log = await sender.result;
    assert.equal(log.status, 200);
    assert.equal(
      log.body.toString(),
      '[INFO] Waiting for 2 receiver(s)...\n[INFO] 2 receiver(s) has/have been connected.\n' +
        `[INFO] Start sending to 2 receiver(s)!\n[INFO] Sent successfully!\n${ALL_RECEIVED}`,
    );
  });

  test('an HTTP/1.1 sender with a length to an HTTP/2 receiver, whose headers match', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`, {
      contentLength: data.length,
      headers: { 'Content-Type': 'text/html', 'Content-Disposition': 'inline', 'X-Piping': 'a' },
    });
    await sender.waitForLog('[INFO] Waiting for 1 receiver(s)...\n');
    const receiver = h2Request(session, { ':method': 'GET', ':path': path });
    await sender.waitForLog('[INFO] Start sending to 1 receiver(s)!\n');
    for (let at = 0; at < data.length; at += 64 * 1024) await sender.write(data.subarray(at, at + 64 * 1024));
    sender.end();
    const got = await receiver.result;
    assert.equal(got.sha256, sha256(data));
    assert.equal(got.headers['content-length'], String(data.length));
    assert.equal(got.headers['content-type'], 'text/plain');
    assert.equal(got.headers['content-disposition'], 'inline');
    assert.equal(got.headers['x-piping'], 'a');
    assert.equal(got.headers['access-control-expose-headers'], 'X-Piping');
    assert.equal(got.headers['x-robots-tag'], 'none');
    assert.ok((await sender.result).log.endsWith(ALL_RECEIVED));
  });

  test('pages, errors and the 405 over HTTP/2', async () => {
    const version = await h2Request(session, { ':method': 'GET', ':path': '/version' }).result;
    assert.equal(version.status, 200);
    assert.equal(version.headers['access-control-allow-origin'], '*');
    const reserved = h2Request(session, { ':method': 'POST', ':path': '/help' });
    reserved.stream.end('x');
    const refused = await reserved.result;
    assert.equal(refused.status, 400);
    assert.equal(refused.body.toString(), "[ERROR] Cannot send to the reserved path '/help'. (e.g. '/mypath123')\n");
    const head = await h2Request(session, { ':method': 'HEAD', ':path': uniquePath() }).result;
    assert.equal(head.status, 405);
    assert.equal(head.headers.allow, 'GET, POST, PUT, OPTIONS');
  });

  test('an HTTP/2 sender that vanishes mid-stream cuts the HTTP/1.1 receiver (curl 18)', async () => {
    const path = uniquePath();
    const receiver = startCurl([`${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = h2Request(session, { ':method': 'PUT', ':path': path });
    sender.stream.write('the start of it');
    await waitForStats(ferry.url, (s) => s.active === 1, 'the transfer');
    sender.stream.close(http2.constants.NGHTTP2_CANCEL);
    const got = await receiver.result;
    assert.equal(got.code, 18, got.stderr);
    // The path is free at once.
    const next = new Receiver(`${ferry.url}${path}`);
    const sent = await curl(['-T', '-', `${ferry.url}${path}`], 'next');
    assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED));
    assert.equal((await next.result).body.toString(), 'next');
  });

  test('an HTTP/1.1 sender that vanishes resets the HTTP/2 receiver stream, never ends it', async () => {
    const path = uniquePath();
    const receiver = h2Request(session, { ':method': 'GET', ':path': path });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog('[INFO] Start sending to 1 receiver(s)!\n');
    await sender.write('partial');
    await until(() => receiver.progress.bytes > 0, 'the first bytes at the HTTP/2 receiver');
    sender.abort();
    const got = await receiver.result;
    assert.equal(got.status, 200);
    assert.equal(got.complete, false);
    assert.ok('partial'.startsWith(got.body.toString()));
  });

  test('one of two HTTP/2 receivers leaves: the other finishes, the sender gets the report', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const path = uniquePath();
    const leaving = h2Request(session, { ':method': 'GET', ':path': `${path}?n=2` });
    const staying = new Receiver(`${ferry.url}${path}?n=2`, { keepBody: false });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    const sender = new Sender(`${ferry.url}${path}?n=2`, { contentLength: data.length });
    await sender.waitForLog('[INFO] Start sending to 2 receiver(s)!\n');
    await sender.write(data.subarray(0, 64 * 1024));
    await until(() => leaving.progress.bytes > 0, 'the first bytes at the leaving receiver');
    leaving.stream.close(http2.constants.NGHTTP2_CANCEL);
    await sender.waitForLog('[INFO] A receiver aborted.\n');
    for (let at = 64 * 1024; at < data.length; at += 64 * 1024) await sender.write(data.subarray(at, at + 64 * 1024));
    sender.end();
    const got = await staying.result;
    assert.equal(got.sha256, sha256(data));
    assert.ok(
      (await sender.result).log.endsWith(
        '[INFO] Sent successfully!\n[INFO] 1 receiver(s) received successfully; 1 aborted halfway.\n',
      ),
    );
  });
});
