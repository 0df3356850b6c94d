// Ferry's TURN credentials judged by a real coturn (use-auth-secret, the TURN REST API scheme) on loopback:
// minted ones allocate, over UDP and TCP; expired, forged or tampered ones get 401.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IceServer } from '../../src/protocol/signaling.ts';
import { mintTurnCredentials } from '../../src/server/ice.ts';
import { type Coturn, startCoturn } from '../helpers/coturn.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { type Credentials, TurnClient } from '../helpers/turn-client.ts';
import { TestSocket } from '../helpers/ws.ts';

const T = { timeout: 15_000 };

describe('TURN credentials against a real coturn', () => {
  let coturn: Coturn;
  let ferry: TestServer;
  const clients: TurnClient[] = [];

  const allocate = async (credentials: Credentials, transport: 'udp' | 'tcp' = 'udp') => {
    const client = await TurnClient.open(coturn.host, coturn.port, transport, credentials);
    clients.push(client);
    return { client, result: await client.allocate() };
  };

  before(async () => {
    coturn = await startCoturn();
    ferry = await startFerry({
      turnUrls: [
        `turn:${coturn.host}:${coturn.port}?transport=udp`,
        `turn:${coturn.host}:${coturn.port}?transport=tcp`,
      ],
      turnSecret: coturn.secret,
    });
  });
  after(async () => {
    for (const client of clients) client.close();
    await ferry?.close();
    await coturn?.stop();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    test(
      `a minted credential allocates a relayed address over ${transport}; its response is signed with it`,
      T,
      async () => {
        const { client, result } = await allocate(mintTurnCredentials(coturn.secret, 'alice', 600), transport);
        assert.ok(result.ok, `refused: ${JSON.stringify(result)}`);
        assert.equal(result.relayed.address, coturn.relayIp);
        assert.equal(result.mapped.address, '127.0.0.1');
        assert.ok(result.lifetime > 0);
        assert.ok(result.integrityValid, 'the Allocate success carries a MESSAGE-INTEGRITY made with our key');
        await client.release();
      },
    );
  }

  test('an expired credential is refused with 401', T, async () => {
    const expired = mintTurnCredentials(coturn.secret, 'alice', -60);
    const { result } = await allocate(expired);
    assert.deepEqual(result.ok ? 'accepted' : result.code, 401);
  });

  test(
    'expiry bounds new allocations, not running ones: a live allocation refreshes after its credential expired',
    T,
    async () => {
      // The TURN REST API draft leaves this to the server; coturn checks the expiry when it authenticates an
      // Allocate. docs/turn.md and `ferry listen`'s credential renewal rely on this behaviour.
      const credentials = mintTurnCredentials(coturn.secret, 'bob', 1);
      const { client, result } = await allocate(credentials);
      assert.ok(result.ok, JSON.stringify(result));
      await new Promise((resolve) => setTimeout(resolve, credentials.expires * 1000 - Date.now() + 1100));
      assert.deepEqual(await client.refresh(600), { ok: true });
      const late = await allocate(credentials);
      assert.deepEqual(late.result.ok ? 'accepted' : late.result.code, 401);
      await client.release();
    },
  );

  test('a credential signed with another secret is refused with 401', T, async () => {
    const { result } = await allocate(mintTurnCredentials(`${coturn.secret}x`, 'alice', 600));
    assert.deepEqual(result.ok ? 'accepted' : result.code, 401);
  });

  test('a username changed after minting (a later expiry, another user) is refused with 401', T, async () => {
    const real = mintTurnCredentials(coturn.secret, 'alice', 600);
    const [expiry] = real.username.split(':');
    for (const username of [`${Number(expiry) + 86_400}:alice`, `${expiry}:mallory`]) {
      const { result } = await allocate({ username, credential: real.credential });
      assert.deepEqual(result.ok ? 'accepted' : result.code, 401, username);
    }
  });

  test('the TURN servers of GET /_/ice allocate, over each of their transports', T, async () => {
    const response = await fetch(`${ferry.url}/_/ice`);
    const { iceServers } = (await response.json()) as { iceServers: IceServer[] };
    const turn = iceServers.find((s) => [s.urls].flat().some((u) => u.startsWith('turn:')));
    assert.ok(turn?.username && turn.credential, JSON.stringify(iceServers));
    assert.match(turn.username, /^\d+:[A-Za-z0-9_-]{16}$/);
    for (const url of [turn.urls].flat()) {
      const transport = url.endsWith('tcp') ? 'tcp' : 'udp';
      const { client, result } = await allocate({ username: turn.username, credential: turn.credential }, transport);
      assert.ok(result.ok, `${url} refused: ${JSON.stringify(result)}`);
      await client.release();
    }
  });

  test("the TURN server in the hub's welcome allocates, under the client's user, not the peer's id", T, async () => {
    const peer = await TestSocket.open(`${ferry.url.replace(/^http/, 'ws')}/_/ws`);
    peer.send({ type: 'hello', versions: [1], id: 'turn-user' });
    const welcome = await peer.next();
    const turn = (welcome.iceServers as IceServer[]).find((s) => s.username !== undefined);
    assert.ok(turn?.username && turn.credential);
    assert.match(turn.username, /^\d+:[A-Za-z0-9_-]{16}$/);
    const { client, result } = await allocate({ username: turn.username, credential: turn.credential });
    assert.ok(result.ok, JSON.stringify(result));
    await client.release();
    await peer.close();
  });
});
