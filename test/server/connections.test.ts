// Connections that hold a socket and do nothing are closed, and one address cannot hold more than its share:
// HTTP/2 sessions (h2c and h2) with no stream are closed after --idle-timeout, a TLS handshake that never comes
// after --header-timeout, and connections over --max-connections-per-client are dropped at accept. Honest
// clients from another address transfer meanwhile, and a long transfer on a quiet stream is never cut.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { type SpawnedServer, spawnFerry } from '../helpers/ferry.ts';
import { h2Request } from '../helpers/h2.ts';
import { request, uniquePath, within } from '../helpers/relay.ts';
import { type CertFiles, makeCert } from '../helpers/tls.ts';
import { waitFor } from '../helpers/wait.ts';

const CAP = 20;
const IDLE_SECONDS = 1;
// RFC 9113 §3.4 and §6.5: the client preface, then an empty SETTINGS frame.
const PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

let ferry: SpawnedServer;
let certs: CertFiles;
let httpPort: number;
let httpsPort: number;

before(async () => {
  certs = makeCert('ferry-connections');
  ferry = await spawnFerry([
    '--idle-timeout',
    String(IDLE_SECONDS),
    '--header-timeout',
    '1',
    '--max-connections-per-client',
    String(CAP),
    '--enable-https',
    '--https-port',
    '0',
    '--key-path',
    certs.keyPath,
    '--crt-path',
    certs.crtPath,
  ]);
  httpPort = Number(new URL(ferry.url).port);
  httpsPort = Number(/https:\/\/[^\s]+:(\d+)/.exec(ferry.stdout())?.[1]);
});
after(async () => {
  await ferry.stop();
  certs.remove();
});

type Transport = 'h2c' | 'h2';

/** A TCP connection from `localAddress`, with TLS (ALPN h2) for 'h2'; resolves once it can carry bytes. */
async function connect(transport: Transport, localAddress: string): Promise<net.Socket> {
  const raw = net.connect({ host: '127.0.0.1', port: transport === 'h2c' ? httpPort : httpsPort, localAddress });
  raw.on('error', () => {});
  if (transport === 'h2c') {
    await once(raw, 'connect');
    return raw;
  }
  const socket = tls.connect({ socket: raw, ca: certs.cert(), servername: 'localhost', ALPNProtocols: ['h2'] });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  return socket;
}

/** A connection that sends the HTTP/2 preface and SETTINGS, then nothing; `closed` resolves when the server ends it. */
function idleSession(transport: Transport): { closed: Promise<number> } {
  const started = Date.now();
  const raw = net.connect({ host: '127.0.0.1', port: transport === 'h2c' ? httpPort : httpsPort });
  raw.on('error', () => {});
  raw.resume();
  const closed = new Promise<number>((resolve) => raw.once('close', () => resolve(Date.now() - started)));
  if (transport === 'h2c') {
    raw.once('connect', () => raw.write(PREFACE));
  } else {
    const socket = tls.connect({ socket: raw, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    socket.on('error', () => {});
    socket.resume();
    socket.once('secureConnect', () => socket.write(PREFACE));
  }
  return { closed };
}

/** Send `data` through a pipe over HTTP/2 from `localAddress`, sender and receiver each on its own session. */
async function h2Transfer(transport: Transport, localAddress: string, data: Buffer, pauseMs = 0) {
  const origin = transport === 'h2c' ? `http://127.0.0.1:${httpPort}` : `https://localhost:${httpsPort}`;
  const sessions: http2.ClientHttp2Session[] = [];
  const open = async () => {
    const socket = await connect(transport, localAddress);
    const session = http2.connect(origin, { createConnection: () => socket });
    session.on('error', () => {});
    sessions.push(session);
    return session;
  };
  const path = uniquePath('conn');
  const receiver = h2Request(await open(), { ':method': 'GET', ':path': path });
  // The receiver's stream stays open, quiet, for `pauseMs` before the sender comes.
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
  const sender = h2Request(await open(), { ':method': 'PUT', ':path': path, 'content-length': data.length });
  sender.stream.end(data);
  const [sent, received] = await within(Promise.all([sender.result, receiver.result]), 15_000, 'the transfer');
  for (const session of sessions) session.close();
  return { sent, received };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('connections', () => {
  for (const transport of ['h2c', 'h2'] as const) {
    test(`${transport}: preface-only sessions are closed when idle, those over the cap at once; 127.0.0.2 transfers`, async () => {
      const idle = Array.from({ length: CAP + 10 }, () => idleSession(transport));
      // While 127.0.0.1 holds its CAP connections, another address is unaffected.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const data = randomBytes(1024 * 1024);
      const { sent, received } = await h2Transfer(transport, '127.0.0.2', data);
      assert.equal(sent.status, 200);
      assert.equal(received.status, 200);
      assert.equal(received.sha256, sha256(data));
      assert.ok(received.complete);

      const lifetimes = (await within(Promise.all(idle.map((s) => s.closed)), 10_000, 'idle sessions to close')).sort(
        (a, b) => a - b,
      );
      const refused = lifetimes.filter((ms) => ms < IDLE_SECONDS * 1000);
      const timedOut = lifetimes.filter((ms) => ms >= IDLE_SECONDS * 1000);
      assert.equal(refused.length, 10, `lifetimes: ${lifetimes.join(', ')} ms`);
      assert.equal(timedOut.length, CAP, `lifetimes: ${lifetimes.join(', ')} ms`);
      assert.ok(Math.max(...timedOut) < IDLE_SECONDS * 1000 + 3000, `lifetimes: ${lifetimes.join(', ')} ms`);

      // Their connections were given back: 127.0.0.1 transfers again.
      const again = await h2Transfer(transport, '127.0.0.1', data);
      assert.equal(again.received.sha256, sha256(data));
    });
  }

  test('a TLS connection that never sends its handshake is closed after --header-timeout', async () => {
    const started = Date.now();
    const raw = net.connect({ host: '127.0.0.1', port: httpsPort });
    raw.on('error', () => {});
    raw.resume();
    await within(once(raw, 'close'), 10_000, 'the silent TLS connection to close');
    const ms = Date.now() - started;
    assert.ok(ms >= 900 && ms < 4000, `closed after ${ms} ms`);
  });

  for (const transport of ['h2c', 'h2'] as const) {
    test(`${transport}: a stream open for 3x --idle-timeout before its transfer is not cut`, async () => {
      const data = randomBytes(4 * 1024 * 1024);
      const { sent, received } = await h2Transfer(transport, '127.0.0.2', data, 3 * IDLE_SECONDS * 1000);
      assert.equal(sent.status, 200);
      assert.equal(received.status, 200);
      assert.ok(received.complete);
      assert.equal(received.sha256, sha256(data));
    });
  }
});

describe('HTTP/1 connections', () => {
  test('a keep-alive connection left idle is closed after --idle-timeout when that is under 5 s', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: httpPort });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n');
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
    });
    const answered = Date.now();
    await within(once(socket, 'close'), 10_000, 'the idle keep-alive connection to close');
    const ms = Date.now() - answered;
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.ok(ms < IDLE_SECONDS * 1000 + 2000, `closed after ${ms} ms`);
  });
});

describe('out of file descriptors', () => {
  let limited: SpawnedServer;
  before(async () => {
    limited = await spawnFerry(['--log-level', 'error']);
    // Once it has started (loading its modules takes more than 64 at once).
    execFileSync('prlimit', ['--pid', String(limited.process.pid), '--nofile=64:64']);
  });
  after(() => limited.stop());

  test('100 connections against 64 descriptors: the server stays up and serves again once they are gone', async () => {
    const port = Number(new URL(limited.url).port);
    const flood = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.on('error', () => {});
        await Promise.race([once(socket, 'connect'), once(socket, 'close')]);
        socket.write('GET /version HTTP/1.1\r\nHost: localhost\r\n');
        return socket;
      }),
    );
    // libuv closes what it cannot accept (its spare-descriptor trick) rather than failing the accept; either way
    // the server must still be up.
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const socket of flood) socket.destroy();
    assert.equal(limited.process.exitCode, null);
    // The server frees its descriptors as it sees those closes; until then a new connection may still be dropped.
    await waitFor(
      () =>
        request(`${limited.url}/version`, { localAddress: '127.0.0.2' }).then(
          (res) => res.status === 200,
          () => false,
        ),
      'the server to accept again',
    );

    const path = uniquePath('emfile');
    const data = randomBytes(1024 * 1024);
    const [sent, received] = await within(
      Promise.all([
        request(`${limited.url}${path}`, { method: 'PUT', body: data, localAddress: '127.0.0.2' }),
        request(`${limited.url}${path}`, { localAddress: '127.0.0.2' }),
      ]),
      10_000,
      'a transfer after the flood',
    );
    assert.equal(sent.status, 200);
    assert.equal(sha256(received.body), sha256(data));
  });
});
