// Reference §1.2/§1.4/§1.9: which method does what on a pipe and on a reserved page, the 405 answer
// (whose Allow header, unlike piping-server's, agrees with what is served: bug B7), and the CORS preflight.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { curl } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { parseResponse, rawExchange, rawHeader, request, Sender, SUITE_TIMEOUT, uniquePath } from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());

describe('methods', { timeout: SUITE_TIMEOUT }, () => {
  for (const method of ['POST', 'PUT'] as const) {
    test(`${method} is a sender`, async () => {
      const path = uniquePath();
      const sender = new Sender(`${ferry.url}${path}`, { method });
      await sender.waitForLog('[INFO] Waiting for 1 receiver(s)...\n');
      sender.end(`sent with ${method}`);
      const received = await request(`${ferry.url}${path}`);
      assert.equal(received.body.toString(), `sent with ${method}`);
      assert.equal((await sender.result).status, 200);
    });
  }

  for (const method of ['DELETE', 'PATCH', 'PROPFIND', 'TRACE']) {
    test(`${method} on a pipe: 405, the exact text, ACAO, no Content-Type, Allow without HEAD`, async () => {
      const res = await request(`${ferry.url}${uniquePath()}`, { method });
      assert.equal(res.status, 405);
      assert.equal(res.body.toString(), `[ERROR] Unsupported method: ${method}.\n`);
      assert.equal(res.headers['content-length'], String(res.body.length));
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['content-type'], undefined);
      assert.equal(res.headers.allow, 'GET, POST, PUT, OPTIONS');
    });
  }

  test('HEAD on a pipe: 405 with no body, and Allow does not offer HEAD (B7)', async () => {
    const path = uniquePath();
    const data = await rawExchange(ferry.port, `HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const res = parseResponse(data);
    assert.equal(res.statusLine, 'HTTP/1.1 405 Method Not Allowed');
    assert.deepEqual(rawHeader(res, 'allow'), ['GET, POST, PUT, OPTIONS']);
    assert.deepEqual(rawHeader(res, 'content-length'), [String('[ERROR] Unsupported method: HEAD.\n'.length)]);
    assert.deepEqual(rawHeader(res, 'content-type'), []);
    assert.ok(data.toString('latin1').endsWith('\r\n\r\n'), 'a HEAD response has no body');
    // The refused HEAD left nothing behind: a sender on the path is the first party.
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog('[INFO] Waiting for 1 receiver(s)...\n');
    sender.end('x');
    assert.equal((await request(`${ferry.url}${path}`)).body.toString(), 'x');
  });

  for (const path of ['/', '/version', '/help', '/noscript', '/favicon.ico', '/robots.txt']) {
    test(`DELETE ${path}: 405 whose Allow lists what a reserved page serves`, async () => {
      const res = await request(`${ferry.url}${path}`, { method: 'DELETE' });
      assert.equal(res.status, 405);
      assert.equal(res.body.toString(), '[ERROR] Unsupported method: DELETE.\n');
      assert.equal(res.headers.allow, 'GET, HEAD, OPTIONS');
      assert.equal(res.headers['access-control-allow-origin'], '*');
    });
  }

  test('any other method curl can send gets the same 405', async () => {
    const res = await curl(['-i', '-X', 'MKCOL', `${ferry.url}${uniquePath()}`]);
    const text = res.stdout.toString();
    assert.match(text, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.ok(text.endsWith('\r\n\r\n[ERROR] Unsupported method: MKCOL.\n'), text);
  });

  test("a method token Node's parser does not know is a malformed request (400), as in piping-server", async () => {
    const res = await curl(['-i', '-X', 'BREW', `${ferry.url}${uniquePath()}`]);
    assert.match(res.stdout.toString(), /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\[ERROR\] Malformed HTTP request\.\n$/);
  });
});

describe('OPTIONS preflight', { timeout: SUITE_TIMEOUT }, () => {
  const expected = {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, HEAD, POST, PUT, OPTIONS',
    'access-control-allow-headers': 'Content-Type, Content-Disposition, X-Piping',
    'access-control-expose-headers': 'Access-Control-Allow-Headers',
    'access-control-max-age': '86400',
    'content-length': '0',
  };
  const corsNames = (headers: Record<string, unknown>) =>
    Object.keys(headers)
      .filter((name) => name.startsWith('access-control-') || name === 'content-length')
      .sort();

  for (const path of ['/any/pipe', '/', '/version', '/noscript']) {
    test(`OPTIONS ${path}: 200 with the CORS headers and an empty body`, async () => {
      const res = await request(`${ferry.url}${path}`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://example.com', 'Access-Control-Request-Method': 'PUT' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 0);
      for (const [name, value] of Object.entries(expected)) assert.equal(res.headers[name], value, name);
      assert.deepEqual(corsNames(res.headers), Object.keys(expected).sort(), 'no private-network header unasked');
    });
  }

  test('a private-network preflight is allowed only when asked for with "true"', async () => {
    const asked = await request(`${ferry.url}/p`, {
      method: 'OPTIONS',
      headers: { 'Access-Control-Request-Private-Network': 'true' },
    });
    assert.equal(asked.headers['access-control-allow-private-network'], 'true');
    for (const [name, value] of Object.entries(expected)) assert.equal(asked.headers[name], value, name);
    const other = await request(`${ferry.url}/p`, {
      method: 'OPTIONS',
      headers: { 'Access-Control-Request-Private-Network': 'false' },
    });
    assert.equal(other.headers['access-control-allow-private-network'], undefined);
  });

  test('a preflight does not touch the pipe', async () => {
    const path = uniquePath();
    const sender = new Sender(`${ferry.url}${path}`);
    await sender.waitForLog('[INFO] Waiting for 1 receiver(s)...\n');
    assert.equal((await request(`${ferry.url}${path}`, { method: 'OPTIONS' })).status, 200);
    sender.end('still here');
    assert.equal((await request(`${ferry.url}${path}`)).body.toString(), 'still here');
    assert.equal(
      (await sender.result).log,
      '[INFO] Waiting for 1 receiver(s)...\n[INFO] A receiver was connected.\n[INFO] Start sending to 1 receiver(s)!\n' +
        '[INFO] Sent successfully!\n[INFO] All receiver(s) was/were received successfully.\n',
    );
  });
});
