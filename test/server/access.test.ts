// Access control on `ferry serve` as an operator runs it: tokens from a file and the environment, path rules for
// sending and receiving, the hub, /_/pipe and /_/ice under the same rules, Origin checks on WebSockets and tokens,
// private-network preflights, and the TURN user part each client gets. Real curl, ws and node:http on loopback.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IceServer } from '../../src/protocol/signaling.ts';
import { curl, sha256 } from '../helpers/curl.ts';
import { type SpawnedServer, spawnFerry } from '../helpers/ferry.ts';
import { Receiver, request, Sender, SUITE_TIMEOUT, startCurl, uniquePath, until } from '../helpers/relay.ts';
import { TestSocket } from '../helpers/ws.ts';

const ALICE = 'alice-token-0123456789';
const UNNAMED = 'unnamed-token-0123456789';
const FROM_ENV = 'env-token-0123456789abcdef';
const APP = 'https://app.example.org';
const EVIL = 'https://evil.example';
const CHALLENGE = 'Bearer realm="ferry", Basic realm="ferry"';

const dir = mkdtempSync(join(tmpdir(), 'ferry-access-'));
const tokensFile = join(dir, 'tokens');
after(() => rmSync(dir, { recursive: true, force: true }));

interface UpgradeResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A WebSocket handshake by hand, to read the status, headers and body of a refused one. */
function upgrade(url: string, headers: http.OutgoingHttpHeaders = {}, localAddress?: string): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      agent: false,
      localAddress,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.once('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        body += text;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** A refusal as a user reads it: status, the challenge on a 401, and the stable code first in the body. */
function assertRefused(result: { status: number; headers: http.IncomingHttpHeaders; body: string }, code: string) {
  const status = code === 'origin_not_allowed' ? 403 : 401;
  assert.equal(result.status, status, result.body);
  assert.equal(result.headers['www-authenticate'], status === 401 ? CHALLENGE : undefined);
  assert.match(result.body, new RegExp(`^\\[ERROR\\] ${code}: `));
}

const text = (r: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }) => ({
  ...r,
  body: r.body.toString(),
});
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** One transfer through curl, both sides with their own extra arguments; resolves with both results. */
async function transfer(url: string, senderArgs: string[], receiverArgs: string[]) {
  const data = randomBytes(256 * 1024);
  const receiver = startCurl([...receiverArgs, url], { hashOnly: true });
  const sender = startCurl([...senderArgs, '-T', '-', url], { stdin: data });
  // A refused sender leaves its receiver waiting: end it, so the test fails on the refusal, not on a timeout.
  void sender.result.then((r) => {
    if (!/Sent successfully/.test(r.stdout.toString())) receiver.child.kill();
  });
  const [got, sent] = await Promise.all([receiver.result, sender.result]);
  return { got, sent, sha: sha256(data) };
}

describe('access control', { timeout: SUITE_TIMEOUT }, () => {
  let ferry: SpawnedServer;
  let ws: string;
  before(async () => {
    writeFileSync(tokensFile, `# operators' tokens\nalice:${ALICE}\n\n${UNNAMED}\n`);
    ferry = await spawnFerry(
      [
        '--tokens-file',
        tokensFile,
        '--protect',
        'send:/private,receive:/inbox',
        '--protect',
        'hub',
        '--protect',
        'ice',
        '--allowed-origins',
        APP,
        '--turn-url',
        'turn:127.0.0.1:3479',
        '--turn-secret',
        'shh',
      ],
      { FERRY_TOKENS: FROM_ENV },
    );
    ws = ferry.url.replace(/^http/, 'ws');
  });
  after(() => ferry.stop());

  test('send:/private: bearer and curl -u senders get through; none and a wrong token get 401', async () => {
    for (const auth of [
      ['-H', `Authorization: Bearer ${ALICE}`],
      ['-u', `anyone:${UNNAMED}`],
      ['-u', `:${FROM_ENV}`],
    ]) {
      // The receiver needs nothing: only sending is protected there.
      const { got, sent, sha } = await transfer(`${ferry.url}${uniquePath('private')}`, auth, []);
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(got.sha256, sha, `${auth.join(' ')}: ${sent.stdout}`);
    }
    const path = `/private${uniquePath()}`;
    assertRefused(text(await request(`${ferry.url}${path}`, { method: 'PUT', body: 'x' })), 'token_required');
    const wrong = await request(`${ferry.url}${path}`, { method: 'PUT', body: 'x', headers: bearer(`${ALICE}x`) });
    assertRefused(text(wrong), 'token_invalid');
    const basicWrong = await curl(['-i', '-u', 'alice:nope-nope-nope-nope', '-T', '-', `${ferry.url}${path}`], 'x');
    assert.match(basicWrong.stdout.toString(), /HTTP\/1\.1 401 [\s\S]*\[ERROR\] token_invalid: /);
    // HTTP/2 (h2c) is checked the same way.
    const h2 = await curl(['-i', '--http2-prior-knowledge', '-T', '-', `${ferry.url}${path}`], 'x');
    assert.match(
      h2.stdout.toString(),
      /^HTTP\/2 401[\s\S]*www-authenticate: Bearer realm="ferry", Basic realm="ferry"/i,
    );
  });

  test('Expect: 100-continue: a refused upload is never sent; an allowed one is', async () => {
    const path = `${ferry.url}/private${uniquePath()}`;
    const file = join(dir, 'upload');
    writeFileSync(file, randomBytes(4 * 1024 * 1024));
    const expect = ['-H', 'Expect: 100-continue', '--expect100-timeout', '30', '-w', '%{http_code} %{size_upload}'];
    const refused = await curl(['-s', '-o', '/dev/null', ...expect, '-T', file, path]);
    assert.equal(refused.stdout.toString(), '401 0');
    const receiver = startCurl([path], { hashOnly: true });
    const sent = await curl(['-s', '-o', '/dev/null', ...expect, '-u', `x:${ALICE}`, '-T', file, path]);
    assert.equal(sent.stdout.toString(), `200 ${4 * 1024 * 1024}`);
    assert.equal((await receiver.result).sha256, sha256(readFileSync(file)));
  });

  test('receive:/inbox: anyone sends, only a token holder receives; unprotected paths stay open', async () => {
    const path = `/inbox${uniquePath()}`;
    assertRefused(text(await request(`${ferry.url}${path}`)), 'token_required');
    const { got, sent, sha } = await transfer(`${ferry.url}${path}`, [], ['-u', `x:${ALICE}`]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(got.sha256, sha);
    const open = await transfer(`${ferry.url}${uniquePath('open')}`, [], []);
    assert.equal(open.got.sha256, open.sha);
    // Pages, the web app and health need no token.
    for (const page of ['/', '/help', '/_/health']) assert.equal((await request(`${ferry.url}${page}`)).status, 200);
  });

  test('hub: an upgrade without a token is 401; ?token= (browsers) and the header get a welcome', async () => {
    for (const endpoint of ['/_/ws', '/register', '/offer']) {
      assertRefused(await upgrade(`${ferry.url}${endpoint}`), 'token_required');
      assertRefused(await upgrade(`${ferry.url}${endpoint}?token=${UNNAMED}0`), 'token_invalid');
    }
    for (const [url, options] of [
      [`${ws}/_/ws?token=${UNNAMED}`, {}],
      [`${ws}/_/ws`, { headers: bearer(ALICE) }],
    ] as const) {
      const socket = await TestSocket.open(url, options);
      socket.send({ type: 'hello', versions: [1] });
      assert.equal((await socket.next()).type, 'welcome');
      await socket.close();
    }
  });

  test('/_/pipe follows the send rules of the path it names', async () => {
    const path = `/private${uniquePath()}`;
    assertRefused(await upgrade(`${ferry.url}/_/pipe?path=${path}`), 'token_required');
    const data = randomBytes(100_000);
    const receiver = new Receiver(`${ferry.url}${path}`);
    const socket = await TestSocket.open(`${ws}/_/pipe?path=${path}&token=${ALICE}`);
    socket.ws.send(data);
    socket.send({ type: 'end' });
    const got = await receiver.result;
    assert.equal(got.sha256, sha256(data));
    await socket.closed;
    // A path no rule names needs nothing.
    const open = await TestSocket.open(`${ws}/_/pipe?path=${uniquePath('open')}`);
    await open.close();
  });

  test('/_/ice and welcome: TURN only with a token, under the token name or a stable user per client', async () => {
    assertRefused(text(await request(`${ferry.url}/_/ice`)), 'token_required');
    const turnUser = async (headers: http.OutgoingHttpHeaders, localAddress?: string) => {
      const res = await request(`${ferry.url}/_/ice`, { headers, localAddress });
      assert.equal(res.status, 200, res.body.toString());
      const { iceServers } = JSON.parse(res.body.toString()) as { iceServers: IceServer[] };
      return iceServers.find((s) => s.username !== undefined)?.username?.split(':')[1];
    };
    assert.equal(await turnUser(bearer(ALICE)), 'alice');
    assert.equal(await turnUser(bearer(ALICE), '127.0.0.2'), 'alice', 'a named token is one TURN user wherever it is');
    const one = await turnUser(bearer(UNNAMED));
    assert.match(one ?? '', /^[\w-]{16}$/);
    assert.equal(await turnUser(bearer(UNNAMED)), one, 'stable for one client');
    const two = await turnUser(bearer(UNNAMED), '127.0.0.2');
    assert.notEqual(two, one, 'another client address is another TURN user');
    // The hub hands the same user to the same client.
    const socket = await TestSocket.open(`${ws}/_/ws?token=${UNNAMED}`);
    socket.send({ type: 'hello', versions: [1] });
    const welcome = await socket.next();
    assert.equal((welcome.iceServers as IceServer[]).at(-1)?.username?.split(':')[1], one);
    await socket.close();
  });

  test("Origin: an allowed one, the server's own and none pass; another page gets 403", async () => {
    const own = ferry.url;
    for (const origin of [APP, own, undefined]) {
      const headers = origin === undefined ? bearer(ALICE) : { ...bearer(ALICE), Origin: origin };
      assert.equal((await upgrade(`${ferry.url}/_/ws`, headers)).status, 101, origin);
      assert.equal((await request(`${ferry.url}/_/ice`, { headers })).status, 200, origin);
    }
    assertRefused(await upgrade(`${ferry.url}/_/ws?token=${ALICE}`, { Origin: EVIL }), 'origin_not_allowed');
    // A token from another page (a browser may attach basic credentials it remembers) is refused too...
    const credentialed = await request(`${ferry.url}/_/ice`, { headers: { ...bearer(ALICE), Origin: EVIL } });
    assertRefused(text(credentialed), 'origin_not_allowed');
    const sent = await request(`${ferry.url}${uniquePath('private')}`, {
      method: 'PUT',
      body: 'x',
      headers: { ...bearer(ALICE), Origin: EVIL },
    });
    assertRefused(text(sent), 'origin_not_allowed');
    // ...while a tokenless request on an open path stays a piping-server request, any origin welcome.
    const open = await transfer(
      `${ferry.url}${uniquePath('open')}`,
      ['-H', `Origin: ${EVIL}`],
      ['-H', `Origin: ${EVIL}`],
    );
    assert.equal(open.got.sha256, open.sha);
  });

  test('private-network preflight: granted to allowed origins and non-browsers only', async () => {
    const preflight = (origin?: string) =>
      request(`${ferry.url}/some/pipe`, {
        method: 'OPTIONS',
        headers: {
          ...(origin && { Origin: origin }),
          'Access-Control-Request-Method': 'PUT',
          'Access-Control-Request-Private-Network': 'true',
        },
      });
    for (const origin of [APP, undefined]) {
      const res = await preflight(origin);
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-private-network'], 'true');
    }
    const refused = await preflight(EVIL);
    assertRefused(text(refused), 'origin_not_allowed');
    assert.equal(refused.headers['access-control-allow-private-network'], undefined);
    // A plain CORS preflight from any page is answered as piping-server does.
    const cors = await request(`${ferry.url}/some/pipe`, {
      method: 'OPTIONS',
      headers: { Origin: EVIL, 'Access-Control-Request-Method': 'PUT' },
    });
    assert.equal(cors.status, 200);
    assert.equal(cors.headers['access-control-allow-origin'], '*');
  });

  test('the tokens file is reloaded: the old token stops, the new works, a running transfer goes on', async () => {
    const NEW = 'new-token-0123456789abcdef';
    const path = `/private${uniquePath()}`;
    const receiver = new Receiver(`${ferry.url}${path}`);
    const sender = new Sender(`${ferry.url}${path}`, { headers: bearer(UNNAMED) });
    const first = randomBytes(64 * 1024);
    const second = randomBytes(64 * 1024);
    await sender.waitForLog('Start sending');
    await sender.write(first);

    writeFileSync(tokensFile, `alice:${ALICE}\n${NEW}\n`);
    const status = async (token: string) => (await request(`${ferry.url}/_/ice`, { headers: bearer(token) })).status;
    await until(async () => (await status(UNNAMED)) === 401, 'the removed token to be refused', 10_000);
    assert.equal(await status(NEW), 200);
    assert.equal(await status(FROM_ENV), 200, 'tokens from the environment stay');

    await sender.write(second);
    sender.end();
    const [sent, got] = await Promise.all([sender.result, receiver.result]);
    assert.equal(sent.complete, true);
    assert.match(sent.log, /All receiver\(s\) was\/were received successfully/);
    assert.equal(got.sha256, sha256(Buffer.concat([first, second])));

    // A bad file is not loaded: the previous tokens stay, and the log says why.
    writeFileSync(tokensFile, `${NEW}\ntoo-short\n`);
    await until(() => /tokens file not reloaded/.test(ferry.stderr()), 'the failed reload to be logged', 10_000);
    assert.equal(await status(NEW), 200);
    assert.equal(await status(ALICE), 200);
    assert.match(ferry.stderr(), /line 2: a token must be at least 16 characters/);
  });
});

describe('access control: defaults and start-up', { timeout: SUITE_TIMEOUT }, () => {
  test('tokens without --protect: every pipe, the hub and TURN need one; the app and health do not', async () => {
    const ferry = await spawnFerry(['--tokens', `${ALICE},bob:${UNNAMED}`]);
    try {
      const path = uniquePath();
      assertRefused(text(await request(`${ferry.url}${path}`, { method: 'POST', body: 'x' })), 'token_required');
      assertRefused(text(await request(`${ferry.url}${path}`)), 'token_required');
      assertRefused(text(await request(`${ferry.url}/_/ice`)), 'token_required');
      assertRefused(await upgrade(`${ferry.url}/_/ws`), 'token_required');
      assertRefused(await upgrade(`${ferry.url}/_/pipe?path=${path}`), 'token_required');
      for (const page of ['/', '/_/health', '/noscript'])
        assert.equal((await request(`${ferry.url}${page}`)).status, 200);
      const { got, sha } = await transfer(`${ferry.url}${path}`, ['-u', `u:${UNNAMED}`], ['-u', `u:${ALICE}`]);
      assert.equal(got.sha256, sha);
    } finally {
      await ferry.stop();
    }
  });

  test('--protect ice alone: hub peers without a token get STUN but no TURN', async () => {
    const ferry = await spawnFerry([
      '--tokens',
      ALICE,
      '--protect',
      'ice',
      '--turn-url',
      'turn:127.0.0.1:3479',
      '--turn-secret',
      'shh',
    ]);
    try {
      const ws = ferry.url.replace(/^http/, 'ws');
      const servers = async (url: string) => {
        const socket = await TestSocket.open(url);
        socket.send({ type: 'hello', versions: [1] });
        const welcome = await socket.next();
        await socket.close();
        return welcome.iceServers as IceServer[];
      };
      assert.deepEqual(await servers(`${ws}/_/ws`), []);
      assert.equal((await servers(`${ws}/_/ws?token=${ALICE}`))[0]?.urls[0], 'turn:127.0.0.1:3479');
    } finally {
      await ferry.stop();
    }
  });

  test('no access flags: WebSockets from another page are refused, TURN users are stable per client', async () => {
    const ferry = await spawnFerry(['--turn-url', 'turn:127.0.0.1:3479', '--turn-secret', 'shh']);
    try {
      assertRefused(await upgrade(`${ferry.url}/_/ws`, { Origin: EVIL }), 'origin_not_allowed');
      assertRefused(await upgrade(`${ferry.url}/_/pipe?path=/x`, { Origin: EVIL }), 'origin_not_allowed');
      assert.equal((await upgrade(`${ferry.url}/_/ws`, { Origin: ferry.url })).status, 101);
      assert.equal((await upgrade(`${ferry.url}/_/ws`, {}, '127.0.0.2')).status, 101);
      const pna = await request(`${ferry.url}/p`, {
        method: 'OPTIONS',
        headers: { Origin: EVIL, 'Access-Control-Request-Private-Network': 'true' },
      });
      assertRefused(text(pna), 'origin_not_allowed');
      const user = async (localAddress: string) => {
        const res = await request(`${ferry.url}/_/ice`, { localAddress, headers: bearer('ignored-without-tokens') });
        const { iceServers } = JSON.parse(res.body.toString()) as { iceServers: IceServer[] };
        return iceServers[0]?.username?.split(':')[1];
      };
      assert.equal(await user('127.0.0.1'), await user('127.0.0.1'));
      assert.notEqual(await user('127.0.0.1'), await user('127.0.0.2'));
    } finally {
      await ferry.stop();
    }
  });

  test('bad token settings are usage errors (2)', { timeout: 60_000 }, async () => {
    writeFileSync(join(dir, 'bad'), 'ok:fine-token-0123456789\nshort\n');
    const cases: Array<[string[], RegExp]> = [
      [['--tokens', 'short'], /at least 16 characters/],
      [['--protect', 'hub'], /--protect needs --tokens or --tokens-file/],
      [['--tokens', ALICE, '--protect', 'write:/x'], /is not send:\/PREFIX/],
      [['--allowed-origins', 'https://a.example/path'], /is not an origin/],
      [['--tokens-file', join(dir, 'bad')], /\[bad_tokens_file\].*line 2/],
      [['--tokens-file', join(dir, 'missing')], /\[bad_tokens_file\].*cannot read/],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(
        spawnFerry(args),
        (err: Error) => /exited with 2/.test(err.message) && message.test(err.message),
      );
    }
  });
});
