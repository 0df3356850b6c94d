// `ferry serve` as a user runs it: flags and environment variables, usage errors, signals.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { curl, sha256 } from '../helpers/curl.ts';
import { runCli, spawnFerry } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/wait.ts';

async function runToExit(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = runCli(args, env);
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const [code] = await once(child, 'exit');
  return { code: code as number, stderr };
}

test('flags can be given as environment variables', async () => {
  const server = await spawnFerry([], { FERRY_MAX_RECEIVERS: '2' });
  try {
    const res = await curl([`${server.url}/p?n=3`]);
    assert.equal(res.stdout.toString(), '[ERROR] n should be at most 2, but n = 3.\n');
  } finally {
    await server.stop();
  }
});

test('a flag wins over its environment variable', async () => {
  const server = await spawnFerry(['--max-receivers', '5'], { FERRY_MAX_RECEIVERS: '2' });
  try {
    const res = await curl([`${server.url}/p?n=6`]);
    assert.equal(res.stdout.toString(), '[ERROR] n should be at most 5, but n = 6.\n');
  } finally {
    await server.stop();
  }
});

test('bad flags and values exit 2 with a stable error code', async () => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['serve', '--http-port', 'abc'], {}, /^ferry: error \[invalid_argument\]: .*--http-port.*'abc'/],
    [['serve', '--http-port', '70000'], {}, /^ferry: error \[invalid_argument\]: .*expected 0\.\.65535/],
    [['serve'], { FERRY_LOG_LEVEL: 'loud' }, /^ferry: error \[invalid_argument\]: .*FERRY_LOG_LEVEL/],
    [['serve', '--no-such-flag'], {}, /^ferry: error \[unknown_option\]: unknown option '--no-such-flag'/],
    [['serve', '--enable-https'], {}, /^ferry: error \[bad_flag\]: --https-port is required with --enable-https/],
    [['teleport'], {}, /^ferry: error \[unknown_command\]: unknown command 'teleport'/],
  ];
  for (const [args, env, expected] of cases) {
    const { code, stderr } = await runToExit(args, env);
    assert.equal(code, 2, `ferry ${args.join(' ')}`);
    assert.match(stderr, expected);
  }
});

test('a port in use exits 69 with port_in_use', async () => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const { port } = blocker.address() as net.AddressInfo;
  try {
    const { code, stderr } = await runToExit(['serve', '--host', '127.0.0.1', '--http-port', String(port)]);
    assert.equal(code, 69);
    assert.match(stderr, /^ferry: error \[port_in_use\]/);
  } finally {
    blocker.close();
  }
});

test('SIGTERM lets a running transfer finish, refuses waiting receivers, then exits 0', async () => {
  const server = await spawnFerry(['--shutdown-grace', '20']);
  try {
    // A slow receiver keeps the transfer running while the signal arrives (socket buffers take the first MiBs).
    const payload = Buffer.alloc(32 * 1024 * 1024, 7);
    const receiver = curl(['--limit-rate', '8M', `${server.url}/running`]);
    const waiting = curl(['-i', `${server.url}/nobody-sends`]);
    const sender = curl(['-T', '-', `${server.url}/running`], payload);
    await waitFor(async () => {
      const health = (await curl([`${server.url}/_/health`])).stdout.toString();
      return health.includes('"active":1') && health.includes('"waitingReceivers":1');
    }, 'the transfer to start and the other receiver to wait');
    const exited = server.stop('SIGTERM');
    const waited = await waiting;
    assert.match(waited.stdout.toString(), /^HTTP\/1\.1 503[\s\S]*shutting down/);
    const received = await receiver;
    assert.equal(received.code, 0);
    assert.equal(sha256(received.stdout), sha256(payload));
    assert.match((await sender).stdout.toString(), /All receiver\(s\) was\/were received successfully/);
    assert.equal(await exited, 0);
  } finally {
    await server.stop('SIGKILL');
  }
});
