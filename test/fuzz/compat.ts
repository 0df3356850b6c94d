// The seed protocol's `/register` and `/offer` (src/signaling/compat.ts, docs/signaling.md): frames
// `{"command","payload"}` with a base64 JSON payload `{"source","target","body"}`, mutated at every layer (the
// frame, the base64, the payload JSON) and sometimes raw. A pair of peers (one on each endpoint) is made each batch;
// the fuzzed one addresses the other now and then. Every frame must be answered (command + 100, 100 for an
// unreadable one) with a documented code, and forwarded frames must be well-formed, unless the socket is closed with
// a proper code.
import { randomBytes } from 'node:crypto';
import { TestSocket } from '../helpers/ws.ts';
import { type Entrance, type Finding, HONEST_ADDRESS, type Target } from './harness.ts';
import { describeInput, jsonText, mutateJson, mutateText, type Rng } from './rng.ts';
import { finish, openRecorded, properClose, type Recorded, rawFrames, rawWebSocket } from './websocket.ts';

const BURST = 20;
const CODES = [0, 1, 2, 3, 4, 5, 6];

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');

function frameText(rng: Rng, self: string, other: string): string {
  const command = rng.chance(0.9) ? rng.range(1, 4) : rng.pick([0, 5, 99, -1, 1.5, 2 ** 53]);
  let payload: Record<string, unknown> = {
    source: rng.chance(0.8) ? self : rng.pick([other, '', 'x'.repeat(300)]),
    target: rng.pick([other, other, 'nobody', '']),
    body: rng.chance(0.8) ? randomBytes(rng.size(300)).toString('base64') : null,
  };
  if (rng.chance(0.4)) payload = mutateJson(rng, payload) as Record<string, unknown>;
  let encoded: unknown = b64(payload);
  if (rng.chance(0.1)) encoded = mutateText(rng, String(encoded));
  if (rng.chance(0.05)) encoded = Buffer.from(jsonText(rng, payload)).toString('base64');
  const frame: Record<string, unknown> = { command, payload: encoded };
  return jsonText(rng, rng.chance(0.3) ? mutateJson(rng, frame) : frame);
}

async function peer(url: string, role: 'register' | 'offer', id: string): Promise<Recorded | undefined> {
  const socket = await openRecorded(`${url}/${role}`);
  if ('status' in socket) return undefined;
  socket.ws.send(JSON.stringify({ command: 1, payload: b64({ source: id }) }));
  await socket.wait(() => socket.messages.length > 0, 3000);
  return socket;
}

/**
 * What the server sent, checked: `reply` frames must carry `{"code","msg"}` with a documented code (any command:
 * the server answers N with N + 100 whatever N was), forwarded ones `{"source","target"}`. A problem, or undefined.
 */
function checkFrame(data: Buffer, kind: 'reply' | 'forwarded'): string | undefined {
  let frame: { command?: unknown; payload?: unknown };
  try {
    frame = JSON.parse(data.toString());
  } catch {
    return 'a frame that is not JSON';
  }
  if (typeof frame.command !== 'number' || typeof frame.payload !== 'string')
    return 'a frame without command and payload';
  let payload: { code?: unknown; msg?: unknown; source?: unknown; target?: unknown };
  try {
    payload = JSON.parse(Buffer.from(frame.payload, 'base64').toString());
  } catch {
    return 'a payload that is not base64 JSON';
  }
  // The partner's own frames are answered too (N + 100): its init, or a refusal of it when the fuzzer's connections
  // from the same address have spent their --message-rate-per-client budget.
  if (kind === 'reply' || frame.command >= 100) {
    return CODES.includes(Number(payload.code)) && typeof payload.msg === 'string'
      ? undefined
      : 'not a reply with a documented code';
  }
  return typeof payload.source === 'string' && typeof payload.target === 'string'
    ? undefined
    : 'a forwarded frame without source and target';
}

export const compatEntrance: Entrance = {
  name: 'compat',
  perBatch: BURST,
  concurrency: 6,
  async batch(rng: Rng, target: Target) {
    const url = target.url.replace(/^http/, 'ws');
    const role = rng.pick(['register', 'offer'] as const);
    if (rng.chance(0.05)) {
      const frames = rawFrames(rng, frameText(rng, 'a', 'b'));
      const problem = await rawWebSocket(target.port, `/${role}`, frames, rng.chance(0.3));
      return problem ? [{ input: `raw frames to /${role}: ${describeInput(frames, 200)}`, problem }] : [];
    }
    const tag = randomBytes(6).toString('hex');
    const self = `fz-${tag}`;
    const other = `ot-${tag}`;
    const partner = await peer(url, role === 'register' ? 'offer' : 'register', other);
    const socket = await openRecorded(`${url}/${role}`);
    if ('status' in socket || !partner) return [{ input: `/${role}`, problem: 'the upgrade was refused' }];
    const sent: string[] = [];
    for (let i = 0; i < BURST && socket.ws.readyState === socket.ws.OPEN; i++) {
      const text = rng.chance(0.05) ? rng.bytes(rng.size(200)).toString('latin1') : frameText(rng, self, other);
      sent.push(text.slice(0, 200));
      socket.ws.send(text);
    }
    // The partner sends nothing more, so everything on this socket answers one of its frames.
    const replies = () => socket.messages.length;
    const answered = await socket.wait(() => replies() >= sent.length, 8000);
    const closedEarly = socket.ws.readyState !== socket.ws.OPEN;
    const input = describeInput(sent.join(' | '), 600);
    const findings: Finding[] = [];
    const [code] = await Promise.all([finish(socket), finish(partner)]);
    if (!answered && !closedEarly) findings.push({ input, problem: `${replies()} replies to ${sent.length} frames` });
    if (code === 'hang') findings.push({ input, problem: 'the server did not finish the closing handshake' });
    else if (!properClose(code)) findings.push({ input, problem: `closed with ${code}` });
    const frames = [
      ...socket.messages.map((m) => ({ data: m.data, kind: 'reply' as const })),
      ...partner.messages.map((m) => ({ data: m.data, kind: 'forwarded' as const })),
    ];
    for (const { data, kind } of frames) {
      const problem = checkFrame(data, kind);
      if (problem) findings.push({ input, problem: `${problem}: ${describeInput(data, 200)}` });
    }
    return findings;
  },
  /** From the honest address: an offer peer's Offer reaches the register peer with its body unchanged. */
  async honest(target: Target) {
    const url = target.url.replace(/^http/, 'ws');
    const tag = randomBytes(6).toString('hex');
    const options = { localAddress: HONEST_ADDRESS };
    const answerer = await TestSocket.open(`${url}/register`, options);
    const offerer = await TestSocket.open(`${url}/offer`, options);
    try {
      answerer.send({ command: 1, payload: b64({ source: `r-${tag}` }) });
      await answerer.next(8000);
      const body = randomBytes(64).toString('base64');
      offerer.send({ command: 3, payload: b64({ source: `o-${tag}`, target: `r-${tag}`, body }) });
      const forwarded = await answerer.next(8000);
      const payload = JSON.parse(Buffer.from(String(forwarded.payload), 'base64').toString());
      if (forwarded.command !== 3 || payload.source !== `o-${tag}` || payload.body !== body) {
        throw new Error(`seed protocol round trip: got ${JSON.stringify(forwarded)}`);
      }
    } finally {
      await answerer.close();
      await offerer.close();
    }
  },
};
