// The isomorphic session: the handshake over any message pipe, the transport agreement, authenticated SDP, and the
// transfer loops over an in-memory frame channel (what the CLI and the web app both drive).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ProtocolError } from '../../src/protocol/errors.ts';
import {
  AsyncQueue,
  agreeTransport,
  checkSdpMessage,
  runHandshake,
  type SessionMessage,
  type SessionSignals,
  sdpMessage,
  startSpake2,
} from '../../src/protocol/session.ts';
import { type Frame, type Offer, Sha256 } from '../../src/protocol/transfer.ts';
import {
  type FileSink,
  type FrameChannel,
  receiveTransfer,
  sendTransfer,
  TransferError,
} from '../../src/protocol/transfer-session.ts';

function signalPair(): [SessionSignals, SessionSignals] {
  const a = new AsyncQueue<SessionMessage>();
  const b = new AsyncQueue<SessionMessage>();
  // JSON round trip: what the hub does to every message.
  const copy = (m: SessionMessage) => JSON.parse(JSON.stringify(m)) as SessionMessage;
  return [
    { send: (m) => b.push(copy(m)), next: () => a.take() },
    { send: (m) => a.push(copy(m)), next: () => b.take() },
  ];
}

const SDP = (fp: string) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\na=fingerprint:sha-256 ${fp}\r\n`;
const FP = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':');

describe('handshake', () => {
  test('the same code gives both sides the same keys; the room comes from the number', async () => {
    const [s, r] = signalPair();
    const [a, b] = await Promise.all([
      runHandshake('sender', startSpake2('sender', '7-orbit-zoo'), 'auto', s),
      runHandshake('receiver', startSpake2('receiver', ' 007 Orbit ZOO '), 'relay', r),
    ]);
    assert.deepEqual(a.keys, b.keys);
    assert.equal(a.transport, 'relay');
    assert.equal(b.transport, 'relay');
  });

  test('a wrong code is WRONG_CODE on both sides', async () => {
    const [s, r] = signalPair();
    const results = await Promise.allSettled([
      runHandshake('sender', startSpake2('sender', '7-orbit-zoo'), 'auto', s),
      runHandshake('receiver', startSpake2('receiver', '7-orbit-zebra'), 'auto', r),
    ]);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(result.reason instanceof ProtocolError && result.reason.code === 'WRONG_CODE');
    }
  });

  test('two senders are told so', async () => {
    const [s, r] = signalPair();
    const results = await Promise.allSettled([
      runHandshake('sender', startSpake2('sender', '7-orbit-zoo'), 'auto', s),
      runHandshake('sender', startSpake2('sender', '7-orbit-zoo'), 'auto', r),
    ]);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.match(String(result.reason), /both sides are senders/);
    }
  });

  test('transport agreement', () => {
    assert.equal(agreeTransport('auto', 'auto'), 'auto');
    assert.equal(agreeTransport('auto', 'p2p'), 'p2p');
    assert.equal(agreeTransport('relay', 'auto'), 'relay');
    assert.equal(agreeTransport('p2p', 'p2p'), 'p2p');
    assert.throws(() => agreeTransport('p2p', 'relay'), /SESSION_TRANSPORT|allows only p2p/);
  });

  test('an SDP whose fingerprint was swapped, or that has none, is refused', async () => {
    const [s, r] = signalPair();
    const [{ keys }] = await Promise.all([
      runHandshake('sender', startSpake2('sender', '7-orbit-zoo'), 'auto', s),
      runHandshake('receiver', startSpake2('receiver', '7-orbit-zoo'), 'auto', r),
    ]);
    const message = sdpMessage(keys, 'sender', 1, { type: 'offer', sdp: SDP(FP) });
    checkSdpMessage(keys, 'sender', message);
    const swapped = { ...message, sdp: SDP(`AA${FP.slice(2)}`) };
    assert.throws(() => checkSdpMessage(keys, 'sender', swapped), { code: 'FINGERPRINT_MISMATCH' });
    // The tag binds the author's role: the sender's tag does not pass as the receiver's.
    assert.throws(() => checkSdpMessage(keys, 'receiver', message), { code: 'FINGERPRINT_MISMATCH' });
    assert.throws(() => checkSdpMessage(keys, 'sender', { ...message, sdp: 'v=0\r\n' }), {
      code: 'FINGERPRINT_MISMATCH',
    });
  });
});

/** Two in-memory frame channels joined back to back; `tamper` may alter frames on their way to the receiver. */
function channelPair(tamper: (frame: Frame) => Frame = (f) => f): [FrameChannel, FrameChannel] {
  const toReceiver = new AsyncQueue<Frame | undefined>();
  const toSender = new AsyncQueue<Frame | undefined>();
  const make = (
    inbox: AsyncQueue<Frame | undefined>,
    outbox: AsyncQueue<Frame | undefined>,
    out: (f: Frame) => Frame,
  ) => ({
    transport: 'p2p' as const,
    send: async (frame: Frame) => outbox.push(out(frame)),
    receive: () => inbox.take(),
    end: async () => outbox.push(undefined),
    close: () => {
      outbox.fail(new Error('closed'));
      inbox.fail(new Error('closed'));
    },
  });
  return [make(toSender, toReceiver, tamper), make(toReceiver, toSender, (f) => f)];
}

class MemorySink implements FileSink {
  files = new Map<string, number[]>();
  state = 'open';
  async write(_i: number, entry: { path: string }, data: Uint8Array) {
    this.files.set(entry.path, [...(this.files.get(entry.path) ?? []), ...data]);
  }
  async fileDone() {}
  async complete() {
    this.state = 'complete';
  }
  async abort() {
    this.state = 'aborted';
  }
}

const twoFiles: Offer = {
  version: 1,
  kind: 'directory',
  name: 'd',
  entryCount: 4,
  totalSize: 70_000,
  entries: [
    { path: 'd', kind: 'directory', size: null },
    { path: 'd/a', kind: 'file', size: 70_000 },
    { path: 'd/empty', kind: 'directory', size: null },
    { path: 'd/b', kind: 'file', size: 0 },
  ],
};
const bytesOf = (n: number) => new Uint8Array(n).map((_, i) => i & 0xff);
const read = (_index: number, entry: { size: number | null }) =>
  (async function* () {
    yield bytesOf(entry.size ?? 0);
  })();

describe('transfer loops', () => {
  test('offer, accept, data in ≤ 64 KiB frames, per-file hashes, done', async () => {
    const [s, r] = channelPair();
    const sink = new MemorySink();
    const [sent, received] = await Promise.all([
      sendTransfer(s, twoFiles, { read }),
      receiveTransfer(r, { decide: async () => ({ accept: true, sink }) }),
    ]);
    const sha = new Sha256().update(bytesOf(70_000)).hex();
    assert.deepEqual(sent.files, received.files);
    assert.equal(sent.files[0]?.sha256, sha);
    assert.equal(received.bytes, 70_000);
    assert.equal(sink.state, 'complete');
    assert.equal(sink.files.get('d/a')?.length, 70_000);
  });

  test('decline reaches the sender with its reason', async () => {
    const [s, r] = channelPair();
    const results = await Promise.allSettled([
      sendTransfer(s, twoFiles, { read }),
      receiveTransfer(r, { decide: async () => ({ accept: false, reason: 'no thanks' }) }),
    ]);
    assert.ok(results[0].status === 'rejected' && results[0].reason instanceof TransferError);
    assert.equal(results[0].reason.failure, 'declined');
    assert.match(results[0].reason.message, /no thanks/);
    assert.ok(results[1].status === 'rejected' && results[1].reason.failure === 'declined');
  });

  test('a corrupted DATA frame fails the hash check: integrity on both sides, the sink aborted', async () => {
    const [s, r] = channelPair((frame) =>
      frame.type === 'data' ? { ...frame, data: frame.data.map((b, i) => (i === 7 ? b ^ 1 : b)) } : frame,
    );
    const sink = new MemorySink();
    const results = await Promise.allSettled([
      sendTransfer(s, twoFiles, { read }),
      receiveTransfer(r, { decide: async () => ({ accept: true, sink }) }),
    ]);
    for (const result of results) assert.ok(result.status === 'rejected' && result.reason.failure === 'integrity');
    assert.equal(sink.state, 'aborted');
  });

  test('cancel (an aborted signal) on the sender reaches the receiver', async () => {
    const [s, r] = channelPair();
    const sink = new MemorySink();
    const controller = new AbortController();
    const slow = () =>
      (async function* () {
        yield bytesOf(1000);
        controller.abort(new Error('stop'));
        await new Promise((resolve) => setTimeout(resolve, 50));
        yield bytesOf(1000);
      })();
    const results = await Promise.allSettled([
      sendTransfer(
        s,
        { ...twoFiles, totalSize: null, entries: [{ path: 'x', kind: 'file', size: null }], entryCount: 1 },
        {
          read: slow,
          signal: controller.signal,
        },
      ),
      receiveTransfer(r, { decide: async () => ({ accept: true, sink }) }),
    ]);
    assert.ok(
      results[0].status === 'rejected' && results[0].reason.failure === 'cancelled' && !results[0].reason.byPeer,
    );
    assert.ok(
      results[1].status === 'rejected' && results[1].reason.failure === 'cancelled' && results[1].reason.byPeer,
    );
    assert.equal(sink.state, 'aborted');
  });

  test('neither side keeps what it has passed on: received DATA is collectable while the transfer goes on', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const frames = 200;
    const [s, r] = channelPair();
    const seen: WeakRef<Uint8Array>[] = [];
    let alive = -1;
    const sink: FileSink = {
      async write(_i, _entry, data) {
        seen.push(new WeakRef(data));
        if (seen.length !== 150) return;
        // A macrotask boundary first: a WeakRef's target is kept until the task that made it ends.
        await new Promise((resolve) => setTimeout(resolve, 0));
        gc();
        alive = seen.slice(0, 100).filter((ref) => ref.deref() !== undefined).length;
      },
      async fileDone() {},
      async complete() {},
      async abort() {},
    };
    const offer: Offer = {
      version: 1,
      kind: 'file',
      name: 'x',
      entryCount: 1,
      totalSize: frames * 65_527,
      entries: [{ path: 'x', kind: 'file', size: frames * 65_527 }],
    };
    const fresh = () =>
      (async function* () {
        for (let i = 0; i < frames; i++) yield new Uint8Array(65_527);
      })();
    await Promise.all([
      sendTransfer(s, offer, { read: fresh }),
      receiveTransfer(r, { decide: async () => ({ accept: true, sink }) }),
    ]);
    assert.equal(alive, 0, 'frames written to the sink are still reachable');
  });
});
