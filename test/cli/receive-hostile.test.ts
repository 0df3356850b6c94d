// `ferry receive` against a sender that knows the code but means harm, built here from the protocol pieces: modes
// that would make files world-writable, names that rewrite the terminal, a stream aimed at a terminal, a sender that
// goes silent. The receiver is the real process a user runs, against a real server on loopback.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nodeScrypt } from '../../src/cli/transfer-common.ts';
import { RelayFrames } from '../../src/peer/relay-frames.ts';
import { SignalingClient } from '../../src/peer/signaling-client.ts';
import { parseCode } from '../../src/protocol/code.ts';
import { Rendezvous } from '../../src/protocol/rendezvous.ts';
import { runHandshake, startSpake2 } from '../../src/protocol/session.ts';
import { type Entry, type Frame, MAX_OFFER_PATH_BYTES, type Offer, offerFrames } from '../../src/protocol/transfer.ts';
import { sendTransfer } from '../../src/protocol/transfer-session.ts';
import { CLI, runCli, startFerry, type TestServer } from '../helpers/ferry.ts';
import { Proc } from '../helpers/proc.ts';

const T = { timeout: 60_000 };

describe('ferry receive against a hostile sender', () => {
  let ferry: TestServer;
  let work: string;
  const procs: Proc[] = [];
  const signalings: SignalingClient[] = [];
  let nextNumber = 300;
  const newCode = () => `${nextNumber++}-orbit-zoo`;
  const outDir = () => mkdtemp(join(work, 'out-'));

  const track = (proc: Proc) => {
    procs.push(proc);
    return proc;
  };
  const receiveArgs = (code: string, out: string, extra: string[], yes = true) => [
    'receive',
    code,
    '--out',
    out,
    '--server',
    ferry.url,
    '--transport',
    'relay',
    ...(yes ? ['--yes'] : []),
    ...extra,
  ];
  /** `ferry receive` with this umask (a shell sets it, as a user's login does). */
  const receive = (code: string, out: string, extra: string[] = [], umask = '022') =>
    track(
      new Proc(
        spawn(
          'sh',
          [
            '-c',
            `umask ${umask} && exec "$@"`,
            'sh',
            process.execPath,
            '--import',
            'tsx',
            CLI,
            ...receiveArgs(code, out, extra),
          ],
          {
            stdio: ['pipe', 'pipe', 'pipe'],
          },
        ),
      ),
    );
  /** `ferry receive` with a terminal as its stdin, stdout and stderr (util-linux's script); all of it comes out here. */
  const receiveOnTerminal = (code: string, out: string, extra: string[] = [], yes = true) => {
    const command = [process.execPath, '--import', 'tsx', CLI, ...receiveArgs(code, out, extra, yes)]
      .map((arg) => `'${arg}'`)
      .join(' ');
    return track(new Proc(spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })));
  };
  /** The sender's side of the code: met on the hub, SPAKE2 done, the relay agreed; its frame channel. */
  const senderChannel = async (code: string) => {
    // The code's scrypt done before meeting, as `ferry send` has it by then: the code check itself takes milliseconds.
    const spake2 = await startSpake2('sender', code, nodeScrypt);
    const signaling = await SignalingClient.connect(ferry.url);
    signalings.push(signaling);
    const rendezvous = await Rendezvous.allocate(signaling, parseCode(code).number);
    await rendezvous.waitForPeer();
    const { keys } = await runHandshake('sender', spake2, 'relay', rendezvous);
    return RelayFrames.open({ server: ferry.url, keys, role: 'sender' });
  };
  const fileOffer = (entries: Entry[]): Offer => ({
    version: 1,
    kind: entries.length === 1 ? 'file' : 'directory',
    name: entries[0]?.path as string,
    entryCount: entries.length,
    totalSize: entries.reduce((sum, e) => sum + (e.size ?? 0), 0),
    entries,
  });

  before(async () => {
    // Every sender here stays on the hub until the end, all from one address: more than --max-codes-per-client's 8.
    ferry = await startFerry({ maxCodesPerClient: 100 });
    work = await mkdtemp(join(tmpdir(), 'ferry-hostile-'));
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(signalings.map((s) => s.close()));
    await ferry.close();
    await rm(work, { recursive: true, force: true });
  });

  test("the sender's modes are masked by the receiver's umask and never world-writable", T, async () => {
    for (const [umask, file, folder] of [
      ['027', 0o750, 0o750],
      ['000', 0o775, 0o775],
    ] as const) {
      const out = await outDir();
      const code = newCode();
      const receiver = receive(code, out, ['--json'], umask);
      const channel = await senderChannel(code);
      const data = Buffer.from('#!/bin/sh\necho planted\n');
      const offer = fileOffer([
        { path: 'x', kind: 'directory', size: null, mode: 0o777 },
        { path: 'x/run.sh', kind: 'file', size: data.length, mode: 0o7777 },
      ]);
      await sendTransfer(channel, offer, {
        read: async function* () {
          yield data;
        },
      });
      assert.equal(await receiver.exited, 0, receiver.err);
      assert.equal((await stat(join(out, 'x'))).mode & 0o7777, folder, `folder, umask ${umask}`);
      assert.equal((await stat(join(out, 'x', 'run.sh'))).mode & 0o7777, file, `file, umask ${umask}`);
      assert.ok((await readFile(join(out, 'x', 'run.sh'))).equals(data));
    }
  });

  test(
    'names with bidi overrides, zero-width and separator characters are shown escaped, saved as sent',
    T,
    async () => {
      const name = 'invoice\u202Efdp.exe\u200B\u2028x';
      const shown = 'invoice\\u{202E}fdp.exe\\u{200B}\\u{2028}x';
      const raw = /[\u202E\u200B\u2028]/;
      // Human output: the offer line and the outcome name the file escaped.
      const out = await outDir();
      const code = newCode();
      const receiver = receive(code, out);
      const channel = await senderChannel(code);
      await sendTransfer(channel, fileOffer([{ path: name, kind: 'file', size: 5 }]), {
        read: async function* () {
          yield Buffer.from('hello');
        },
      });
      assert.equal(await receiver.exited, 0, receiver.err);
      assert.ok(receiver.err.includes(`Offered: '${shown}' (5 B)`), receiver.err);
      assert.doesNotMatch(receiver.err, raw);
      assert.deepEqual(await readdir(out), [name]);

      // The question on a terminal names it escaped too; the answer is no.
      const askOut = await outDir();
      const askCode = newCode();
      const asked = receiveOnTerminal(askCode, askOut, [], false);
      const askChannel = await senderChannel(askCode);
      const answered = sendTransfer(askChannel, fileOffer([{ path: name, kind: 'file', size: 5 }]), {
        read: async function* () {
          yield Buffer.from('hello');
        },
      });
      await asked.waitFor('out', /\[y\/N\] /);
      asked.write('n');
      await assert.rejects(answered, /the receiver declined: the receiver said no/);
      assert.equal(await asked.exited, 8, asked.out);
      assert.ok(asked.out.includes(`Accept '${shown}' (5 B)? [y/N]`), asked.out);
      assert.doesNotMatch(asked.out, raw);
      assert.deepEqual(await readdir(askOut), []);

      // JSON lines: the same name, as JSON escapes a terminal does not act on.
      const jsonOut = await outDir();
      const jsonCode = newCode();
      const jsonReceiver = receive(jsonCode, jsonOut, ['--json']);
      const jsonChannel = await senderChannel(jsonCode);
      await sendTransfer(jsonChannel, fileOffer([{ path: name, kind: 'file', size: 5 }]), {
        read: async function* () {
          yield Buffer.from('hello');
        },
      });
      assert.equal(await jsonReceiver.exited, 0, jsonReceiver.err);
      assert.doesNotMatch(jsonReceiver.out, raw);
      assert.ok(jsonReceiver.out.includes('"name":"invoice\\u202efdp.exe\\u200b\\u2028x"'), jsonReceiver.out);
      assert.equal(jsonReceiver.event('offer')?.name, name);

      // A cancel reason from the sender is shown escaped too.
      const cancelOut = await outDir();
      const cancelCode = newCode();
      const cancelled = receive(cancelCode, cancelOut);
      const cancelChannel = await senderChannel(cancelCode);
      for (const frame of offerFrames(fileOffer([{ path: 'a.txt', kind: 'file', size: 5 }]))) {
        await cancelChannel.send(frame);
      }
      assert.equal((await cancelChannel.receive())?.type, 'accept');
      await cancelChannel.send({ type: 'cancel', code: 'USER_CANCELLED', reason: `gone \u202Eexe.txt` });
      await cancelChannel.end();
      assert.equal(await cancelled.exited, 9, cancelled.err);
      assert.match(
        cancelled.err,
        /\[cancelled\]: the other side cancelled: gone \\u\{202E\}exe\.txt \(USER_CANCELLED\)/,
      );
      assert.doesNotMatch(cancelled.err, raw);
      cancelChannel.close();
    },
  );

  test(
    '--force into a deep folder that exists: each name on disk is checked once, not once per entry below it',
    T,
    async () => {
      // 1,900 folders deep (as deep as the staging folder leaves room for under PATH_MAX), existing on disk already.
      const chain = Array.from({ length: 1900 }, () => 'a');
      const out = await outDir();
      await mkdir(join(out, ...chain), { recursive: true });
      const entries: Entry[] = chain.map((_, i) => ({
        path: chain.slice(0, i + 1).join('/'),
        kind: 'directory',
        size: null,
      }));
      entries.push({ path: `${chain.join('/')}/deep.txt`, kind: 'file', size: 5 });
      const code = newCode();
      const receiver = receive(code, out, ['--json', '--force']);
      const channel = await senderChannel(code);
      const started = performance.now();
      await sendTransfer(channel, fileOffer(entries), {
        read: async function* () {
          yield Buffer.from('deep!');
        },
      });
      assert.equal(await receiver.exited, 0, receiver.err);
      const seconds = (performance.now() - started) / 1000;
      // Checking every parent of every entry anew (slices of the path per level) took minutes here.
      assert.ok(seconds < 20, `${seconds.toFixed(1)} s`);
      assert.equal(await readFile(join(out, ...chain, 'deep.txt'), 'utf8'), 'deep!');
    },
  );

  test(
    'more than 128 MiB of paths in an offer is refused before all of it is taken in: exit 8, offer_too_large',
    T,
    async () => {
      const out = await outDir();
      const code = newCode();
      const receiver = receive(code, out, ['--json']);
      const channel = await senderChannel(code);
      // 33,474 files of 4,010-byte paths: 134 MB of names (up to 4 GB would fit in a million entries otherwise).
      const folders = `/${'x'.repeat(249)}`.repeat(16);
      const entries: Entry[] = Array.from({ length: Math.ceil(MAX_OFFER_PATH_BYTES / 4010) + 1 }, (_, i) => ({
        path: `f${String(i).padStart(9, '0')}${folders}`,
        kind: 'file',
        size: 0,
      }));
      const offer: Offer = {
        version: 1,
        kind: 'files',
        name: 'many',
        entryCount: entries.length,
        totalSize: 0,
        entries,
      };
      await assert.rejects(sendTransfer(channel, offer, { read: async function* () {} }), (error: Error) =>
        /the other side cancelled: .*more than the 134217728 bytes.*\(REFUSED\)/.test(error.message),
      );
      assert.equal(await receiver.exited, 8, receiver.err);
      assert.equal(receiver.event('error')?.code, 'offer_too_large');
      assert.deepEqual(await readdir(out), []);
    },
  );

  test(
    'a sender that goes silent mid-file: timeout after --timeout seconds, exit 6, the sender told, nothing left',
    T,
    async () => {
      const out = await outDir();
      const code = newCode();
      const receiver = receive(code, out, ['--json', '--timeout', '3']);
      const channel = await senderChannel(code);
      for (const frame of offerFrames(fileOffer([{ path: 'a.bin', kind: 'file', size: 100 }])))
        await channel.send(frame);
      assert.equal((await channel.receive())?.type, 'accept');
      await channel.send({ type: 'data', index: 0, data: new Uint8Array(10) });
      const started = performance.now();
      // Then nothing: the connection stays open, no frame comes.
      const exit = await receiver.exited;
      const seconds = (performance.now() - started) / 1000;
      assert.equal(exit, 6, receiver.err);
      assert.equal(receiver.event('error')?.code, 'timeout');
      assert.match(String(receiver.event('error')?.message), /the sender sent nothing for 3 s/);
      assert.ok(seconds >= 2.9 && seconds < 8, `${seconds} s`);
      // The sender is told why.
      const cancel = (await channel.receive()) as Frame;
      assert.equal(cancel.type === 'cancel' && cancel.code, 'TIMEOUT');
      await assert.rejects(stat(join(out, 'a.bin')));
      assert.deepEqual(await readdir(out), []);
      channel.close();
    },
  );

  test('a sender that never sends its offer times out too; a bad --timeout is a usage error', T, async () => {
    // Silent from the start: it holds the code's nameplate and says nothing, not even its half of the code check.
    const mute = newCode();
    const muted = receive(mute, await outDir(), ['--json', '--timeout', '1']);
    const signaling = await SignalingClient.connect(ferry.url);
    signalings.push(signaling);
    const rendezvous = await Rendezvous.allocate(signaling, parseCode(mute).number);
    await rendezvous.waitForPeer();
    assert.equal(await muted.exited, 6, muted.err);
    assert.equal(muted.event('error')?.code, 'timeout');
    assert.match(String(muted.event('error')?.message), /stopped answering for 1 s during the code check/);
    // Silent after the code check, on the relay.
    const out = await outDir();
    const code = newCode();
    const receiver = receive(code, out, ['--json', '--timeout', '3']);
    const channel = await senderChannel(code);
    assert.equal(await receiver.exited, 6, receiver.err);
    assert.equal(receiver.event('error')?.code, 'timeout');
    channel.close();
    const bad = track(new Proc(runCli(['receive', '7-orbit-zoo', '--timeout', 'soon', '--server', ferry.url])));
    assert.equal(await bad.exited, 2);
    assert.match(bad.err, /\[bad_flag\]: --timeout: 'soon'/);
  });

  test('a stream may pause for longer than --timeout: its source decides when bytes come', T, async () => {
    const code = newCode();
    const receiver = receive(code, '-', ['--json', '--timeout', '2']);
    const channel = await senderChannel(code);
    const offer: Offer = {
      version: 1,
      kind: 'stream',
      name: 'stdin',
      entryCount: 1,
      totalSize: null,
      entries: [{ path: 'stdin', kind: 'file', size: null }],
    };
    await sendTransfer(channel, offer, {
      read: async function* () {
        yield Buffer.from('before-');
        await new Promise((resolve) => setTimeout(resolve, 4000));
        yield Buffer.from('after');
      },
    });
    assert.equal(await receiver.exited, 0, receiver.err);
    assert.equal(Buffer.concat(receiver.outBytes).toString(), 'before-after');
  });

  test('a stream offer is not written to a terminal: declined (exit 8), the sender told why', T, async () => {
    const payload = '\x1b]0;pwned\x07\x1b[2Jsecret-bytes';
    const out = await outDir();
    const code = newCode();
    const receiver = receiveOnTerminal(code, out);
    const sender = track(new Proc(runCli(['send', '-', '--code', code, '--server', ferry.url, '--json'])));
    sender.child.stdin?.end(payload);
    assert.deepEqual(await Promise.all([receiver.exited, sender.exited]), [8, 8], receiver.out + sender.err);
    assert.match(
      receiver.out,
      /\[stdout_is_terminal\]: not accepted: the sender offers a stream and stdout is a terminal/,
    );
    assert.ok(!receiver.out.includes('secret-bytes'), receiver.out);
    assert.match(String(sender.event('error')?.message), /stdout is a terminal/);
    assert.deepEqual(await readdir(out), []);

    // Asked for by name (--out -), it is written there.
    const wanted = newCode();
    const asked = receiveOnTerminal(wanted, '-');
    const wantedSender = track(new Proc(runCli(['send', '-', '--code', wanted, '--server', ferry.url, '--json'])));
    wantedSender.child.stdin?.end('plain-bytes');
    assert.deepEqual(await Promise.all([asked.exited, wantedSender.exited]), [0, 0], asked.out + wantedSender.err);
    assert.ok(asked.out.includes('plain-bytes'), asked.out);
  });
});
