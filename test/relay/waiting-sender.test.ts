// A sender waiting for its receiver is held by TCP backpressure, not by the server's memory: whatever it pushes,
// the server reads a bounded amount ahead (450 stalled senders from one address once held 5 GB). And while it is
// held, its reset is still noticed, so its path is free again for the next sender. Over every protocol a sender
// can use: HTTP/1.1 and HTTP/2, cleartext and TLS.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { relayStats, request, uniquePath, waitForStats, within } from '../helpers/relay.ts';
import { type CertFiles, makeCert } from '../helpers/tls.ts';

const DECLARED = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 7);

let ferry: TestServer;
let certs: CertFiles;
let httpsPort: number;

before(async () => {
  certs = makeCert('ferry-waiting');
  ferry = await startFerry({ enableHttps: true, httpsPort: 0, keyPath: certs.keyPath, crtPath: certs.crtPath });
  httpsPort = ferry.server.https?.port as number;
});
after(async () => {
  await ferry.close();
  certs.remove();
});

type Transport = 'http1' | 'https1' | 'h2c' | 'h2';

/** A sender of a 256 MiB PUT to `path` over its own TCP socket (`raw`, to reset), and the stream its body goes to. */
async function openSender(
  transport: Transport,
  path: string,
): Promise<{ raw: net.Socket; body: NodeJS.WritableStream }> {
  const raw = net.connect({
    host: '127.0.0.1',
    port: transport === 'http1' || transport === 'h2c' ? ferry.port : httpsPort,
  });
  raw.on('error', () => {});
  const secure = (alpn: string) =>
    tls
      .connect({ socket: raw, ca: certs.cert(), servername: 'localhost', ALPNProtocols: [alpn] })
      .on('error', () => {});
  if (transport === 'http1' || transport === 'https1') {
    const socket = transport === 'http1' ? raw : secure('http/1.1');
    await new Promise((resolve) => socket.once(transport === 'http1' ? 'connect' : 'secureConnect', resolve));
    socket.write(`PUT ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${DECLARED}\r\n\r\n`);
    return { raw, body: socket };
  }
  const session = http2.connect(transport === 'h2c' ? ferry.url : `https://localhost:${httpsPort}`, {
    createConnection: () => (transport === 'h2c' ? raw : secure('h2')),
  });
  session.on('error', () => {});
  const stream = session.request({ ':method': 'PUT', ':path': path, 'content-length': DECLARED });
  stream.on('error', () => {});
  return { raw, body: stream };
}

/** Write until a write has not drained for a second: what the server (and the kernels between) took. */
async function writeUntilStalled(body: NodeJS.WritableStream): Promise<number> {
  let written = 0;
  while (written < DECLARED) {
    written += CHUNK.length;
    if (body.write(CHUNK)) continue;
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      body.once('drain', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!drained) break;
  }
  return written;
}

describe('a sender waiting for its receiver', () => {
  for (const transport of ['http1', 'https1', 'h2c', 'h2'] as const) {
    test(`${transport}: is read at most a little ahead, its reset frees the path, and the next sender gets through`, async (t) => {
      const path = uniquePath('waiting');
      const { raw, body } = await openSender(transport, path);
      const written = await writeUntilStalled(body);
      t.diagnostic(`written before the stall: ${(written / 1048576).toFixed(2)} MiB`);
      assert.ok(written < 32 * 1024 * 1024, `the server took ${written / 1048576} MiB of a waiting sender's body`);
      assert.equal((await relayStats(ferry.url)).waitingSenders, 1);

      raw.resetAndDestroy();
      await waitForStats(ferry.url, (s) => s.waitingSenders === 0 && s.waiting === 0, 'the reset sender to leave');

      // An honest client, from another address, on the same path.
      const data = randomBytes(1024 * 1024);
      const [sent, received] = await within(
        Promise.all([
          request(`${ferry.url}${path}`, { method: 'PUT', body: data, localAddress: '127.0.0.2' }),
          request(`${ferry.url}${path}`, { localAddress: '127.0.0.2' }),
        ]),
        10_000,
        'the honest transfer',
      );
      assert.equal(sent.status, 200);
      assert.equal(received.status, 200);
      assert.equal(
        createHash('sha256').update(received.body).digest('hex'),
        createHash('sha256').update(data).digest('hex'),
      );
    });
  }
});
