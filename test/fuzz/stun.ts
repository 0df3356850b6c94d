// STUN (src/stun/): bursts of UDP datagrams mutated from valid Binding requests (RFC 8489): wrong lengths and
// length fields, magic cookies, message types and classes, attributes (unknown comprehension-required ones,
// overrunning lengths, FINGERPRINT wrong, misplaced or repeated), truncations and byte damage. Every reply must be a
// well-formed STUN message answering one of the requests sent; after the burst an honest client from another address
// is answered with its own mapped address.
import { randomBytes } from 'node:crypto';
import {
  ATTR,
  COOKIE,
  decodeMessage,
  decodeXorMappedAddress,
  encodeMessage,
  type RawAttribute,
  StunTestClient,
  TYPE_BINDING_SUCCESS,
} from '../stun/client.ts';
import { type Entrance, type Finding, HONEST_ADDRESS, type Target } from './harness.ts';
import { describeInput, mutateBytes, type Rng } from './rng.ts';

const BURST = 50;

function attributes(rng: Rng): RawAttribute[] {
  const out: RawAttribute[] = [];
  for (let i = rng.int(4); i > 0; i--) {
    out.push(
      rng.pick<RawAttribute>([
        { type: ATTR.SOFTWARE, value: Buffer.from('fuzz') },
        { type: ATTR.USERNAME, value: rng.bytes(rng.size(600)) },
        { type: ATTR.FINGERPRINT, value: rng.bytes(4) },
        { type: ATTR.XOR_MAPPED_ADDRESS, value: rng.bytes(8) },
        { type: rng.range(0, 0x7fff), value: rng.bytes(rng.size(32)) },
        { type: rng.range(0x8000, 0xffff), value: rng.bytes(rng.size(32)) },
        { type: 0x0008, value: rng.bytes(20) },
      ]),
    );
  }
  return out;
}

function datagram(rng: Rng): Buffer {
  const message = encodeMessage({
    type: rng.chance(0.8) ? 0x0001 : rng.pick([0x0011, 0x0101, 0x0111, 0x0002, 0x0003, 0xc001, rng.range(0, 0xffff)]),
    cookie: rng.chance(0.9) ? COOKIE : rng.next(),
    transactionId: randomBytes(12),
    attributes: attributes(rng),
    fingerprint: rng.chance(0.5),
    lengthField: rng.chance(0.1) ? rng.range(0, 0xffff) : undefined,
  });
  switch (rng.int(6)) {
    case 0:
      return message.subarray(0, rng.int(message.length));
    case 1:
    case 2:
      return mutateBytes(rng, message);
    case 3:
      return Buffer.concat([message, rng.bytes(rng.pick([1, 3, 4, 1300]))]);
    default:
      return message;
  }
}

/** A Binding request, retransmitted as a STUN client does (RFC 8489 §6.2.1): UDP may drop a datagram under load. */
async function bindWithRetries(client: StunTestClient, port: number, spec: Parameters<StunTestClient['bind']>[2] = {}) {
  const transactionId = randomBytes(12);
  let result = await client.bind(port, '127.0.0.1', { ...spec, transactionId }, 1000);
  for (let retry = 0; retry < 4 && !result.reply; retry++) {
    result = await client.bind(port, '127.0.0.1', { ...spec, transactionId }, 1000 * 2 ** retry);
  }
  return result;
}

export const stunEntrance: Entrance = {
  name: 'stun',
  perBatch: BURST,
  concurrency: 4,
  async batch(rng: Rng, target: Target) {
    const client = await StunTestClient.open('127.0.0.1');
    const findings: Finding[] = [];
    try {
      const sent = new Map<string, Buffer>();
      for (let i = 0; i < BURST; i++) {
        const bytes = datagram(rng);
        if (bytes.length >= 20) sent.set(bytes.subarray(8, 20).toString('hex'), bytes);
        await client.send(bytes, target.stunPort, '127.0.0.1');
      }
      // The replies to the burst arrive before the answer to a final valid request from this same socket.
      const probe = await bindWithRetries(client, target.stunPort);
      if (!probe.reply) findings.push({ input: 'a valid Binding request after the burst', problem: 'no answer' });
      for (const reply of client.received) {
        const request = sent.get(reply.subarray(8, 20).toString('hex'));
        const input = request ? describeInput(request.toString('hex')) : 'none of the requests sent';
        try {
          decodeMessage(reply);
          if (!request && !reply.subarray(8, 20).equals(probe.transactionId)) {
            findings.push({ input, problem: 'a reply to a transaction never sent' });
          }
        } catch (err) {
          findings.push({ input, problem: `a malformed reply (${(err as Error).message}): ${reply.toString('hex')}` });
        }
      }
    } finally {
      await client.close();
    }
    return findings;
  },
  /** From the honest address: a Binding request is answered with that address and port. */
  async honest(target: Target) {
    const client = await StunTestClient.open(HONEST_ADDRESS);
    try {
      const { reply, transactionId } = await bindWithRetries(client, target.stunPort, { fingerprint: true });
      if (!reply) throw new Error('STUN: no answer to an honest Binding request');
      const message = decodeMessage(reply);
      const mapped = message.attributes.find((a) => a.type === ATTR.XOR_MAPPED_ADDRESS);
      if (message.type !== TYPE_BINDING_SUCCESS || !mapped) throw new Error('STUN: not a Binding success');
      const address = decodeXorMappedAddress(mapped.value, transactionId);
      if (address.address !== HONEST_ADDRESS || address.port !== client.port) {
        throw new Error(`STUN: mapped ${address.address}:${address.port}, expected ${HONEST_ADDRESS}:${client.port}`);
      }
    } finally {
      await client.close();
    }
  },
};
