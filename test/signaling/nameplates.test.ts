// Code nameplates on the hub (docs/signaling.md, "Nameplates"), against the attack of issue #15: one address that
// opens many connections to hold, scan or spoil codes. Attackers speak from other loopback addresses (ws
// `localAddress`, one address per test, as the limits count per address); the honest `ferry send` / `ferry receive` pair runs as the real CLI from 127.0.0.1 and must finish with the right SHA-256.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, startFerry, type TestServer } from '../helpers/ferry.ts';
import { Proc } from '../helpers/proc.ts';
import { type Json, TestSocket } from '../helpers/ws.ts';

const T = { timeout: 120_000 };
const ATTACKER = '127.0.0.3';

describe('code nameplates', () => {
  let ferry: TestServer;
  let work: string;
  let file: string;
  let fileSha: string;
  const sockets: TestSocket[] = [];
  const procs: Proc[] = [];

  const peer = async (address = '127.0.0.1') => {
    const socket = await TestSocket.peer(ferry.url, {}, { localAddress: address });
    sockets.push(socket);
    return socket;
  };
  const ask = async (socket: TestSocket, message: Json): Promise<Json> => {
    socket.send(message);
    return socket.next();
  };
  const cli = (args: string[]) => {
    const proc = new Proc(runCli([...args, '--server', ferry.url, '--bind-address', '127.0.0.1', '--json']));
    procs.push(proc);
    return proc;
  };
  /** A `ferry send` of the test file; resolves once it shows its code. */
  const sender = async () => {
    const proc = cli(['send', file]);
    await proc.waitUntil(() => proc.event('code') !== undefined, 'a code');
    const code = proc.event('code')?.code as string;
    return { proc, code, nameplate: Number(code.split('-')[0]) };
  };
  const receiver = async (code: string) => {
    const out = await mkdtemp(join(work, 'out-'));
    return { proc: cli(['receive', code, '--out', out, '--yes']), out };
  };
  /** The honest pair completes: both exit 0 and the received bytes have the sent SHA-256. */
  const honestTransfer = async (sending?: Awaited<ReturnType<typeof sender>>) => {
    const send = sending ?? (await sender());
    const receive = await receiver(send.code);
    const codes = await Promise.all([send.proc.exited, receive.proc.exited]);
    assert.deepEqual(codes, [0, 0], receive.proc.err + send.proc.err);
    const received = await readFile(join(receive.out, 'data.bin'));
    assert.equal(createHash('sha256').update(received).digest('hex'), fileSha);
    assert.equal(send.proc.event('done')?.sha256, fileSha);
  };

  before(async () => {
    ferry = await startFerry();
    work = await mkdtemp(join(tmpdir(), 'ferry-nameplates-'));
    file = join(work, 'data.bin');
    const data = randomBytes(300_000);
    await writeFile(file, data);
    fileSha = createHash('sha256').update(data).digest('hex');
  });
  after(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    await Promise.all(procs.map((p) => p.stop()));
    await ferry.close();
    await rm(work, { recursive: true, force: true });
  });

  test('allocate, claim, talk: the claimer’s first word uses the nameplate up; release frees it', T, async () => {
    const owner = await peer();
    const claimer = await peer('127.0.0.4');
    const allocated = await ask(owner, { type: 'allocate', rid: 1 });
    assert.equal(allocated.type, 'allocated');
    const nameplate = allocated.nameplate as number;
    assert.ok(nameplate >= 1 && nameplate <= 999, `${nameplate}`);
    assert.deepEqual(await ask(claimer, { type: 'claim', rid: 2, nameplate }), {
      type: 'claimed',
      rid: 2,
      nameplate,
      peer: owner.id,
    });
    assert.deepEqual(await owner.next(), { type: 'nameplate-claimed', nameplate, peer: claimer.id });
    const third = await peer('127.0.0.5');
    assert.equal((await ask(third, { type: 'claim', rid: 3, nameplate })).code, 'nameplate_busy');
    // Owner and claimer share no room, yet may address each other.
    owner.send({ type: 'message', to: claimer.id, data: { t: 'hi' } });
    assert.deepEqual(await claimer.next(), { type: 'message', to: claimer.id, data: { t: 'hi' }, from: owner.id });
    claimer.send({ type: 'message', to: owner.id, data: { t: 'pake' } });
    assert.equal((await owner.next()).from, claimer.id);
    assert.equal((await ask(third, { type: 'claim', rid: 4, nameplate })).code, 'unknown_nameplate');
    // The third party, though it knows both ids now, cannot reach either.
    assert.equal((await ask(third, { type: 'message', rid: 5, to: owner.id, data: 1 })).code, 'not_allowed');
    assert.equal((await ask(owner, { type: 'release', rid: 6, nameplate })).type, 'released');
    assert.deepEqual(await claimer.next(), { type: 'nameplate-peer-left', nameplate, peer: owner.id, reason: 'left' });
    assert.equal((await ask(owner, { type: 'release', rid: 7, nameplate })).code, 'unknown_nameplate');
    assert.equal((await ask(third, { type: 'allocate', rid: 8, nameplate })).type, 'allocated');
    assert.equal((await ask(owner, { type: 'allocate', rid: 9, nameplate })).code, 'nameplate_taken');
  });

  test(
    'one address with 32 connections holds 8 nameplates and claims 8; an honest send/receive still works',
    T,
    async () => {
      /** 32 connections of one address, each asking for its share of 1 … 999: what was the attack. */
      const sweep = async (address: string, type: 'allocate' | 'claim') => {
        const connections = await Promise.all(Array.from({ length: 32 }, () => peer(address)));
        const answers = new Map<string, number[]>();
        await Promise.all(
          connections.map(async (connection, index) => {
            for (let n = 1 + index * 32; n <= Math.min(999, 32 + index * 32); n++) {
              const reply = await ask(connection, { type, rid: n, nameplate: n });
              const key = reply.type === 'error' ? (reply.code as string) : (reply.type as string);
              answers.set(key, [...(answers.get(key) ?? []), n]);
            }
          }),
        );
        return answers;
      };
      const honest = await sender();
      const grabbed = await sweep(ATTACKER, 'allocate');
      assert.equal(grabbed.get('allocated')?.length, 8);
      // Taken: the honest sender's number, and any an earlier test left held.
      const taken = grabbed.get('nameplate_taken') ?? [];
      assert.ok(taken.includes(honest.nameplate));
      assert.equal(grabbed.get('too_many_nameplates')?.length, 999 - 8 - taken.length);
      const scanned = await sweep('127.0.0.10', 'claim');
      assert.equal(scanned.get('claimed')?.length, 8);
      // The scanner's eight are the attacker's own numbers or the honest one: whichever, it stops there.
      const [claimedHonest] = (scanned.get('claimed') ?? []).filter((n) => n === honest.nameplate);
      if (claimedHonest === undefined) {
        assert.ok(scanned.get('too_many_nameplates')?.includes(honest.nameplate));
        await honestTransfer(honest);
      } else {
        // It holds the honest claim silently: the receiver is told someone else is using the code…
        const busy = await receiver(honest.code);
        assert.equal(await busy.proc.exited, 6);
        assert.equal(busy.proc.event('error')?.code, 'code_in_use');
      }
      // …and from another address, a new transfer goes through whatever the two attackers hold.
      await honestTransfer();
    },
  );

  test('rooms ferry-1 … ferry-999 filled by 32 connections of one address do not touch code transfers', T, async () => {
    // The attack as it was: codes used to meet in these rooms, so every `ferry send` failed with code_in_use.
    const connections = await Promise.all(Array.from({ length: 32 }, () => peer('127.0.0.12')));
    await Promise.all(
      connections.map(async (connection, index) => {
        for (let n = 1 + index * 32; n <= Math.min(999, 32 + index * 32); n++) {
          assert.equal(
            (await ask(connection, { type: 'join', rid: n, room: `ferry-${n}`, capacity: 2 })).type,
            'joined',
          );
        }
      }),
    );
    await honestTransfer();
  });

  test('a scanner that claims and leaves before the key exchange does not end the sender’s wait', T, async () => {
    const honest = await sender();
    for (const leave of ['close', 'release'] as const) {
      const scanner = await peer('127.0.0.9');
      const claimed = await ask(scanner, { type: 'claim', rid: 1, nameplate: honest.nameplate });
      assert.equal(claimed.type, 'claimed', JSON.stringify(claimed));
      // The sender speaks first (its SPAKE2 share); the scanner hears it and goes without a word.
      assert.equal(((await scanner.next()).data as Json).t, 'pake');
      if (leave === 'close') await scanner.close();
      else
        assert.equal((await ask(scanner, { type: 'release', rid: 2, nameplate: honest.nameplate })).type, 'released');
    }
    // Gone at once, before the sender's share can reach it: the sender's share then meets an `unknown_target`
    // (or `not_allowed`) error at the hub, which must not end its wait either.
    for (let round = 0; round < 10; round++) {
      const scanner = await peer('127.0.0.9');
      scanner.send({ type: 'claim', rid: 1, nameplate: honest.nameplate });
      if (round % 2) scanner.send({ type: 'release', nameplate: honest.nameplate });
      await scanner.close();
      // The next scanner comes once this one is forgotten: wait until the number is claimable again.
      const probe = await peer('127.0.0.11');
      for (;;) {
        const reply = await ask(probe, { type: 'claim', rid: 1, nameplate: honest.nameplate });
        if (reply.type === 'claimed') break;
        assert.equal(reply.code, 'nameplate_busy');
      }
      await probe.close();
    }
    assert.equal(honest.proc.child.exitCode, null, honest.proc.err);
    await honestTransfer(honest);
  });

  test(
    'a wrong code uses the nameplate up: both sides fail with wrong_code, the code does not work again',
    T,
    async () => {
      const honest = await sender();
      const words = honest.code.split('-').slice(1);
      const guess = await receiver(`${honest.nameplate}-${words[0] === 'zoo' ? 'orbit' : 'zoo'}-${words[1]}`);
      assert.deepEqual(await Promise.all([honest.proc.exited, guess.proc.exited]), [7, 7], guess.proc.err);
      for (const p of [honest.proc, guess.proc]) assert.equal(p.event('error')?.code, 'wrong_code');
      const late = await peer('127.0.0.6');
      assert.equal((await ask(late, { type: 'claim', rid: 1, nameplate: honest.nameplate })).code, 'unknown_nameplate');
      const right = await receiver(honest.code);
      assert.equal(await right.proc.exited, 7);
      assert.equal(right.proc.event('error')?.code, 'unknown_code');
    },
  );

  test(
    'guesses that reach the key exchange keep counting: one address spoils at most 8 waiting senders',
    T,
    async () => {
      const owners = await Promise.all(Array.from({ length: 9 }, (_, i) => peer(`127.0.0.${20 + i}`)));
      const nameplates: number[] = [];
      for (const owner of owners) nameplates.push((await ask(owner, { type: 'allocate', rid: 1 })).nameplate as number);
      const guesser = await peer('127.0.0.7');
      for (const [index, nameplate] of nameplates.entries()) {
        const claimed = await ask(guesser, { type: 'claim', rid: index, nameplate });
        if (index === 8) {
          assert.equal(claimed.code, 'too_many_nameplates');
          break;
        }
        assert.equal(claimed.type, 'claimed');
        guesser.send({ type: 'message', to: claimed.peer as string, data: { t: 'pake' } });
        assert.equal((await ask(guesser, { type: 'release', rid: 'r', nameplate })).type, 'released');
      }
      const honest = await peer('127.0.0.8');
      assert.equal((await ask(honest, { type: 'claim', rid: 1, nameplate: nameplates[8] })).type, 'claimed');
    },
  );

  test('the number space grows past 999 once half of it is in use', T, async () => {
    const numbers: number[] = [];
    // 63 addresses × 8 = 504 nameplates: more than half of 1–999.
    for (let i = 0; i < 70; i++) {
      const socket = await peer(`127.0.1.${i + 1}`);
      for (let n = 0; n < 8; n++) numbers.push((await ask(socket, { type: 'allocate', rid: n })).nameplate as number);
    }
    assert.equal(new Set(numbers).size, numbers.length);
    assert.ok(numbers.slice(0, 400).every((n) => n >= 1 && n <= 999));
    const late = numbers.slice(520);
    assert.ok(late.some((n) => n > 999) && late.every((n) => n <= 9_999), late.join(' '));
  });
});
