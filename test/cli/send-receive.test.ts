// `ferry send` / `ferry receive` as the real processes a user runs, against a real server on loopback: P2P over
// node-datachannel (bound to 127.0.0.1), the encrypted relay, and a hostile server in the middle (test/helpers/mitm.ts)
// that swaps DTLS fingerprints, loses ICE candidates, tampers with or cuts the relay stream, and taps what it carries.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RelayFrames } from '../../src/peer/relay-frames.ts';
import { SignalingClient } from '../../src/peer/signaling-client.ts';
import { parseCode } from '../../src/protocol/code.ts';
import { Rendezvous } from '../../src/protocol/rendezvous.ts';
import { runHandshake, startSpake2 } from '../../src/protocol/session.ts';
import { decryptBytes, encryptBytes } from '../../src/protocol/stream-cipher.ts';
import { type Entry, FrameDecoder, type Offer } from '../../src/protocol/transfer.ts';
import { sendTransfer } from '../../src/protocol/transfer-session.ts';
import { runCli, startFerry, type TestServer } from '../helpers/ferry.ts';
import { type Mitm, sessionData, startMitm } from '../helpers/mitm.ts';
import { Proc } from '../helpers/proc.ts';
import { makeCert } from '../helpers/tls.ts';

const T = { timeout: 60_000 };
const MiB = 1024 * 1024;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of (await import('node:fs')).createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function writeRandom(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  for (let left = bytes; left > 0; left -= 4 * MiB) {
    if (!out.write(randomBytes(Math.min(4 * MiB, left)))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve(null))));
}

/** Everything in a folder, recursively, as "path kind mode size". */
async function listing(dir: string, prefix = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const full = join(dir, name);
    const info = await lstat(full);
    const mode = (info.mode & 0o777).toString(8);
    if (info.isDirectory()) {
      lines.push(`${prefix}${name}/ ${mode}`);
      lines.push(...(await listing(full, `${prefix}${name}/`)));
    } else lines.push(`${prefix}${name} ${mode} ${info.size} ${await sha256File(full)}`);
  }
  return lines;
}

describe('ferry send / ferry receive', () => {
  let ferry: TestServer;
  let work: string;
  let big: string;
  let bigSha: string;
  const procs: Proc[] = [];
  const mitms: Mitm[] = [];
  let nextNumber = 100;
  const newCode = () => `${nextNumber++}-orbit-zoo`;

  const cli = (args: string[]) => {
    const proc = new Proc(runCli(args));
    procs.push(proc);
    return proc;
  };
  const send = (path: string, code: string, extra: string[] = [], server = ferry.url) =>
    cli(['send', path, '--code', code, '--server', server, '--bind-address', '127.0.0.1', '--json', ...extra]);
  const receive = (code: string, out: string, extra: string[] = [], server = ferry.url) =>
    cli([
      'receive',
      code,
      '--out',
      out,
      '--server',
      server,
      '--bind-address',
      '127.0.0.1',
      '--json',
      '--yes',
      ...extra,
    ]);
  const outDir = () => mkdtemp(join(work, 'out-'));
  const mitm = async (options: Parameters<typeof startMitm>[1]) => {
    const m = await startMitm(ferry.url, options);
    mitms.push(m);
    return m;
  };
  /** A sender built from the protocol pieces (it knows the code), agreed on the relay with a real receiver. */
  const handshakeAsSender = async (code: string) => {
    const signaling = await SignalingClient.connect(ferry.url);
    const rendezvous = await Rendezvous.allocate(signaling, parseCode(code).number);
    await rendezvous.waitForPeer();
    const { keys } = await runHandshake('sender', startSpake2('sender', code), 'relay', rendezvous);
    return { keys, signaling };
  };
  /** Nothing but what was received: no staging folder, no partial file. */
  const assertEmpty = async (dir: string) => assert.deepEqual(await readdir(dir), []);

  before(async () => {
    // Some two dozen transfers from one address, some senders left waiting: more than --max-codes-per-client's 8.
    ferry = await startFerry({ maxCodesPerClient: 100 });
    work = await mkdtemp(join(tmpdir(), 'ferry-send-'));
    big = join(work, 'big.bin');
    await writeRandom(big, 256 * MiB);
    bigSha = await sha256File(big);
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(mitms.map((m) => m.close()));
    await ferry.close();
    await rm(work, { recursive: true, force: true });
  });

  test('256 MiB over P2P: SHA-256 equal, both sides say p2p', T, async () => {
    const out = await outDir();
    const code = newCode();
    const sender = send(big, code);
    const receiver = receive(code, out);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [0, 0], receiver.err + sender.err);
    assert.equal(await sha256File(join(out, 'big.bin')), bigSha);
    for (const p of [sender, receiver]) {
      const done = p.event('done');
      assert.equal(done?.transport, 'p2p');
      assert.equal(done?.sha256, bigSha);
      assert.equal(done?.bytes, 256 * MiB);
    }
    assert.deepEqual(await readdir(out), ['big.bin']);
  });

  test('256 MiB over the relay (--transport relay on one side): SHA-256 equal, both sides say relay', T, async () => {
    const out = await outDir();
    const code = newCode();
    const sender = send(big, code, ['--transport', 'relay']);
    const receiver = receive(code, out);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [0, 0], receiver.err + sender.err);
    assert.equal(await sha256File(join(out, 'big.bin')), bigSha);
    assert.equal(sender.event('done')?.transport, 'relay');
    assert.equal(receiver.event('done')?.transport, 'relay');
  });

  test('the relay over an HTTPS server: both pipes through TLS, SHA-256 equal', T, async () => {
    const cert = makeCert('localhost');
    const secure = await startFerry({ enableHttps: true, httpsPort: 0, keyPath: cert.keyPath, crtPath: cert.crtPath });
    try {
      const server = `https://127.0.0.1:${secure.server.https?.port}`;
      const out = await outDir();
      const code = newCode();
      const file = join(work, 'tls.bin');
      await writeRandom(file, 16 * MiB);
      // The CLI trusts the test's self-signed certificate the way a user would point Node at a private CA.
      const env = { NODE_EXTRA_CA_CERTS: cert.crtPath };
      const common = ['--server', server, '--transport', 'relay', '--bind-address', '127.0.0.1', '--json'];
      const sender = new Proc(runCli(['send', file, '--code', code, ...common], env));
      const receiver = new Proc(runCli(['receive', code, ...common, '--out', out, '--yes'], env));
      procs.push(sender, receiver);
      assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [0, 0], receiver.err + sender.err);
      assert.equal(await sha256File(join(out, 'tls.bin')), await sha256File(file));
      assert.equal(receiver.event('done')?.transport, 'relay');
    } finally {
      await secure.close();
      cert.remove();
    }
  });

  test('a folder tree: empty folders, Unicode names and file modes survive', T, async () => {
    const src = join(await mkdtemp(join(work, 'src-')), 'tree');
    await mkdir(join(src, 'empty'), { recursive: true });
    await mkdir(join(src, 'ünïcødé', '日本語', 'deeper'), { recursive: true });
    await writeFile(join(src, 'ünïcødé', '日本語', 'ファイル 🚀.txt'), 'hello\n');
    await writeFile(join(src, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(src, 'run.sh'), 0o755);
    await writeFile(join(src, 'secret'), randomBytes(100_000));
    await chmod(join(src, 'secret'), 0o600);
    await writeFile(join(src, 'empty.txt'), '');
    await chmod(join(src, 'ünïcødé', '日本語', 'deeper'), 0o700);
    await symlink('/etc/passwd', join(src, 'link-out'));
    const out = await outDir();
    const code = newCode();
    const sender = send(src, code);
    const receiver = receive(code, out);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [0, 0], receiver.err + sender.err);
    const expected = (await listing(src)).filter((line) => !line.startsWith('link-out'));
    assert.deepEqual(await listing(join(out, 'tree')), expected);
    assert.ok(expected.some((line) => line.startsWith('empty/ ')));
    assert.ok(expected.includes(`run.sh 755 18 ${createHash('sha256').update('#!/bin/sh\necho hi\n').digest('hex')}`));
    assert.equal((await stat(join(out, 'tree'))).mode & 0o777, (await stat(src)).mode & 0o777);
    // A symbolic link is not sent (it could point anywhere); the sender says so.
    assert.match(sender.err, /skipping tree\/link-out/);
    assert.equal(receiver.event('offer')?.kind, 'directory');
    assert.equal((receiver.event('done')?.files as unknown[] | undefined)?.length, 4);
  });

  test('stdin → stdout, of unknown length', T, async () => {
    const data = randomBytes(3 * MiB + 12345);
    const code = newCode();
    const sender = send('-', code);
    const receiver = receive(code, await outDir());
    sender.child.stdin?.end(data);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [0, 0], receiver.err + sender.err);
    const received = Buffer.concat(receiver.outBytes);
    assert.equal(received.length, data.length);
    assert.ok(received.equals(data));
    // stdout carries the data, so the receiver's JSON lines went to stderr.
    const offer = receiver.event('offer', 'err');
    assert.equal(offer?.kind, 'stream');
    assert.equal(offer?.size, null);
    assert.equal(receiver.event('done', 'err')?.sha256, createHash('sha256').update(data).digest('hex'));
  });

  test('an empty file', T, async () => {
    const src = join(work, 'nothing.txt');
    await writeFile(src, '');
    const out = await outDir();
    const code = newCode();
    const sender = send(src, code);
    const receiver = receive(code, out);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [0, 0], receiver.err + sender.err);
    assert.equal((await stat(join(out, 'nothing.txt'))).size, 0);
    assert.equal(receiver.event('done')?.sha256, createHash('sha256').digest('hex'));
  });

  test('the human output: code, receive command, web link and a QR code', T, async () => {
    const sender = cli(['send', join(work, 'nothing.txt'), '--server', ferry.url]);
    await sender.waitUntil(() => /█/.test(sender.err), 'a QR code');
    const code = /Code: (\d+-[a-z]+-[a-z]+)/.exec(sender.err)?.[1] as string;
    assert.ok(code, sender.err);
    assert.match(sender.err, new RegExp(`ferry receive ${code} --server ${ferry.url}`));
    assert.ok(sender.err.includes(`${ferry.url}/#${code}`));
    const receiver = cli(['receive', code, '--server', ferry.url, '--out', await outDir(), '--yes']);
    receiver.child.stdin?.end();
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [0, 0], receiver.err + sender.err);
    // Which path a loaded machine ends up on is not this test's subject; the line that reports it is.
    assert.match(
      receiver.err,
      /Received 0 B over (a direct connection|the relay) in [\d.]+ s; SHA-256 e3b0c442\w+ verified\./,
    );
    assert.match(sender.err, /the receiver verified SHA-256 e3b0c442/);
  });

  test('a wrong code fails on both sides with "wrong code" and exit 7, whichever side comes first', T, async () => {
    for (const senderFirst of [true, false]) {
      const number = nextNumber++;
      const out = await outDir();
      const start = [() => send(big, `${number}-orbit-zoo`), () => receive(`${number}-orbit-zebra`, out)];
      const [first, second] = senderFirst ? start : start.reverse();
      const a = (first as () => Proc)();
      await new Promise((r) => setTimeout(r, 300));
      const b = (second as () => Proc)();
      assert.deepEqual(await Promise.all([a.exited, b.exited]), [7, 7]);
      for (const p of [a, b]) {
        const error = p.event('error');
        assert.equal(error?.code, 'wrong_code');
        assert.match(String(error?.message), /^wrong code: the other side did not use the same code/);
      }
      await assertEmpty(out);
    }
  });

  test(
    'declined: no terminal to ask and no --yes; an existing file is not overwritten without --force',
    T,
    async () => {
      const out = await outDir();
      let code = newCode();
      const sender = send(big, code);
      const receiver = cli(['receive', code, '--out', out, '--server', ferry.url, '--bind-address', '127.0.0.1']);
      receiver.child.stdin?.end();
      assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [8, 8]);
      assert.match(receiver.err, /ferry: error \[not_asked\]: not accepted: .*stdin is not a TTY.*--yes/);
      assert.equal(sender.event('error')?.code, 'declined');
      await assertEmpty(out);

      await writeFile(join(out, 'nothing.txt'), 'keep me');
      code = newCode();
      const again = send(join(work, 'nothing.txt'), code);
      const refused = receive(code, out);
      assert.deepEqual(await Promise.all([again.exited, refused.exited]), [8, 8]);
      assert.equal(refused.event('error')?.code, 'file_exists');
      assert.equal(await readFile(join(out, 'nothing.txt'), 'utf8'), 'keep me');
      assert.deepEqual(await readdir(out), ['nothing.txt']);

      code = newCode();
      const forced = send(join(work, 'nothing.txt'), code);
      const overwriting = receive(code, out, ['--force']);
      assert.deepEqual(await Promise.all([forced.exited, overwriting.exited]), [0, 0]);
      assert.equal(await readFile(join(out, 'nothing.txt'), 'utf8'), '');
    },
  );

  test('cancelled from either side (Ctrl-C): exit 130 there, 9 on the other side, no partial file', T, async () => {
    for (const side of ['sender', 'receiver'] as const) {
      const out = await outDir();
      const code = newCode();
      const sender = send(big, code, ['--transport', 'relay']);
      const receiver = receive(code, out);
      await receiver.waitUntil(
        () => receiver.events().some((e) => e.event === 'progress' && (e.bytes as number) > 0),
        'progress',
      );
      (side === 'sender' ? sender : receiver).child.kill('SIGINT');
      const [s, r] = await Promise.all([sender.exited, receiver.exited]);
      assert.deepEqual([s, r], side === 'sender' ? [130, 9] : [9, 130], receiver.err + sender.err);
      const other = side === 'sender' ? receiver : sender;
      assert.equal(other.event('error')?.code, 'cancelled');
      assert.match(String(other.event('error')?.message), /the other side cancelled: .*USER_CANCELLED/);
      await assertEmpty(out);
    }
  });

  test(
    'a hub that swaps the DTLS fingerprint in the SDP is caught before any data: exit 10 on both sides',
    T,
    async () => {
      const evil = await mitm({
        toHub: (message) => {
          const data = sessionData(message);
          if (data?.t === 'sdp' && typeof data.sdp === 'string') {
            // Another certificate's fingerprint, as a man in the middle would put its own.
            data.sdp = data.sdp.replace(
              /(a=fingerprint:sha-256 )([0-9A-F]{2})/,
              (_, head, byte: string) => `${head}${byte === 'AA' ? 'BB' : 'AA'}`,
            );
          }
          return message;
        },
      });
      const out = await outDir();
      const code = newCode();
      const sender = send(big, code, [], evil.url);
      const receiver = receive(code, out, [], evil.url);
      assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [10, 10]);
      for (const p of [sender, receiver]) assert.equal(p.event('error')?.code, 'fingerprint_mismatch');
      assert.match(String(receiver.event('error')?.message), /sender's connection details were altered/);
      assert.equal(receiver.event('offer'), undefined);
      await assertEmpty(out);
    },
  );

  test('a tampered relay chunk is detected (exit 10 on both sides) and leaves no partial file', T, async () => {
    const evil = await mitm({
      upload: (chunk, offset) => {
        const at = 3 * MiB - offset;
        if (at < 0 || at >= chunk.length) return chunk;
        const copy = Buffer.from(chunk);
        copy[at] = (copy[at] as number) ^ 0x01;
        return copy;
      },
    });
    const out = await outDir();
    const code = newCode();
    const sender = send(big, code, ['--transport', 'relay'], evil.url);
    const receiver = receive(code, out, [], evil.url);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [10, 10], receiver.err);
    assert.equal(receiver.event('error')?.code, 'tampered');
    assert.match(String(receiver.event('error')?.message), /altered/);
    assert.equal(sender.event('error')?.code, 'integrity');
    await assertEmpty(out);
  });

  test('a relay stream cut short (cleanly ended) is detected as truncated and leaves no partial file', T, async () => {
    const evil = await mitm({ upload: (chunk, offset) => (offset >= 2 * MiB ? null : chunk) });
    const out = await outDir();
    const code = newCode();
    const sender = send(big, code, ['--transport', 'relay'], evil.url);
    const receiver = receive(code, out, [], evil.url);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [10, 10], receiver.out + sender.out);
    assert.equal(receiver.event('error')?.code, 'truncated');
    assert.match(String(receiver.event('error')?.message), /cut short/);
    await assertEmpty(out);
  });

  test(
    'fallback: with every ICE candidate lost, auto uses the relay after --p2p-timeout, which moves only ciphertext',
    T,
    async () => {
      const dropIce = await mitm({
        toHub: (message) => {
          const data = sessionData(message);
          if (data?.t === 'candidate') return undefined;
          if (data?.t === 'sdp' && typeof data.sdp === 'string')
            data.sdp = data.sdp.replace(/^a=candidate:.*\r?\n/gm, '');
          return message;
        },
      });
      const marker = 'FERRY-PLAINTEXT-MARKER-0123456789';
      const src = join(work, 'marked.txt');
      await writeFile(src, marker.repeat(200_000));
      const out = await outDir();
      const code = newCode();
      const started = Date.now();
      const sender = send(src, code, ['--p2p-timeout', '1', '--verbose'], dropIce.url);
      const receiver = receive(code, out, [], dropIce.url);
      assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [0, 0], receiver.err + sender.err);
      assert.ok(Date.now() - started < 30_000);
      assert.equal(sender.event('transport')?.transport, 'relay');
      assert.equal(sender.event('done')?.transport, 'relay');
      assert.equal(receiver.event('done')?.transport, 'relay');
      assert.match(sender.err, /no direct connection \(no data channel opened within 1 s\); using the relay/);
      assert.equal(await readFile(join(out, 'marked.txt'), 'utf8'), marker.repeat(200_000));
      const moved = dropIce.uploaded();
      assert.ok(moved.length > marker.length * 200_000, `the tap saw only ${moved.length} bytes`);
      assert.equal(moved.indexOf(marker), -1, 'plaintext on the relay');
    },
  );

  test('--transport p2p with no way to connect fails on both sides with exit 6', T, async () => {
    const dropIce = await mitm({
      toHub: (message) => (sessionData(message)?.t === 'candidate' ? undefined : message),
    });
    const code = newCode();
    const sender = send(big, code, ['--transport', 'p2p', '--p2p-timeout', '1'], dropIce.url);
    const receiver = receive(code, await outDir(), [], dropIce.url);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [6, 6]);
    assert.equal(receiver.event('error')?.code, 'connection_failed');
    // And the two sides cannot agree on contradictory transports.
    const code2 = newCode();
    const s2 = send(big, code2, ['--transport', 'p2p']);
    const r2 = receive(code2, await outDir(), ['--transport', 'relay']);
    assert.deepEqual(await Promise.all([s2.exited, r2.exited]), [6, 6]);
    assert.match(String(r2.event('error')?.message), /sender allows only p2p and the receiver only relay/);
  });

  test('a symbolic link in the target folder is never written through, even with --force', T, async () => {
    const src = join(await mkdtemp(join(work, 'src-')), 'tree');
    await mkdir(src);
    await writeFile(join(src, 'planted.txt'), 'x');
    const elsewhere = await mkdtemp(join(work, 'elsewhere-'));
    const out = await outDir();
    await symlink(elsewhere, join(out, 'tree'));
    const code = newCode();
    const sender = send(src, code);
    const receiver = receive(code, out, ['--force']);
    assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [8, 8]);
    assert.equal(receiver.event('error')?.code, 'unsafe_path');
    assert.deepEqual(await readdir(elsewhere), []);
    assert.deepEqual(await readdir(out), ['tree']);
  });

  test(
    'an offer with entries escaping the target folder (.., absolute) is refused before anything is written',
    T,
    async () => {
      // A hostile sender built from the protocol pieces: it knows the code, but writes its frames by hand, since
      // encodeFrame() refuses such paths.
      const raw = (type: number, body: unknown) => {
        const payload = Buffer.from(JSON.stringify(body));
        const head = Buffer.alloc(5);
        head[0] = type;
        head.writeUInt32BE(payload.length, 1);
        return Buffer.concat([head, payload]);
      };
      for (const path of ['x/../../evil.txt', '/tmp/ferry-evil.txt']) {
        const out = await outDir();
        const code = newCode();
        const receiver = receive(code, out);
        const { keys, signaling } = await handshakeAsSender(code);
        const frames = Buffer.concat([
          raw(1, { version: 1, kind: 'directory', name: 'x', entryCount: 2, totalSize: 5 }),
          raw(2, {
            entries: [
              { path: 'x', kind: 'directory', size: null },
              { path, kind: 'file', size: 5 },
            ],
          }),
        ]);
        const body = await encryptBytes(keys.relay.senderToReceiver.key, frames);
        const put = fetch(`${ferry.url}${keys.relay.senderToReceiver.path}`, { method: 'PUT', body });
        const answer = await fetch(`${ferry.url}${keys.relay.receiverToSender.path}`);
        const reply = new FrameDecoder().push(
          await decryptBytes(keys.relay.receiverToSender.key, new Uint8Array(await answer.arrayBuffer())),
        );
        await put;
        assert.deepEqual(
          reply.map((f) => (f.type === 'cancel' ? f.code : f.type)),
          ['REFUSED'],
        );
        assert.equal(await receiver.exited, 8);
        assert.equal(receiver.event('error')?.code, 'unsafe_path');
        assert.match(String(receiver.event('error')?.message), /unsafe path/);
        await assertEmpty(out);
        await assert.rejects(stat(join(work, 'evil.txt')));
        await assert.rejects(stat('/tmp/ferry-evil.txt'));
        await signaling.close();
      }
    },
  );

  test('a relay stream that ends cleanly inside a frame is reported as truncated, not as a crash', T, async () => {
    const out = await outDir();
    const code = newCode();
    const receiver = receive(code, out);
    const { keys, signaling } = await handshakeAsSender(code);
    // A well-sealed stream (its last record is there) whose plaintext stops three bytes into the first frame.
    const body = await encryptBytes(keys.relay.senderToReceiver.key, Uint8Array.of(1, 0, 0));
    const answer = fetch(`${ferry.url}${keys.relay.receiverToSender.path}`);
    await fetch(`${ferry.url}${keys.relay.senderToReceiver.path}`, { method: 'PUT', body });
    assert.equal(await receiver.exited, 10, receiver.err);
    assert.equal(receiver.event('error')?.code, 'truncated');
    await (await answer).arrayBuffer();
    await assertEmpty(out);
    await signaling.close();
  });

  test(
    'merging into a folder with --force never writes through a link inside it: refused before any byte',
    T,
    async () => {
      const src = join(await mkdtemp(join(work, 'src-')), 'tree');
      await mkdir(join(src, 'sub'), { recursive: true });
      await writeFile(join(src, 'a.txt'), 'a');
      await writeFile(join(src, 'sub', 'planted.txt'), 'x');
      const elsewhere = await mkdtemp(join(work, 'elsewhere-'));
      const out = await outDir();
      await mkdir(join(out, 'tree'));
      await writeFile(join(out, 'tree', 'a.txt'), 'old');
      await symlink(elsewhere, join(out, 'tree', 'sub'));
      const code = newCode();
      const sender = send(src, code);
      const receiver = receive(code, out, ['--force']);
      assert.deepEqual(await Promise.all([sender.exited, receiver.exited]), [8, 8]);
      assert.equal(receiver.event('error')?.code, 'unsafe_path');
      assert.match(String(receiver.event('error')?.message), /'tree\/sub' .* is a symbolic link/);
      assert.deepEqual(await readdir(elsewhere), []);
      // Nothing was merged either: the existing file is untouched, no staging folder is left.
      assert.equal(await readFile(join(out, 'tree', 'a.txt'), 'utf8'), 'old');
      assert.deepEqual((await readdir(out)).sort(), ['tree']);
    },
  );

  test("a sender's set-id and sticky bits are not applied; permission bits are, on files and folders", T, async () => {
    const out = await outDir();
    const code = newCode();
    const receiver = receive(code, out);
    const { keys, signaling } = await handshakeAsSender(code);
    const channel = await RelayFrames.open({ server: ferry.url, keys, role: 'sender' });
    const data = randomBytes(1000);
    const entries: Entry[] = [
      { path: 'x', kind: 'directory', size: null, mode: 0o7750 },
      { path: 'x/tool', kind: 'file', size: data.length, mode: 0o6755 },
      { path: 'x/plain', kind: 'file', size: 0, mode: 0o1640 },
    ];
    const offer: Offer = { version: 1, kind: 'directory', name: 'x', entryCount: 3, totalSize: data.length, entries };
    await sendTransfer(channel, offer, {
      read: async function* (index) {
        if (index === 1) yield data;
      },
    });
    assert.equal(await receiver.exited, 0, receiver.err);
    assert.equal((await stat(join(out, 'x'))).mode & 0o7777, 0o750);
    assert.equal((await stat(join(out, 'x', 'tool'))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(out, 'x', 'plain'))).mode & 0o7777, 0o640);
    assert.ok((await readFile(join(out, 'x', 'tool'))).equals(data));
    await signaling.close();
  });

  test('bad input: an unknown code word, a missing file, an unreachable server', T, async () => {
    const badCode = cli(['receive', '7-orbit-notaword', '--server', ferry.url]);
    const missing = cli(['send', join(work, 'no-such-file'), '--server', ferry.url]);
    const dead = cli(['send', big, '--server', 'http://127.0.0.1:1']);
    assert.deepEqual(await Promise.all([badCode.exited, missing.exited, dead.exited]), [2, 2, 3]);
    assert.match(badCode.err, /\[bad_code\]: "notaword" is not a code word/);
    assert.match(missing.err, /\[bad_path\]: cannot send/);
    assert.match(dead.err, /\[server_unreachable\]/);
  });
});
