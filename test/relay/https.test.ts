// The relay behind the HTTPS listener: /help names the https scheme, HTTP/2 and HTTP/1.1 clients over TLS
// meet on one pipe, and a pipe is one pipe whichever port each side used.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { curl, sha256 } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { SUITE_TIMEOUT, startCurl, uniquePath, waitForStats } from '../helpers/relay.ts';
import { type CertFiles, makeCert } from '../helpers/tls.ts';

let ferry: TestServer;
let cert: CertFiles;
let secure: string;
before(async () => {
  cert = makeCert('localhost');
  ferry = await startFerry({ enableHttps: true, httpsPort: 0, keyPath: cert.keyPath, crtPath: cert.crtPath });
  secure = `https://127.0.0.1:${ferry.server.https?.port}`;
});
after(async () => {
  await ferry?.close();
  cert?.remove();
});
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

const ALL_RECEIVED = '[INFO] All receiver(s) was/were received successfully.\n';

describe('over HTTPS', { timeout: SUITE_TIMEOUT }, () => {
  test('/help names the https scheme when reached over TLS', async () => {
    for (const version of ['--http1.1', '--http2']) {
      const res = await curl(['--cacert', cert.crtPath, version, `${secure}/help`]);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout.toString(), new RegExp(`curl -T myfile ${secure.replace(/\./g, '\\.')}/mypath`));
    }
  });

  test('an HTTP/2 sender and an HTTP/1.1 receiver over TLS, 16 MiB, identical bytes', async () => {
    const data = randomBytes(16 * 1024 * 1024);
    const file = join(cert.dir, 'data.bin');
    writeFileSync(file, data);
    const path = uniquePath();
    const receiver = startCurl(['--cacert', cert.crtPath, '--http1.1', `${secure}${path}`], { hashOnly: true });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sent = await curl(['--cacert', cert.crtPath, '--http2', '-T', file, `${secure}${path}`]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED), sent.stdout.toString());
    const got = await receiver.result;
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.sha256, sha256(data));
  });

  test('one pipe across both ports: a sender on HTTP meets receivers on HTTPS', async () => {
    const path = uniquePath();
    const receivers = ['--http2', '--http1.1'].map((version) =>
      startCurl(['--cacert', cert.crtPath, version, `${secure}${path}?n=2`]),
    );
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    const sent = await curl(['-T', '-', `${ferry.url}${path}?n=2`], 'across listeners');
    assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED));
    for (const receiver of receivers) assert.equal((await receiver.result).stdout.toString(), 'across listeners');
  });
});
