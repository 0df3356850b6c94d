// An HTTP/2 client that breaks the protocol on an open stream (here DATA after END_STREAM on a waiting receiver's
// GET) gets a GOAWAY from nghttp2, after which Node stops reading the socket and never destroys the session: the
// client's disconnect went unseen and its waiting receiver stayed on the path for good (found by test/fuzz). An
// unanswered PING after --idle-timeout now ends such a session; an honest waiting HTTP/2 receiver answers it and stays.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { sha256 } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { h2Request } from '../helpers/h2.ts';
import { relayStats, until } from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry({ idleTimeout: 1 });
});
after(() => ferry.close());

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK literal header fields without indexing, new names (RFC 7541 §6.2.2); every string here is short. */
function headerBlock(headers: Array<[string, string]>): Buffer {
  return Buffer.concat(
    headers.map(([n, v]) => Buffer.from([0, n.length, ...Buffer.from(n), v.length, ...Buffer.from(v)])),
  );
}

test('a session stalled by a protocol error on an open stream is ended; an honest waiting h2 receiver stays', async () => {
  const honestPath = `/h2-honest-${randomBytes(4).toString('hex')}`;
  const session = http2.connect(ferry.url, {
    createConnection: () => net.connect({ port: ferry.port, host: '127.0.0.1', localAddress: '127.0.0.2' }),
  });
  const honest = h2Request(session, { ':method': 'GET', ':path': honestPath });

  const socket = net.connect(ferry.port, '127.0.0.1');
  socket.on('error', () => {});
  socket.on('data', () => {});
  const get = [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/h2-stalled'],
    [':authority', 'x'],
  ] as Array<[string, string]>;
  socket.write(
    Buffer.concat([
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      frame(4, 0, 0, Buffer.alloc(0)),
      frame(1, 0x5, 1, headerBlock(get)),
      frame(0, 0, 1, Buffer.from('after END_STREAM')),
    ]),
  );
  await until(async () => (await relayStats(ferry.url)).waitingReceivers === 2, 'both receivers');
  socket.destroy();
  await until(async () => (await relayStats(ferry.url)).waitingReceivers === 1, 'the stalled receiver to go', 10_000);

  // Several idle periods later the honest receiver is still there, and gets its bytes.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.equal((await relayStats(ferry.url)).waitingReceivers, 1);
  const data = randomBytes(300_000);
  const res = await fetch(`${ferry.url}${honestPath}`, { method: 'PUT', body: data });
  assert.equal(res.status, 200);
  await res.text();
  const got = await honest.result;
  assert.equal(got.status, 200);
  assert.equal(got.sha256, sha256(data));
  session.close();
});
