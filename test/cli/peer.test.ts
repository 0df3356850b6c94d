// `ferry listen` and `ferry connect` as the real processes a user runs, over a real data channel on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, startFerry, type TestServer } from '../helpers/ferry.ts';
import { Proc } from '../helpers/proc.ts';
import { TestSocket } from '../helpers/ws.ts';

const T = { timeout: 30_000 };

describe('ferry listen / ferry connect', () => {
  let ferry: TestServer;
  const procs: Proc[] = [];
  const ferryCli = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const proc = new Proc(runCli(args, env));
    procs.push(proc);
    return proc;
  };
  const listen = (name: string) =>
    ferryCli(['listen', '--id', name, '--server', ferry.url, '--bind-address', '127.0.0.1', '--verbose']);
  const connect = (name: string) =>
    ferryCli(['connect', name, '--bind-address', '127.0.0.1', '--verbose'], { FERRY_SERVER: ferry.url });

  before(async () => {
    ferry = await startFerry();
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await ferry.close();
  });

  test('listen and connect exchange lines both ways over a data channel', T, async () => {
    const listener = listen('e2e-one');
    await listener.waitFor('err', /listening as e2e-one/);
    const caller = connect('e2e-one');
    caller.write('hello from connect');
    await listener.waitFor('out', /^hello from connect\n$/);
    await listener.waitFor('err', /data channel open/);
    listener.write('hello from listen');
    await caller.waitFor('out', /^hello from listen\n$/);
    caller.write('second line');
    await listener.waitFor('out', /second line\n$/);
    // The end of connect's stdin ends it, cleanly; the listener notices and keeps listening.
    caller.child.stdin?.end();
    assert.equal(await caller.exited, 0);
    await listener.waitFor('err', /data channel closed/);
    assert.match(caller.err, /data channel open to e2e-one/);
    assert.equal(await listener.stop('SIGTERM'), 0);
  });

  test('two connects to one listen at once, each with its own channel', T, async () => {
    const listener = listen('e2e-two');
    await listener.waitFor('err', /listening as e2e-two/);
    const first = connect('e2e-two');
    const second = connect('e2e-two');
    await Promise.all([first.waitFor('err', /data channel open/), second.waitFor('err', /data channel open/)]);
    await listener.waitFor('err', /data channel open[\s\S]*data channel open/);
    first.write('from the first');
    second.write('from the second');
    await listener.waitFor('out', /from the first/);
    await listener.waitFor('out', /from the second/);
    listener.write('to everyone');
    await Promise.all([first.waitFor('out', /^to everyone\n$/), second.waitFor('out', /^to everyone\n$/)]);
    first.child.stdin?.end();
    second.child.stdin?.end();
    assert.deepEqual(await Promise.all([first.exited, second.exited]), [0, 0]);
    assert.equal(await listener.stop('SIGTERM'), 0);
  });

  test('connect to an unknown name exits 4 with name_unknown', T, async () => {
    const caller = connect('nobody-listens-here');
    assert.equal(await caller.exited, 4);
    assert.match(caller.err, /ferry: error \[name_unknown\]: no peer is listening as 'nobody-listens-here'/);
  });

  test('listen under a taken name exits 5 with name_taken', T, async () => {
    const holder = listen('e2e-taken');
    await holder.waitFor('err', /listening as e2e-taken/);
    const second = listen('e2e-taken');
    assert.equal(await second.exited, 5);
    assert.match(second.err, /ferry: error \[name_taken\]: the name 'e2e-taken' is already in use/);
    assert.equal(await holder.stop('SIGTERM'), 0);
  });

  test('a peer that never answers makes connect exit 6 with connection_failed at its --timeout', T, async () => {
    // A hub client that takes the name and receives the offer, but never answers it.
    const mute = await TestSocket.peer(ferry.url, { id: 'e2e-mute' });
    const caller = ferryCli([
      'connect',
      'e2e-mute',
      '--timeout',
      '1',
      '--server',
      ferry.url,
      '--bind-address',
      '127.0.0.1',
    ]);
    assert.equal((await mute.next()).type, 'offer');
    assert.equal(await caller.exited, 6);
    assert.match(caller.err, /ferry: error \[connection_failed\]: no data channel to 'e2e-mute': not open after 1 s/);
    await mute.close();
  });

  test('an unreachable server exits 3 with server_unreachable, for both commands', T, async () => {
    const dead = 'http://127.0.0.1:1';
    const caller = ferryCli(['connect', 'x', '--server', dead]);
    const listener = ferryCli(['listen', '--id', 'x'], { FERRY_SERVER: dead });
    assert.deepEqual(await Promise.all([caller.exited, listener.exited]), [3, 3]);
    for (const p of [caller, listener]) {
      assert.match(p.err, /ferry: error \[server_unreachable\]: cannot reach ws:\/\/127\.0\.0\.1:1\/_\/ws/);
    }
  });

  test('a bad --server URL or --id is a usage error (2)', T, async () => {
    const badUrl = ferryCli(['connect', 'x', '--server', 'ftp://example']);
    const badId = ferryCli(['listen', '--id', 'no spaces', '--server', ferry.url]);
    assert.deepEqual(await Promise.all([badUrl.exited, badId.exited]), [2, 2]);
    assert.match(badUrl.err, /\[bad_flag\]/);
    assert.match(badId.err, /\[bad_flag\]/);
  });
});
