// The ICE configuration Ferry hands out: which STUN address, in what order, TURN credentials checked against an
// independent HMAC (openssl), and the same configuration through GET /_/ice, the hub's welcome and serve's flags.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import type { IceServer } from '../../src/protocol/signaling.ts';
import { defaultConfig } from '../../src/server/config.ts';
import { authorityHostname, IceConfiguration, type IceSettings, mintTurnCredentials } from '../../src/server/ice.ts';
import { createLogger } from '../../src/server/log.ts';
import { SignalingHub } from '../../src/signaling/hub.ts';
import { curl } from '../helpers/curl.ts';
import { spawnFerry, startFerry } from '../helpers/ferry.ts';
import { TestSocket } from '../helpers/ws.ts';

const T = { timeout: 30_000 };
const NOW = Date.UTC(2030, 0, 1);
const BASE: IceSettings = {
  publicHost: undefined,
  host: undefined,
  stunPort: 3478,
  iceServers: [],
  turnUrls: [],
  turnSecret: undefined,
  turnTtl: 3600,
};
const ice = (settings: Partial<IceSettings>) => new IceConfiguration({ ...BASE, ...settings });

/** base64(HMAC-SHA1(secret, text)) computed by openssl, not by Node. */
function opensslHmac(secret: string, text: string): string {
  const mac = spawnSync('openssl', ['dgst', '-sha1', '-hmac', secret, '-binary'], { input: text });
  assert.equal(mac.status, 0, mac.stderr.toString());
  return mac.stdout.toString('base64');
}

/** A UDP port nobody holds right now (for a STUN responder that must bind a known port). */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe('TURN REST API credentials', () => {
  test('username is "<unix expiry>:<user>", credential base64(HMAC-SHA1(secret, username))', () => {
    const minted = mintTurnCredentials('north wind', 'alice', 3600, NOW);
    const expiry = NOW / 1000 + 3600;
    assert.deepEqual(minted, {
      username: `${expiry}:alice`,
      credential: opensslHmac('north wind', `${expiry}:alice`),
      expires: expiry,
    });
  });

  test('fresh for each peer: another user or a later moment gives another credential', () => {
    const a = mintTurnCredentials('s', 'alice', 60, NOW);
    const b = mintTurnCredentials('s', 'bob', 60, NOW);
    const later = mintTurnCredentials('s', 'alice', 60, NOW + 1000);
    assert.equal(new Set([a.credential, b.credential, later.credential]).size, 3);
    assert.equal(later.expires, a.expires + 1);
  });
});

describe('IceConfiguration', () => {
  test('our STUN server is advertised at --public-host, else a specific --host, else the Host header', () => {
    assert.deepEqual(ice({ publicHost: 'ferry.example.org', host: '127.0.0.1' }).forPeer('p', 'other:8080'), [
      { urls: 'stun:ferry.example.org:3478' },
    ]);
    assert.deepEqual(ice({ host: '127.0.0.1' }).forPeer('p', 'other:8080'), [{ urls: 'stun:127.0.0.1:3478' }]);
    assert.deepEqual(ice({ host: '::1', stunPort: 9 }).forPeer('p', undefined), [{ urls: 'stun:[::1]:9' }]);
    for (const wildcard of [undefined, '0.0.0.0', '::']) {
      assert.deepEqual(ice({ host: wildcard }).forPeer('p', 'ferry.example.org:8080'), [
        { urls: 'stun:ferry.example.org:3478' },
      ]);
    }
    assert.deepEqual(ice({ publicHost: '2001:db8::1' }).forPeer('p', undefined), [{ urls: 'stun:[2001:db8::1]:3478' }]);
  });

  test('without a usable host, or with STUN off, no STUN entry', () => {
    assert.deepEqual(ice({}).forPeer('p', undefined), []);
    assert.deepEqual(ice({}).forPeer('p', 'bad host'), []);
    assert.deepEqual(ice({ stunPort: undefined, publicHost: 'x.example' }).forPeer('p', 'x'), []);
  });

  test('order: our STUN, the --ice-server entries, then TURN with credentials for the peer', () => {
    const extra: IceServer[] = [
      { urls: 'stun:stun.example.net' },
      { urls: 'turn:t.example', username: 'u', credential: 'c' },
    ];
    const servers = ice({
      publicHost: 'ferry.example.org',
      iceServers: extra,
      turnUrls: ['turn:ferry.example.org:3479?transport=udp', 'turns:ferry.example.org:5349'],
      turnSecret: 'shh',
      turnTtl: 600,
    }).forPeer('peer-7', undefined, NOW);
    const username = `${NOW / 1000 + 600}:peer-7`;
    assert.deepEqual(servers, [
      { urls: 'stun:ferry.example.org:3478' },
      ...extra,
      {
        urls: ['turn:ferry.example.org:3479?transport=udp', 'turns:ferry.example.org:5349'],
        username,
        credential: opensslHmac('shh', username),
      },
    ]);
  });

  test('TURN user: the token name, else a keyed hash of the client, stable and different per client', () => {
    const config = ice({ turnSecret: 'shh' });
    assert.equal(config.userFor('127.0.0.1', 'alice'), 'alice');
    const one = config.userFor('127.0.0.1', undefined);
    assert.match(one, /^[\w-]{16}$/);
    assert.equal(config.userFor('127.0.0.1', undefined), one);
    assert.notEqual(config.userFor('127.0.0.2', undefined), one);
    assert.notEqual(ice({ turnSecret: 'other' }).userFor('127.0.0.1', undefined), one, 'keyed by the secret');
    assert.deepEqual(ice({ turnUrls: ['turn:t'], turnSecret: 's' }).forPeer(undefined, 't'), [{ urls: 'stun:t:3478' }]);
  });

  test('the Host header is read as a browser sends it, and junk is not repeated to peers', () => {
    assert.equal(authorityHostname('Ferry.Example.org:8080'), 'ferry.example.org');
    assert.equal(authorityHostname('[::1]:8080'), '::1');
    assert.equal(authorityHostname('127.0.0.1'), '127.0.0.1');
    for (const junk of [undefined, '', 'a b', 'x/y', '[::1', 'häst"'])
      assert.equal(authorityHostname(junk), undefined, junk);
  });
});

describe('GET /_/ice and welcome on a running server', () => {
  test('/_/ice: an RTCConfiguration, fresh TURN credentials each time, never cached; HEAD and h2c too', T, async () => {
    const stunPort = await freeUdpPort();
    const ferry = await startFerry({
      stunPort,
      turnUrls: ['turn:127.0.0.1:3479'],
      turnSecret: 'shh',
      iceServers: [{ urls: 'stun:127.0.0.1:9' }],
    });
    try {
      const response = await fetch(`${ferry.url}/_/ice`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json');
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const first = (await response.json()) as { iceServers: IceServer[] };
      assert.deepEqual(Object.keys(first), ['iceServers']);
      const [stun, extra, turn] = first.iceServers;
      assert.deepEqual(stun, { urls: `stun:127.0.0.1:${stunPort}` });
      assert.deepEqual(extra, { urls: 'stun:127.0.0.1:9' });
      assert.deepEqual(turn?.urls, ['turn:127.0.0.1:3479']);
      const [expiry] = (turn?.username ?? '').split(':');
      assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + 3600)) < 5, turn?.username);
      assert.equal(turn?.credential, opensslHmac('shh', turn?.username ?? ''));

      // One client is one TURN user (coturn's user-quota counts it), whatever it asks through.
      const user = (username: string | undefined) => username?.split(':')[1];
      const second = (await (await fetch(`${ferry.url}/_/ice`)).json()) as { iceServers: IceServer[] };
      assert.equal(user(second.iceServers[2]?.username), user(turn?.username), 'the same client, the same user');
      const socket = await TestSocket.open(`${ferry.url.replace(/^http/, 'ws')}/_/ws`);
      socket.send({ type: 'hello', versions: [1] });
      const welcome = await socket.next();
      const [, , viaHub] = welcome.iceServers as IceServer[];
      assert.equal(user(viaHub?.username), user(turn?.username), 'and the hub gives it the same one');
      assert.equal(viaHub?.credential, opensslHmac('shh', viaHub?.username ?? ''));
      await socket.close();

      const head = await curl(['-s', '-I', `${ferry.url}/_/ice`]);
      assert.match(head.stdout.toString(), /^HTTP\/1\.1 200/);
      const h2 = await curl(['-s', '--http2-prior-knowledge', `http://localhost:${ferry.port}/_/ice`]);
      const viaH2 = JSON.parse(h2.stdout.toString()) as { iceServers: IceServer[] };
      // A specific --host (127.0.0.1 here) says where we are better than the name a client used.
      assert.deepEqual(viaH2.iceServers[0], { urls: `stun:127.0.0.1:${stunPort}` });
    } finally {
      await ferry.close();
    }
  });

  test('the hub asks for each peer with its upgrade request, which carries the Host it came with', T, async () => {
    // Ferry's tests bind 127.0.0.1, a specific --host that outranks the Host header; this hub is wired to a
    // configuration that has neither --public-host nor --host, as on a server bound to every interface.
    const asked: Array<string | undefined> = [];
    const configuration = ice({ stunPort: 3478 });
    const hub = new SignalingHub(defaultConfig(), createLogger('silent'), (req) => {
      asked.push(req.headers.host);
      return () => configuration.forPeer('u', req.headers.host);
    });
    const server = http.createServer();
    server.on('upgrade', (req, socket, head) => hub.upgrade('signaling', req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = server.address() as AddressInfo;
      const socket = await TestSocket.open(`ws://127.0.0.1:${port}/_/ws`, {
        headers: { Host: 'ferry.example.org:8443' },
      });
      socket.send({ type: 'hello', versions: [1], id: 'dave' });
      const welcome = await socket.next();
      assert.deepEqual(welcome.iceServers, [{ urls: 'stun:ferry.example.org:3478' }]);
      assert.deepEqual(asked, ['ferry.example.org:8443']);
      await socket.close();
    } finally {
      hub.close();
      server.close();
    }
  });

  test('ferry serve: --public-host, and TURN from the environment', T, async () => {
    const stunPort = await freeUdpPort();
    const served = await spawnFerry(['--stun-port', String(stunPort), '--public-host', '[2001:db8::7]'], {
      FERRY_TURN_URLS: 'turn:127.0.0.1:3479?transport=udp, turn:127.0.0.1:3479?transport=tcp',
      FERRY_TURN_SECRET: 'from-env',
      FERRY_TURN_TTL: '120',
    });
    try {
      const { iceServers } = (await (await fetch(`${served.url}/_/ice`)).json()) as { iceServers: IceServer[] };
      assert.deepEqual(iceServers[0], { urls: `stun:[2001:db8::7]:${stunPort}` });
      assert.deepEqual(iceServers[1]?.urls, ['turn:127.0.0.1:3479?transport=udp', 'turn:127.0.0.1:3479?transport=tcp']);
      const expiry = Number(iceServers[1]?.username?.split(':')[0]);
      assert.ok(Math.abs(expiry - (Date.now() / 1000 + 120)) < 5);
      assert.equal(iceServers[1]?.credential, opensslHmac('from-env', iceServers[1]?.username ?? ''));
    } finally {
      assert.equal(await served.stop(), 0);
    }
  });

  // Seven CLI start-ups, one after another: in parallel they only compete for the same two cores.
  test('ferry serve: inconsistent or malformed TURN flags are usage errors (2)', { timeout: 90_000 }, async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--turn-url', 'turn:127.0.0.1'], /--turn-url needs --turn-secret/],
      [['--turn-secret', 'x'], /--turn-secret needs at least one --turn-url/],
      [['--turn-url', 'turn:u:p@127.0.0.1', '--turn-secret', 'x'], /credentials are minted from --turn-secret/],
      [['--turn-url', 'stun:127.0.0.1', '--turn-secret', 'x'], /is not a turn: or turns: URI/],
      [['--turn-url', 'http://x', '--turn-secret', 'x'], /is not a stun:, stuns:, turn: or turns: URI/],
      [['--turn-ttl', '5'], /expected 60\.\.2592000/],
      [['--public-host', 'not a host'], /is not a host name or IP address/],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(
        spawnFerry(args),
        (err: Error) => /exited with 2/.test(err.message) && message.test(err.message),
      );
    }
  });
});
