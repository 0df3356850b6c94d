// `ferry listen` and `ferry connect` with --ice-transport-policy relay, as real processes, through a real coturn
// whose credentials the server minted: both report a relay-relay candidate pair, and lines cross both ways.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Proc } from '../helpers/cli-process.ts';
import { type Coturn, startCoturn } from '../helpers/coturn.ts';
import { runCli, startFerry, type TestServer } from '../helpers/ferry.ts';

const T = { timeout: 30_000 };
const RELAY_PAIR = /selected candidate pair: local relay udp 127\.0\.0\.2:\d+, remote relay udp 127\.0\.0\.2:\d+/;

describe('ferry listen / connect, relay-only through coturn', () => {
  let coturn: Coturn;
  let ferry: TestServer;
  let plain: TestServer;
  const procs: Proc[] = [];
  const ferryCli = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const proc = new Proc(runCli(args, env));
    procs.push(proc);
    return proc;
  };

  before(async () => {
    coturn = await startCoturn();
    // TCP first: node-datachannel (libjuice) allocates over UDP only and must find the UDP one among them.
    ferry = await startFerry({
      turnUrls: [
        `turn:${coturn.host}:${coturn.port}?transport=tcp`,
        `turn:${coturn.host}:${coturn.port}?transport=udp`,
      ],
      turnSecret: coturn.secret,
    });
    plain = await startFerry();
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await ferry?.close();
    await plain?.close();
    await coturn?.stop();
  });

  test('both sides select a relay-relay pair and lines cross both ways', T, async () => {
    const common = ['--server', ferry.url, '--bind-address', '127.0.0.1', '--verbose'];
    const listener = ferryCli(['listen', '--id', 'relayed', '--ice-transport-policy', 'relay', ...common]);
    await listener.waitFor('err', /listening as relayed/);
    const caller = ferryCli(['connect', 'relayed', ...common], { FERRY_ICE_TRANSPORT_POLICY: 'relay' });
    caller.write('through the relay');
    await listener.waitFor('out', /^through the relay\n$/);
    await caller.waitFor('err', RELAY_PAIR);
    await listener.waitFor('err', RELAY_PAIR);
    listener.write('and back');
    await caller.waitFor('out', /^and back\n$/);
    caller.child.stdin?.end();
    assert.equal(await caller.exited, 0);
    assert.equal(await listener.stop(), 0);
  });

  test('without the flag, the same pair of peers connects directly (host candidates)', T, async () => {
    const common = ['--server', ferry.url, '--bind-address', '127.0.0.1', '--verbose'];
    const listener = ferryCli(['listen', '--id', 'direct', ...common]);
    await listener.waitFor('err', /listening as direct/);
    const caller = ferryCli(['connect', 'direct', ...common]);
    // The remote end may read prflx (RFC 8445 §7.3.1.3): its check can arrive before its trickled candidate.
    await caller.waitFor(
      'err',
      /selected candidate pair: local host udp 127\.0\.0\.1:\d+, remote (host|prflx) udp 127/,
    );
    caller.child.stdin?.end();
    assert.equal(await caller.exited, 0);
    assert.equal(await listener.stop(), 0);
  });

  test('relay-only against a server that hands out no TURN exits 6 with no_relay, for both commands', T, async () => {
    const args = ['--server', plain.url, '--ice-transport-policy', 'relay', '--bind-address', '127.0.0.1'];
    const listener = ferryCli(['listen', '--id', 'no-turn', ...args]);
    const caller = ferryCli(['connect', 'anyone', ...args]);
    assert.deepEqual(await Promise.all([listener.exited, caller.exited]), [6, 6]);
    for (const p of [listener, caller])
      assert.match(p.err, /ferry: error \[no_relay\]: --ice-transport-policy relay needs/);
  });

  test('an unknown policy is a usage error (2)', T, async () => {
    const caller = ferryCli(['connect', 'x', '--server', plain.url, '--ice-transport-policy', 'turn']);
    assert.equal(await caller.exited, 2);
    assert.match(caller.err, /\[invalid_argument\].*Allowed choices are all, relay/);
  });
});
