// The signaling hub's own protocol at `/_/ws` (src/protocol/signaling.ts, docs/signaling.md): after a hello (itself
// sometimes mutated), a burst of messages mutated from valid ones of every type (wrong types, missing and extra
// fields, `from`, huge numbers, odd strings, deep nesting, damaged JSON text), binary frames, and raw frames. Every
// message back must parse as a hub message, every error carry a documented code, and a ping after the burst must
// still be answered (or the socket closed with a proper code).
import { randomBytes } from 'node:crypto';
import { ERROR_CODES, parseServerMessage } from '../../src/protocol/signaling.ts';
import { TestSocket } from '../helpers/ws.ts';
import { type Entrance, type Finding, HONEST_ADDRESS, type Target } from './harness.ts';
import { describeInput, jsonText, mutateJson, type Rng } from './rng.ts';
import { finish, openRecorded, properClose, rawFrames, rawWebSocket } from './websocket.ts';

const BURST = 20;

function validMessage(rng: Rng, self: string): Record<string, unknown> {
  const to = rng.pick([self, self, 'nobody', `p${rng.int(100)}`]);
  const rid = rng.chance(0.5) ? rng.pick<string | number>([1, 'r', rng.int(1000)]) : undefined;
  const room = rng.pick(['room', `r${rng.int(5)}`, 'ferry-1', '€']);
  const candidate = {
    candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host',
    sdpMid: '0',
    sdpMLineIndex: 0,
  };
  const base = rng.pick<Record<string, unknown>>([
    { type: 'hello', versions: [1] },
    { type: 'join', room, capacity: rng.pick([2, 100, undefined]) },
    { type: 'leave', room },
    { type: 'ping' },
    { type: 'offer', to, sdp: 'v=0\r\n' },
    { type: 'answer', to, sdp: 'v=0\r\n' },
    { type: 'candidate', to, candidate },
    { type: 'end-of-candidates', to },
    { type: 'hangup', to, reason: 'bye' },
    { type: 'message', to, data: { kind: 'pake', bytes: randomBytes(8).toString('base64') } },
  ]);
  return rid === undefined ? base : { ...base, rid };
}

export const hubEntrance: Entrance = {
  name: 'hub',
  perBatch: BURST,
  concurrency: 6,
  async batch(rng: Rng, target: Target) {
    const url = `${target.url.replace(/^http/, 'ws')}/_/ws`;
    if (rng.chance(0.05)) {
      const frames = rawFrames(rng, jsonText(rng, mutateJson(rng, validMessage(rng, 'x'))));
      const problem = await rawWebSocket(target.port, '/_/ws', frames, rng.chance(0.3));
      return problem ? [{ input: `raw frames to /_/ws: ${describeInput(frames, 200)}`, problem }] : [];
    }
    const socket = await openRecorded(url);
    if ('status' in socket)
      return [{ input: url, problem: `the upgrade was answered ${socket.status || 'not at all'}` }];
    const sent: string[] = [];
    const send = (text: string | Buffer) => {
      sent.push(typeof text === 'string' ? text.slice(0, 200) : `binary ${text.length}`);
      if (socket.ws.readyState === socket.ws.OPEN) socket.ws.send(text);
    };
    send(
      rng.chance(0.85)
        ? '{"type":"hello","versions":[1]}'
        : jsonText(rng, mutateJson(rng, { type: 'hello', versions: [1] })),
    );
    await socket.wait(() => socket.messages.length > 0, 3000);
    const welcome = socket.messages[0] && parseServerMessage(socket.messages[0].data.toString());
    const self = welcome?.type === 'welcome' ? welcome.id : 'unknown';
    for (let i = 1; i < BURST; i++) {
      if (rng.chance(0.05)) send(rng.bytes(rng.size(256)));
      else if (rng.chance(0.3)) send(JSON.stringify(validMessage(rng, self)));
      else send(jsonText(rng, mutateJson(rng, validMessage(rng, self))));
    }
    send('{"type":"ping","rid":"fuzz-probe"}');
    const isProbe = (text: string) => text.includes('"rid":"fuzz-probe"');
    const answered = await socket.wait(() => socket.messages.some((m) => isProbe(m.data.toString())), 8000);
    const input = describeInput(sent.join(' | '), 600);
    const findings: Finding[] = [];
    const closedEarly = socket.ws.readyState !== socket.ws.OPEN;
    const code = await finish(socket);
    if (!answered && !closedEarly) findings.push({ input, problem: 'the probe ping after the burst was not answered' });
    if (code === 'hang') findings.push({ input, problem: 'the server did not finish the closing handshake' });
    else if (!properClose(code)) findings.push({ input, problem: `closed with ${code}` });
    for (const { data, isBinary } of socket.messages) {
      const message = isBinary ? undefined : parseServerMessage(data.toString());
      if (!message)
        findings.push({ input, problem: `a message that is not a hub message: ${describeInput(data, 200)}` });
      else if (message.type === 'error' && !ERROR_CODES.includes(message.code)) {
        findings.push({ input, problem: `an undocumented error code: ${describeInput(data, 200)}` });
      }
    }
    return findings;
  },
  /** Two peers from the honest address in one room: a message with random data arrives unchanged, and is acknowledged. */
  async honest(target: Target) {
    const options = { localAddress: HONEST_ADDRESS };
    const alice = await TestSocket.peer(target.url, {}, options);
    const bob = await TestSocket.peer(target.url, {}, options);
    try {
      // Peers may message each other once they share a room.
      const room = `honest-${randomBytes(6).toString('hex')}`;
      alice.send({ type: 'join', room });
      if ((await alice.next(8000)).type !== 'joined') throw new Error('hub round trip: alice did not join');
      bob.send({ type: 'join', room });
      if ((await bob.next(8000)).type !== 'joined') throw new Error('hub round trip: bob did not join');
      if ((await alice.next(8000)).type !== 'member-joined') throw new Error('hub round trip: alice did not see bob');
      const data = { nonce: randomBytes(16).toString('hex') };
      alice.send({ type: 'message', to: bob.id, rid: 'h', data });
      const got = await bob.next(8000);
      if (JSON.stringify(got) !== JSON.stringify({ type: 'message', to: bob.id, data, from: alice.id })) {
        throw new Error(`hub round trip: bob got ${JSON.stringify(got)}`);
      }
      const ack = await alice.next(8000);
      if (ack.type !== 'ack' || ack.rid !== 'h') throw new Error(`hub round trip: alice got ${JSON.stringify(ack)}`);
    } finally {
      await alice.close();
      await bob.close();
    }
  },
};
