// The web app as served: `/` and /_/app/… with their types, policies and caching; HEAD, revalidation and
// compression; the relay's answers around them unchanged; a placeholder when the app is not built; and a bundle
// that a browser can run (no Node import in it).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { APP_CSP, SW_CSP } from '../../src/server/web.ts';
import { buildWeb, type WebManifest } from '../../web/build.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { parseResponse, rawExchange, rawHeader, request, SUITE_TIMEOUT } from '../helpers/relay.ts';

let ferry: TestServer;
let dir: string;
let manifest: WebManifest;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-web-'));
  manifest = await buildWeb(join(dir, 'web'));
  ferry = await startFerry({}, { webRoot: join(dir, 'web') });
});
after(async () => {
  await ferry?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function raw(method: string, target: string, extra = '', version = '1.1') {
  const data = await rawExchange(
    ferry.port,
    `${method} ${target} HTTP/${version}\r\nHost: app.test\r\n${extra}Connection: close\r\n\r\n`,
  );
  return { data, response: parseResponse(data) };
}

function one(response: ReturnType<typeof parseResponse>, name: string): string | undefined {
  const values = rawHeader(response, name);
  assert.ok(values.length <= 1, `one ${name} header at most`);
  return values[0];
}

describe('web app serving', { timeout: SUITE_TIMEOUT }, () => {
  test('/ is the app page: HTML, a strict CSP, nosniff, revalidated, no ACAO', async () => {
    const { response } = await raw('GET', '/');
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(one(response, 'content-type'), 'text/html; charset=utf-8');
    assert.equal(one(response, 'content-security-policy'), APP_CSP);
    assert.equal(one(response, 'x-content-type-options'), 'nosniff');
    assert.equal(one(response, 'cache-control'), 'no-cache');
    assert.equal(one(response, 'referrer-policy'), 'no-referrer');
    assert.equal(one(response, 'access-control-allow-origin'), undefined);
    assert.equal(one(response, 'content-length'), String(response.body.length));
    assert.match(one(response, 'etag') ?? '', /^"[\w-]{22}"$/);
    const page = response.body.toString();
    assert.match(page, /^<!doctype html>/);
    assert.match(page, /<script type="module" src="\/_\/app\/main-\w+\.js"><\/script>/);
    assert.match(page, /<link rel="stylesheet" href="\/_\/app\/main-\w+\.css">/);
    assert.match(page, /href="\/noscript"/, 'the page points to the no-JavaScript form');
    assert.doesNotMatch(
      page,
      /<script>|<style|\sstyle=|\son\w+=/,
      'nothing inline that the policy would have to allow',
    );
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) {
      assert.ok(APP_CSP.includes(directive), directive);
    }
    assert.doesNotMatch(APP_CSP, /unsafe-inline|unsafe-eval|\*/);
  });

  test('HEAD / has the headers of GET and no body; a query string changes nothing', async () => {
    const get = await raw('GET', '/');
    const head = await raw('HEAD', '/');
    const comparable = (r: typeof get.response) => r.headers.filter(([name]) => name.toLowerCase() !== 'date');
    assert.deepEqual(comparable(head.response), comparable(get.response));
    assert.ok(head.data.toString('latin1').endsWith('\r\n\r\n'), 'nothing after the head');
    const query = await raw('GET', '/?path=x&n=2');
    assert.deepEqual(query.response.body, get.response.body);
  });

  test('every built file is served under /_/app/ with its type; hashed names are immutable, sw.js revalidated', async () => {
    const types: Record<string, RegExp> = {
      js: /^text\/javascript; charset=utf-8$/,
      css: /^text\/css; charset=utf-8$/,
      svg: /^image\/svg\+xml$/,
      map: /^application\/json; charset=utf-8$/,
    };
    assert.ok(manifest.files.some((f) => f.name === 'sw.js' && !f.immutable));
    for (const file of manifest.files) {
      const { response } = await raw('GET', `/_/app/${file.name}`);
      assert.equal(response.statusLine, 'HTTP/1.1 200 OK', file.name);
      assert.match(one(response, 'content-type') ?? '', types[file.name.split('.').pop() as string] as RegExp);
      assert.equal(one(response, 'x-content-type-options'), 'nosniff');
      // The service worker runs under its script's policy: nothing but its WebAssembly.
      if (file.name === 'sw.js') assert.equal(one(response, 'content-security-policy'), SW_CSP);
      assert.equal(
        one(response, 'cache-control'),
        file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        file.name,
      );
      if (file.immutable) assert.match(file.name, /-[\w]{8}\.\w+(\.map)?$/, 'an immutable file carries its hash');
      assert.deepEqual(response.body, readFileSync(join(dir, 'web', file.name)));
      const head = await raw('HEAD', `/_/app/${file.name}`);
      assert.equal(head.response.statusLine, 'HTTP/1.1 200 OK');
      assert.equal(head.response.body.length, 0);
      assert.equal(one(head.response, 'content-length'), String(response.body.length));
    }
  });

  test('brotli and gzip when accepted (Vary: Accept-Encoding), identity otherwise', async () => {
    const script = manifest.files.find((f) => f.name.endsWith('.js') && f.name.startsWith('main-'))?.name as string;
    const plain = readFileSync(join(dir, 'web', script));
    const br = await raw('GET', `/_/app/${script}`, 'Accept-Encoding: gzip, deflate, br\r\n');
    assert.equal(one(br.response, 'content-encoding'), 'br');
    assert.equal(one(br.response, 'vary'), 'Accept-Encoding');
    assert.deepEqual(brotliDecompressSync(br.response.body), plain);
    assert.ok(br.response.body.length < plain.length / 2, 'the bundle compresses well');
    const gzip = await raw('GET', `/_/app/${script}`, 'Accept-Encoding: gzip, br;q=0\r\n');
    assert.equal(one(gzip.response, 'content-encoding'), 'gzip');
    assert.deepEqual(gunzipSync(gzip.response.body), plain);
    const identity = await raw('GET', `/_/app/${script}`);
    assert.equal(one(identity.response, 'content-encoding'), undefined);
    assert.deepEqual(identity.response.body, plain);
  });

  test('If-None-Match with the current ETag: 304 and no body', async () => {
    const first = await raw('GET', '/');
    const etag = one(first.response, 'etag') as string;
    const again = await raw('GET', '/', `If-None-Match: W/${etag}\r\n`);
    assert.equal(again.response.statusLine, 'HTTP/1.1 304 Not Modified');
    assert.equal(again.response.body.length, 0);
    assert.equal(one(again.response, 'etag'), etag);
    const stale = await raw('GET', '/', 'If-None-Match: "something-else"\r\n');
    assert.equal(stale.response.statusLine, 'HTTP/1.1 200 OK');
  });

  test('HTTP/1.0 clients get an HTTP/1.0 status line, as from every other page', async () => {
    const { response } = await raw('GET', '/', '', '1.0');
    assert.equal(response.statusLine, 'HTTP/1.0 200 OK');
  });

  test('around the app the relay answers as before', async () => {
    const post = await request(`${ferry.url}/`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 400);
    assert.equal(post.body.toString(), "[ERROR] Cannot send to the reserved path '/'. (e.g. '/mypath123')\n");
    const put = await request(`${ferry.url}/_/app/sw.js`, { method: 'PUT', body: 'x' });
    assert.equal(put.status, 400);
    const del = await request(`${ferry.url}/`, { method: 'DELETE' });
    assert.equal(del.status, 405);
    assert.equal(del.headers.allow, 'GET, HEAD, OPTIONS');
    const missing = await request(`${ferry.url}/_/app/nothing-here.js`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.toString(), '[ERROR] Not found: /_/app/nothing-here.js\n');
    const noscript = await request(`${ferry.url}/noscript`);
    assert.equal(noscript.status, 200);
    assert.match(String(noscript.headers['content-security-policy']), /^default-src 'none'; style-src 'nonce-/);
  });

  test('the bundle is browser code: no Node import, no require, the version built in', () => {
    const scripts = readdirSync(join(dir, 'web')).filter((name) => name.endsWith('.js'));
    assert.ok(scripts.length >= 2, 'the app and the service worker');
    for (const name of scripts) {
      const code = readFileSync(join(dir, 'web', name), 'utf8');
      assert.doesNotMatch(code, /["'`]node:/, `${name} imports a node: module`);
      assert.doesNotMatch(code, /\brequire\(/, `${name} calls require`);
      assert.doesNotMatch(code, /\bprocess\.(env|argv|versions)/, `${name} reads process`);
    }
    const app = scripts.filter((name) => name.startsWith('main-')).map((name) => readFileSync(join(dir, 'web', name)));
    assert.ok(
      app.some((code) => code.includes(`"${manifest.version}"`)),
      'the version is compiled in',
    );
  });
});

describe('web app not built', { timeout: SUITE_TIMEOUT }, () => {
  test('/ is a placeholder page that points to the no-JavaScript form and curl', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ferry-noweb-'));
    const server = await startFerry({}, { webRoot: join(empty, 'missing') });
    try {
      const res = await request(`${server.url}/`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['content-security-policy'], "default-src 'none'");
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.match(res.body.toString(), /has not been built/);
      assert.match(res.body.toString(), /href="\/noscript"/);
      assert.equal((await request(`${server.url}/_/app/sw.js`)).status, 404);
    } finally {
      await server.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
