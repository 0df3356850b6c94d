// Every listener speaks what it promises (HTTP/1.1, h2c, HTTPS with h2 or http/1.1 by ALPN), reloads its
// certificate, and lets a transfer run far longer than the header deadline.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { type CertFiles, makeCert } from '../helpers/tls.ts';
import { waitFor } from '../helpers/wait.ts';

let ferry: TestServer;
let certs: CertFiles;
let httpsPort: number;

before(async () => {
  certs = makeCert('ferry-one');
  ferry = await startFerry({
    enableHttps: true,
    httpsPort: 0,
    keyPath: certs.keyPath,
    crtPath: certs.crtPath,
    headerTimeout: 1,
  });
  httpsPort = ferry.server.https?.port as number;
});
after(async () => {
  await ferry.close();
  certs.remove();
});

type Transport = 'http1' | 'h2c' | 'https1' | 'h2';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  protocol: string;
}

/** One request over the chosen transport; `body` may be a generator that trickles chunks. */
function request(
  transport: Transport,
  method: string,
  path: string,
  body?: AsyncIterable<Buffer> | Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const collect = (status: number, headers: Reply['headers'], stream: NodeJS.ReadableStream, protocol: string) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks), protocol }));
      stream.on('error', reject);
    };
    const send = async (sink: NodeJS.WritableStream) => {
      if (body === undefined) return sink.end();
      if (Buffer.isBuffer(body)) return sink.end(body);
      for await (const chunk of body) sink.write(chunk);
      sink.end();
    };
    if (transport === 'h2c' || transport === 'h2') {
      const session =
        transport === 'h2c'
          ? http2.connect(ferry.url)
          : http2.connect(`https://127.0.0.1:${httpsPort}`, { ca: certs.cert(), servername: 'localhost' });
      session.on('error', reject);
      const stream = session.request({ ':method': method, ':path': path });
      stream.on('response', (headers) => {
        collect(Number(headers[':status']), headers, stream, 'h2');
        stream.on('close', () => session.close());
      });
      stream.on('error', reject);
      send(stream).catch(reject);
      return;
    }
    const options = { method, path, headers: body === undefined ? {} : { 'Transfer-Encoding': 'chunked' } };
    const req =
      transport === 'http1'
        ? http.request({ ...options, host: '127.0.0.1', port: ferry.port, agent: false })
        : https.request({
            ...options,
            host: '127.0.0.1',
            port: httpsPort,
            ca: certs.cert(),
            servername: 'localhost',
            agent: false,
          });
    req.on('response', (res) => collect(res.statusCode ?? 0, res.headers, res, `http/${res.httpVersion}`));
    req.on('error', reject);
    send(req).catch(reject);
  });
}

async function* trickle(chunks: number, intervalMs: number): AsyncIterable<Buffer> {
  for (let i = 0; i < chunks; i++) {
    yield Buffer.from(`line ${i}\n`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

describe('every listener', { concurrency: true }, () => {
  for (const transport of ['http1', 'h2c', 'https1', 'h2'] as const) {
    test(`${transport}: /version is served`, async () => {
      const reply = await request(transport, 'GET', '/version');
      assert.equal(reply.status, 200);
      assert.match(reply.body.toString(), /^\d+\.\d+\.\d+\n$/);
      assert.equal(reply.protocol, transport === 'h2c' || transport === 'h2' ? 'h2' : 'http/1.1');
    });

    test(`${transport}: a transfer lasting 3x the header deadline is not cut`, async () => {
      const path = `/long-${transport}`;
      const expected = createHash('sha256');
      for (let i = 0; i < 30; i++) expected.update(`line ${i}\n`);
      const receiver = request(transport, 'GET', path);
      const sender = await request(transport, 'PUT', path, trickle(30, 100));
      const received = await receiver;
      assert.equal(sender.status, 200);
      assert.match(sender.body.toString(), /All receiver\(s\) was\/were received successfully/);
      assert.equal(received.status, 200);
      assert.equal(createHash('sha256').update(received.body).digest('hex'), expected.digest('hex'));
    });
  }
});

describe('HTTPS', () => {
  test('HTTPS offers h2 and http/1.1 by ALPN', async () => {
    for (const offered of [['h2'], ['http/1.1'], ['h2', 'http/1.1']]) {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: httpsPort,
        ca: certs.cert(),
        servername: 'localhost',
        ALPNProtocols: offered,
      });
      await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      assert.equal(socket.alpnProtocol, offered[0]);
      socket.destroy();
    }
  });

  test('a changed certificate is picked up without a restart', async () => {
    const subject = async () => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: httpsPort,
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      return cn;
    };
    assert.equal(await subject(), 'ferry-one');
    certs.renew('ferry-two');
    await waitFor(async () => (await subject()) === 'ferry-two', 'the new certificate to be served');
  });
});
