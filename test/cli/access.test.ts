// Every client command on a server with access control, as real processes against a real `ferry serve --tokens`:
// with the token (--token or FERRY_TOKEN) send/receive move a file P2P and through the relay, listen/connect pass
// lines, and listen renews TURN credentials; without it, or with a wrong one, each command exits 11 with
// token_required or token_invalid. The token never shows in anything a command prints.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, type SpawnedServer, spawnFerry } from '../helpers/ferry.ts';
import { Proc } from '../helpers/proc.ts';

const T = { timeout: 60_000 };
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const WRONG = `bad-${randomBytes(12).toString('hex')}`;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('CLI access tokens', () => {
  let work: string;
  let file: string;
  /** Tokens and no --protect: every pipe, the hub and /_/ice need one. */
  let locked: SpawnedServer;
  /** Only the pipes need one: the hub lets anyone in, so a refusal comes from the relay. */
  let pipesOnly: SpawnedServer;
  const procs: Proc[] = [];
  let nextNumber = 300;
  const newCode = () => `${nextNumber++}-orbit-zoo`;

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    // A token from the test runner's own environment must not leak into the runs that should have none.
    const proc = new Proc(runCli(args, { FERRY_TOKEN: undefined, ...env }));
    procs.push(proc);
    return proc;
  };
  const noSecrets = (...runs: Proc[]) => {
    for (const run of runs) {
      for (const secret of [TOKEN, WRONG]) {
        assert.equal(run.out.includes(secret), false, `token on stdout: ${run.out}`);
        assert.equal(run.err.includes(secret), false, `token on stderr: ${run.err}`);
      }
    }
  };
  const transfer = async (server: string, extra: string[], env: NodeJS.ProcessEnv) => {
    const code = newCode();
    const out = await mkdtemp(join(work, 'out-'));
    const common = ['--code', code, '--server', server, '--bind-address', '127.0.0.1', '--json'];
    const sender = cli(['send', file, ...common, ...extra], env);
    await sender.waitUntil(() => sender.event('code') !== undefined, 'code event');
    const receiver = cli(
      ['receive', code, '--server', server, '--bind-address', '127.0.0.1', '--json', '--yes', '--out', out],
      env,
    );
    return { sender, receiver, out };
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ferry-access-cli-'));
    file = join(work, 'photo.bin');
    await writeFile(file, randomBytes(3 * 1024 * 1024 + 7));
    const turn = [
      '--turn-url',
      'turn:127.0.0.1:3478?transport=udp',
      '--turn-secret',
      'turn-secret',
      '--turn-ttl',
      '60',
    ];
    locked = await spawnFerry(['--tokens', `alice:${TOKEN}`, ...turn]);
    pipesOnly = await spawnFerry(['--protect', 'all:/'], { FERRY_TOKENS: TOKEN });
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await locked?.stop();
    await pipesOnly?.stop();
    await rm(work, { recursive: true, force: true });
  });

  for (const [name, extra, transport] of [
    ['peer to peer (the default)', [], 'p2p'],
    ['through the relay (--transport relay)', ['--transport', 'relay'], 'relay'],
  ] as const) {
    test(`send/receive with FERRY_TOKEN ${name}: SHA-256 equal`, T, async () => {
      const { sender, receiver, out } = await transfer(locked.url, [...extra], { FERRY_TOKEN: TOKEN });
      assert.equal(await sender.exited, 0, sender.err);
      assert.equal(await receiver.exited, 0, receiver.err);
      assert.equal(sender.event('done')?.transport, transport);
      assert.equal(receiver.event('done')?.transport, transport);
      const received = await readFile(join(out, 'photo.bin'));
      assert.equal(sha256(received), sha256(await readFile(file)));
      noSecrets(sender, receiver);
    });
  }

  test('--token wins over FERRY_TOKEN', T, async () => {
    const env = { FERRY_TOKEN: WRONG };
    const { sender, receiver } = await transfer(locked.url, ['--token', TOKEN], env);
    // The receiver has only the wrong token from the environment.
    assert.equal(await receiver.exited, 11);
    assert.equal(receiver.event('error', 'out')?.code, 'token_invalid');
    await sender.stop();
    noSecrets(sender, receiver);
  });

  test('send and receive without a token, or with a wrong one, exit 11 at the hub', T, async () => {
    for (const [env, code] of [
      [{}, 'token_required'],
      [{ FERRY_TOKEN: WRONG }, 'token_invalid'],
    ] as const) {
      const sender = cli(['send', file, '--server', locked.url, '--json'], env);
      const receiver = cli(['receive', newCode(), '--server', locked.url, '--yes', '--out', work], env);
      assert.equal(await sender.exited, 11);
      assert.equal(await receiver.exited, 11);
      const error = sender.event('error');
      assert.equal(error?.code, code);
      assert.equal(error?.exit, 11);
      assert.match(String(error?.message), /signaling hub/);
      assert.match(receiver.err, new RegExp(`^ferry: error \\[${code}\\]: .*signaling hub`, 'm'));
      noSecrets(sender, receiver);
    }
  });

  test('a refused relay pipe is token_required/token_invalid, exit 11, on both sides', T, async () => {
    for (const [env, code] of [
      [{}, 'token_required'],
      [{ FERRY_TOKEN: WRONG }, 'token_invalid'],
    ] as const) {
      const { sender, receiver } = await transfer(pipesOnly.url, ['--transport', 'relay'], env);
      assert.equal(await sender.exited, 11, sender.err);
      assert.equal(await receiver.exited, 11, receiver.err);
      for (const side of [sender, receiver]) {
        const error = side.event('error');
        assert.equal(error?.code, code, side.err);
        assert.match(String(error?.message), /relay (uploads|downloads)/);
      }
      noSecrets(sender, receiver);
    }
    // The same server, with the token: the relay carries it.
    const { sender, receiver } = await transfer(pipesOnly.url, ['--transport', 'relay'], { FERRY_TOKEN: TOKEN });
    assert.equal(await sender.exited, 0, sender.err);
    assert.equal(await receiver.exited, 0, receiver.err);
    noSecrets(sender, receiver);
  });

  test('listen/connect with --token pass lines, and listen renews TURN credentials with it', T, async () => {
    const common = ['--server', locked.url, '--bind-address', '127.0.0.1', '--verbose', '--token', TOKEN];
    const listener = cli(['listen', '--id', 'guarded', ...common]);
    await listener.waitFor('err', /listening as guarded/);
    // --turn-ttl 60 puts the first renewal (GET /_/ice) right after the welcome.
    await listener.waitFor('err', /TURN credentials refreshed|could not refresh/);
    assert.match(listener.err, /TURN credentials refreshed/);
    const caller = cli(['connect', 'guarded', ...common]);
    caller.write('past the gate');
    await listener.waitFor('out', /^past the gate\n$/);
    caller.child.stdin?.end();
    assert.equal(await caller.exited, 0, caller.err);
    assert.equal(await listener.stop('SIGTERM'), 0);
    noSecrets(listener, caller);
  });

  test('listen and connect without a token, or with a wrong one, exit 11', T, async () => {
    for (const [token, code] of [
      [[], 'token_required'],
      [['--token', WRONG], 'token_invalid'],
    ] as const) {
      const listener = cli(['listen', '--id', 'nobody', '--server', locked.url, ...token]);
      const caller = cli(['connect', 'nobody', '--server', locked.url, ...token]);
      for (const run of [listener, caller]) {
        assert.equal(await run.exited, 11);
        assert.match(run.err, new RegExp(`^ferry: error \\[${code}\\]: .*signaling hub`, 'm'));
      }
      noSecrets(listener, caller);
    }
  });

  test('--help shows no token, even one in FERRY_TOKEN; a token with a space is a usage error', T, async () => {
    for (const command of ['send', 'receive', 'listen', 'connect']) {
      const help = cli([command, '--help'], { FERRY_TOKEN: TOKEN });
      assert.equal(await help.exited, 0);
      assert.match(help.out, /--token <token>/);
      assert.match(help.out, /FERRY_TOKEN/);
      noSecrets(help);
    }
    const bad = cli(['connect', 'x', '--server', locked.url, '--token', `${WRONG} x`]);
    assert.equal(await bad.exited, 2);
    assert.match(bad.err, /\[bad_flag\]: --token/);
    noSecrets(bad);
  });
});
