// Reference §1.3: the reserved pages — status, headers (which carry ACAO), HEAD, query strings, and that
// sending to them is refused while look-alike paths stay ordinary pipes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { VERSION } from '../../src/version.ts';
import { curl } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { parseResponse, rawExchange, rawHeader, request, Sender, SUITE_TIMEOUT, uniquePath } from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());

/** A GET or HEAD on a raw connection, so a body sent after a HEAD response would be seen. */
async function raw(method: string, target: string, extra = '') {
  const data = await rawExchange(
    ferry.port,
    `${method} ${target} HTTP/1.1\r\nHost: relay.test\r\n${extra}Connection: close\r\n\r\n`,
  );
  return { data, response: parseResponse(data) };
}

function header(response: ReturnType<typeof parseResponse>, name: string): string | undefined {
  const values = rawHeader(response, name);
  assert.ok(values.length <= 1, `one ${name} header at most`);
  return values[0];
}

describe('reserved pages', { timeout: SUITE_TIMEOUT }, () => {
  // `/` itself is the web app's page: its headers and body are tested in test/server/web.test.ts.

  test('/noscript: text/html, a CSP whose style nonce is 16 random bytes, no ACAO', async () => {
    const { response } = await raw('GET', '/noscript');
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(header(response, 'content-type'), 'text/html');
    assert.equal(header(response, 'content-length'), String(response.body.length));
    assert.equal(header(response, 'access-control-allow-origin'), undefined);
    const csp = header(response, 'content-security-policy') ?? '';
    const match =
      /^default-src 'none'; style-src 'nonce-([A-Za-z0-9+/]{22}==)'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/.exec(
        csp,
      );
    assert.ok(match, `CSP ${csp}`);
    assert.equal(Buffer.from(match[1] as string, 'base64').length, 16);
    const page = response.body.toString();
    assert.ok(page.includes(`<style nonce="${match[1]}">`), 'the page style carries the nonce');
    // No path yet: the upload controls are disabled; the default mode is a file.
    assert.match(page, /<input type="file" name="input_file" disabled>/);
    assert.match(page, /<form method="POST" action="" enctype="multipart\/form-data">/);
    const second = await raw('GET', '/noscript');
    assert.notEqual(header(second.response, 'content-security-policy'), csp, 'a fresh nonce per response');
  });

  test('/noscript?path=…&mode=text: the path is escaped into the form, the field is input_text', async () => {
    const { response } = await raw('GET', '/noscript?path=%22%3E%3Cscript%3Ex%3C/script%3E&mode=text');
    const page = response.body.toString();
    assert.ok(!page.includes('<script>'), 'the path cannot inject markup');
    assert.ok(page.includes('action="/%22%3E%3Cscript%3Ex%3C/script%3E"'), page);
    assert.ok(page.includes('href="?path=%22%3E%3Cscript%3Ex%3C%2Fscript%3E&amp;mode=file"'), page);
    assert.match(page, /<textarea name="input_text" rows="8" cols="60"><\/textarea>/);
    assert.doesNotMatch(page, /name="input_file"/);
  });

  test('/noscript?path=…: the form posts to a path on this server, however the path is written', async () => {
    const cases: [string, string][] = [
      ['mypath', '/mypath'],
      ['/mypath?n=2', '/mypath?n=2'],
      ['a&b', '/a&#38;b'],
      // Other origins, written every way a browser's URL parser would read one.
      ['https://evil.example/x', '/https://evil.example/x'],
      ['//evil.example/x', '/evil.example/x'],
      ['///evil.example/x', '/evil.example/x'],
      ['/\\evil.example/x', '/evil.example/x'],
      ['\\\\evil.example/x', '/evil.example/x'],
      ['/\t/evil.example/x', '/evil.example/x'],
      ['\n//evil.example/x', '/evil.example/x'],
      [' //evil.example/x', '/evil.example/x'],
      ['javascript:alert(1)', '/javascript:alert(1)'],
    ];
    for (const [path, action] of cases) {
      const { response } = await raw('GET', `/noscript?path=${encodeURIComponent(path)}`);
      const page = response.body.toString();
      const match = /<form method="POST" action="([^"]*)"/.exec(page);
      assert.equal(match?.[1], action, JSON.stringify(path));
    }
  });

  test('/noscript: the posted form is an ordinary send to that path', async () => {
    const path = uniquePath();
    const { response } = await raw('GET', `/noscript?path=${encodeURIComponent(path.slice(1))}`);
    const action = /<form method="POST" action="([^"]*)"/.exec(response.body.toString())?.[1];
    assert.equal(action, path);
    const receiving = request(`${ferry.url}${path}`);
    const sent = await curl(['-sS', '-F', 'input_file=@-;filename=a.txt', `${ferry.url}${action}`], 'hello\n');
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal((await receiving).body.toString(), 'hello\n');
  });

  test('/version: 200 text/plain with ACAO, the version and a newline', async () => {
    const { response } = await raw('GET', '/version');
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(header(response, 'content-type'), 'text/plain');
    assert.equal(header(response, 'access-control-allow-origin'), '*');
    assert.equal(header(response, 'content-length'), String(Buffer.byteLength(`${VERSION}\n`)));
    assert.equal(response.body.toString(), `${VERSION}\n`);
  });

  test('/help: text/plain with ACAO, commands built from the Host header and the scheme', async () => {
    const { response } = await raw('GET', '/help');
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(header(response, 'content-type'), 'text/plain');
    assert.equal(header(response, 'access-control-allow-origin'), '*');
    assert.equal(header(response, 'content-length'), String(response.body.length));
    const text = response.body.toString();
    assert.match(text, /curl -T myfile http:\/\/relay\.test\/mypath/);
    assert.match(text, /curl http:\/\/relay\.test\/mypath > myfile/);
    assert.doesNotMatch(text, /https:/);
  });

  test('/help: X-Forwarded-Proto containing "https" switches the scheme; no Host gives "hostname"', async () => {
    const proxied = await raw('GET', '/help', 'X-Forwarded-Proto: http, https\r\n');
    assert.match(proxied.response.body.toString(), /curl -T myfile https:\/\/relay\.test\/mypath/);
    const plain = await raw('GET', '/help', 'X-Forwarded-Proto: http\r\n');
    assert.match(plain.response.body.toString(), /curl -T myfile http:\/\/relay\.test\/mypath/);
    // HTTP/1.1 requires a Host header; HTTP/1.0 may leave it out.
    const noHost = parseResponse(await rawExchange(ferry.port, 'GET /help HTTP/1.0\r\n\r\n'));
    assert.match(noHost.body.toString(), /curl -T myfile http:\/\/hostname\/mypath/);
  });

  test('/favicon.ico: 204, no Content-Length, no ACAO, no body', async () => {
    const { data, response } = await raw('GET', '/favicon.ico');
    assert.equal(response.statusLine, 'HTTP/1.1 204 No Content');
    assert.equal(header(response, 'content-length'), undefined);
    assert.equal(header(response, 'access-control-allow-origin'), undefined);
    assert.ok(data.toString('latin1').endsWith('\r\n\r\n'), 'nothing after the head');
  });

  test('/robots.txt: 404 with Content-Length 0, no ACAO', async () => {
    const { response } = await raw('GET', '/robots.txt');
    assert.equal(response.statusLine, 'HTTP/1.1 404 Not Found');
    assert.equal(header(response, 'content-length'), '0');
    assert.equal(header(response, 'access-control-allow-origin'), undefined);
    assert.equal(response.body.length, 0);
  });

  for (const path of ['/', '/noscript', '/version', '/help', '/favicon.ico', '/robots.txt']) {
    test(`HEAD ${path}: the status and headers of GET, and no body`, async () => {
      const get = await raw('GET', path);
      const head = await raw('HEAD', path);
      assert.equal(head.response.statusLine, get.response.statusLine);
      const comparable = (r: typeof get.response) =>
        r.headers
          .filter(([name]) => name.toLowerCase() !== 'date')
          .map(([name, value]) => [name, value.replace(/'nonce-[^']+'/, "'nonce-*'")]);
      assert.deepEqual(comparable(head.response), comparable(get.response));
      assert.ok(head.data.toString('latin1').endsWith('\r\n\r\n'), 'nothing after the head');
    });
  }

  test('the query string does not change which page is served', async () => {
    const index = await request(`${ferry.url}/?x=1`);
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    const version = await request(`${ferry.url}/version?n=abc&x=1`);
    assert.equal(version.body.toString(), `${VERSION}\n`);
  });

  for (const path of ['/', '/noscript', '/version', '/help', '/favicon.ico', '/robots.txt']) {
    for (const method of ['POST', 'PUT']) {
      test(`${method} ${path} is refused: 400 text naming the reserved path`, async () => {
        const res = await request(`${ferry.url}${path}`, { method, body: 'data' });
        assert.equal(res.status, 400);
        assert.equal(res.headers['content-type'], 'text/plain');
        assert.equal(res.headers['access-control-allow-origin'], '*');
        assert.equal(res.headers['content-length'], String(res.body.length));
        assert.equal(res.body.toString(), `[ERROR] Cannot send to the reserved path '${path}'. (e.g. '/mypath123')\n`);
      });
    }
  }

  test('a reserved path reached through dot segments is still reserved', async () => {
    const res = await curl(['--path-as-is', '-T', '-', `${ferry.url}/a/../version`], 'x');
    assert.equal(res.stdout.toString(), "[ERROR] Cannot send to the reserved path '/version'. (e.g. '/mypath123')\n");
  });

  for (const path of ['/help/', '/index.html', '/version/', '/noscript.html']) {
    test(`${path} is not reserved: it is an ordinary pipe`, async () => {
      const suffix = uniquePath('q').slice(1);
      const url = `${ferry.url}${path}?tag=${suffix}`;
      const sender = new Sender(url);
      await sender.waitForLog('[INFO] Waiting for 1 receiver(s)...\n');
      sender.end(`through ${path}`);
      const received = await request(url);
      assert.equal(received.status, 200);
      assert.equal(received.body.toString(), `through ${path}`);
      assert.equal(
        (await sender.result).log.endsWith('[INFO] All receiver(s) was/were received successfully.\n'),
        true,
      );
    });
  }
});
