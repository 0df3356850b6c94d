// The STUN Binding responder against a client written from RFC 8489 (./client.ts), on loopback only:
// correct answers over IPv4 and IPv6, and silence (counted) for every kind of malformed datagram.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { crc32Fallback, crc32 as serverCrc32 } from '../../src/stun/message.ts';
import {
  MAX_REPLY_OVERHEAD,
  STUN_DROP_REASONS,
  type StunDropReason,
  StunResponder,
  type StunStats,
  stunUrl,
} from '../../src/stun/responder.ts';
import {
  ATTR,
  COOKIE,
  canonicalIPv6,
  crc32,
  decodeMessage,
  decodeXorMappedAddress,
  encodeMessage,
  fingerprintValid,
  type MappedAddress,
  StunTestClient,
  TYPE_BINDING_SUCCESS,
} from './client.ts';

const SOFTWARE = 'ferry-test/1 (stun responder test)';

async function canBind(host: string): Promise<boolean> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return new Promise((resolve) => {
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(0, host, () => socket.close(() => resolve(true)));
  });
}

// Skips are explicit and say why in the test report; nothing passes silently for lack of IPv6.
const HAS_IPV6 = await canBind('::1');
const SKIP_NO_IPV6 = HAS_IPV6 ? false : 'SKIPPED: IPv6 loopback ::1 cannot be bound on this machine';

function readBindv6only(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv6/bindv6only', 'utf8').trim();
  } catch {
    return undefined;
  }
}
const SKIP_NO_DUAL_STACK = !HAS_IPV6
  ? 'SKIPPED: no IPv6 loopback'
  : readBindv6only() !== '0'
    ? 'SKIPPED: cannot confirm that `::` sockets are dual-stack here (net.ipv6.bindv6only is not 0 or unreadable)'
    : false;

/** Everything a correct Binding success response must be (RFC 8489 §6.3.1.1, §12, §14.2, §14.7, §14.14). */
function assertBindingSuccess(
  reply: Buffer | undefined,
  request: Buffer,
  expected: MappedAddress,
  software = SOFTWARE,
) {
  assert.ok(reply, 'expected a reply');
  const msg = decodeMessage(reply);
  assert.equal(msg.type, TYPE_BINDING_SUCCESS);
  assert.equal(msg.cookie, COOKIE);
  assert.deepEqual(msg.transactionId, request.subarray(8, 20), 'same transaction id');
  assert.deepEqual(
    msg.attributes.map((a) => a.type),
    [ATTR.XOR_MAPPED_ADDRESS, ATTR.SOFTWARE, ATTR.FINGERPRINT],
    'XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT and nothing else',
  );
  const [mapped, sw] = msg.attributes;
  assert.deepEqual(decodeXorMappedAddress(mapped?.value ?? Buffer.alloc(0), msg.transactionId), expected);
  assert.equal(sw?.value.toString('utf8'), software);
  assert.ok(fingerprintValid(reply), 'valid FINGERPRINT');
  assert.ok(reply.length <= request.length + MAX_REPLY_OVERHEAD, 'reply within the amplification bound');
}

function expectedStats(before: StunStats, change: { answered?: number; dropped?: StunDropReason }): StunStats {
  const dropped = { ...before.dropped };
  if (change.dropped) dropped[change.dropped]++;
  return { answered: before.answered + (change.answered ?? 0), dropped, sendErrors: before.sendErrors };
}

function totalHandled(stats: StunStats): number {
  return stats.answered + Object.values(stats.dropped).reduce((a, b) => a + b, 0);
}

function withLength(datagram: Buffer, attributeOffset: number, length: number): Buffer {
  const copy = Buffer.from(datagram);
  copy.writeUInt16BE(length, attributeOffset + 2);
  return copy;
}

function flipByte(datagram: Buffer, index: number): Buffer {
  const copy = Buffer.from(datagram);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

/** A structurally valid Binding request of exactly `size` bytes (one padding attribute, comprehension-optional). */
function requestOfSize(size: number): Buffer {
  return encodeMessage({ attributes: [{ type: 0x8fff, value: Buffer.alloc(size - 24) }] });
}

interface MalformedCase {
  name: string;
  datagram: () => Buffer;
  reason: StunDropReason;
}

const MALFORMED: MalformedCase[] = [
  { name: 'empty (0-byte) datagram', datagram: () => Buffer.alloc(0), reason: 'short' },
  { name: 'short: 19 bytes of a header', datagram: () => encodeMessage().subarray(0, 19), reason: 'short' },
  { name: 'leading bits set (looks like RTP)', datagram: () => encodeMessage({ type: 0x8001 }), reason: 'notStun' },
  { name: 'wrong magic cookie', datagram: () => encodeMessage({ cookie: 0x2112a443 }), reason: 'badCookie' },
  {
    name: 'classic RFC 3489 request (random bytes where the cookie goes)',
    datagram: () => encodeMessage({ cookie: 0x01020304 }),
    reason: 'badCookie',
  },
  {
    name: 'length field larger than the datagram',
    datagram: () => encodeMessage({ lengthField: 8 }),
    reason: 'badLength',
  },
  {
    name: 'length field smaller than the datagram',
    datagram: () =>
      encodeMessage({ attributes: [{ type: ATTR.SOFTWARE, value: Buffer.from('abcd') }], lengthField: 0 }),
    reason: 'badLength',
  },
  {
    name: 'length not a multiple of 4 (and matching the datagram)',
    datagram: () => Buffer.concat([encodeMessage({ lengthField: 2 }), Buffer.from([0, 0])]),
    reason: 'badLength',
  },
  {
    name: 'trailing garbage after the message',
    datagram: () => Buffer.concat([encodeMessage(), Buffer.alloc(4)]),
    reason: 'badLength',
  },
  {
    name: 'a Binding success response, not a request',
    datagram: () => encodeMessage({ type: 0x0101 }),
    reason: 'notRequest',
  },
  { name: 'a Binding error response', datagram: () => encodeMessage({ type: 0x0111 }), reason: 'notRequest' },
  { name: 'a Binding indication', datagram: () => encodeMessage({ type: 0x0011 }), reason: 'notRequest' },
  {
    name: 'unknown method: Allocate (TURN) request',
    datagram: () => encodeMessage({ type: 0x0003 }),
    reason: 'unknownMethod',
  },
  { name: 'unknown method: 0xFFF request', datagram: () => encodeMessage({ type: 0x3eef }), reason: 'unknownMethod' },
  {
    name: 'attribute length overruns the datagram',
    datagram: () =>
      withLength(encodeMessage({ attributes: [{ type: ATTR.SOFTWARE, value: Buffer.from('abcd') }] }), 20, 100),
    reason: 'badAttribute',
  },
  {
    name: 'attribute padding overruns the datagram',
    datagram: () =>
      withLength(encodeMessage({ attributes: [{ type: ATTR.SOFTWARE, value: Buffer.from('abcd') }] }), 20, 5),
    reason: 'badAttribute',
  },
  {
    name: 'FINGERPRINT not the last attribute',
    datagram: () =>
      encodeMessage({
        attributes: [
          { type: ATTR.FINGERPRINT, value: Buffer.alloc(4) },
          { type: ATTR.SOFTWARE, value: Buffer.from('x') },
        ],
      }),
    reason: 'badAttribute',
  },
  {
    name: 'FINGERPRINT of the wrong size',
    datagram: () => encodeMessage({ attributes: [{ type: ATTR.FINGERPRINT, value: Buffer.alloc(8) }] }),
    reason: 'badAttribute',
  },
  {
    name: 'bad FINGERPRINT value',
    datagram: () => {
      const d = encodeMessage({ fingerprint: true });
      return flipByte(d, d.length - 1);
    },
    reason: 'badFingerprint',
  },
  {
    name: 'FINGERPRINT over a message changed in transit',
    datagram: () => flipByte(encodeMessage({ fingerprint: true }), 10),
    reason: 'badFingerprint',
  },
  {
    name: 'unknown comprehension-required attribute (CHANGE-REQUEST, RFC 5780)',
    datagram: () => encodeMessage({ attributes: [{ type: 0x0003, value: Buffer.alloc(4) }] }),
    reason: 'unknownAttribute',
  },
  { name: 'oversized: 1284 bytes, otherwise valid', datagram: () => requestOfSize(1284), reason: 'oversized' },
  { name: 'huge datagram: 65504 bytes, otherwise valid', datagram: () => requestOfSize(65504), reason: 'oversized' },
];

describe('the test client agrees with the RFC before it judges the server', () => {
  test('CRC-32 check value (and the server’s native and fallback CRC-32 agree with it)', () => {
    const check = Buffer.from('123456789');
    assert.equal(crc32(check), 0xcbf43926);
    assert.equal(serverCrc32(check), 0xcbf43926);
    assert.equal(crc32Fallback(check), 0xcbf43926);
    const random = randomBytes(4096);
    assert.equal(crc32Fallback(random), crc32(random));
    assert.equal(typeof (zlib as { crc32?: unknown }).crc32, 'function', 'this Node has zlib.crc32 (>= 20.15)');
  });

  test('XOR-MAPPED-ADDRESS decoding matches the RFC 5769 §2.2/§2.3 sample responses', () => {
    const transactionId = Buffer.from('b7e7a701bc34d686fa87dfae', 'hex');
    // 192.0.2.1:32853
    const v4 = Buffer.from('0001a147e112a643', 'hex');
    assert.deepEqual(decodeXorMappedAddress(v4, transactionId), { family: 'IPv4', address: '192.0.2.1', port: 32853 });
    // 2001:db8:1234:5678:11:2233:4455:6677 port 32853
    const v6 = Buffer.from('0002a1470113a9faa5d3f179bc25f4b5bed2b9d9', 'hex');
    assert.deepEqual(decodeXorMappedAddress(v6, transactionId), {
      family: 'IPv6',
      address: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
    });
  });
});

describe('StunResponder on 127.0.0.1', () => {
  const stun = new StunResponder();
  let client: StunTestClient;
  let port: number;
  before(async () => {
    const [bound] = await stun.start({ port: 0, host: '127.0.0.1', software: SOFTWARE });
    assert.ok(bound);
    assert.deepEqual({ ...bound, port: 0 }, { address: '127.0.0.1', family: 'IPv4', port: 0 });
    port = bound.port;
    client = await StunTestClient.open('127.0.0.1');
  });
  after(async () => {
    await client.close();
    await stun.close();
  });

  test('answers a Binding request with the client’s own address, SOFTWARE and FINGERPRINT', async () => {
    const before = stun.stats();
    const { request, reply } = await client.bind(port, '127.0.0.1');
    assertBindingSuccess(reply, request, { family: 'IPv4', address: '127.0.0.1', port: client.port });
    assert.deepEqual(stun.stats(), expectedStats(before, { answered: 1 }));
  });

  test('answers requests carrying FINGERPRINT, SOFTWARE, USERNAME and unknown comprehension-optional attributes', async () => {
    const variants = [
      { fingerprint: true },
      { attributes: [{ type: ATTR.SOFTWARE, value: Buffer.from('some client 1.0') }], fingerprint: true },
      { attributes: [{ type: ATTR.USERNAME, value: Buffer.from('a:b') }] },
      { attributes: [{ type: 0xc057, value: Buffer.alloc(4, 1) }] }, // comprehension-optional, unknown to us
      // RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY are ignored, unknown or not.
      {
        attributes: [
          { type: 0x0008, value: Buffer.alloc(20) },
          { type: 0x7ff0, value: Buffer.alloc(4) },
        ],
      },
    ];
    for (const spec of variants) {
      const { request, reply } = await client.bind(port, '127.0.0.1', spec);
      assertBindingSuccess(reply, request, { family: 'IPv4', address: '127.0.0.1', port: client.port });
    }
  });

  test('keeps concurrent transactions apart', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => client.bind(port, '127.0.0.1')));
    for (const { request, reply } of results) {
      assertBindingSuccess(reply, request, { family: 'IPv4', address: '127.0.0.1', port: client.port });
    }
  });

  for (const c of MALFORMED) {
    test(`drops and counts: ${c.name}; then answers the next request`, async () => {
      client.received.length = 0;
      const before = stun.stats();
      await client.send(c.datagram(), port, '127.0.0.1');
      // Datagrams on one loopback socket pair arrive in order, so any reply to the bad one would come first.
      const { request, reply } = await client.bind(port, '127.0.0.1');
      assertBindingSuccess(reply, request, { family: 'IPv4', address: '127.0.0.1', port: client.port });
      assert.equal(client.received.length, 1, 'no reply to the malformed datagram');
      assert.deepEqual(stun.stats(), expectedStats(before, { answered: 1, dropped: c.reason }));
    });
  }

  test('survives 1000 random and mutated datagrams, accounting for every one', async () => {
    const valid = () => encodeMessage({ fingerprint: randomInt(2) === 1 });
    const mutants: Array<() => Buffer> = [
      () => randomBytes(randomInt(0, 1500)),
      () => flipByte(valid(), randomInt(0, 20)),
      () => flipByte(valid(), randomInt(20, 28)),
      () => valid().subarray(0, randomInt(0, 28)),
      () => Buffer.concat([valid(), randomBytes(randomInt(1, 64))]),
      () => {
        const d = encodeMessage({ attributes: [{ type: randomInt(0x10000), value: randomBytes(randomInt(0, 40)) }] });
        return withLength(d, 20, randomInt(0x10000));
      },
    ];
    const before = totalHandled(stun.stats());
    let sent = 0;
    for (let batch = 0; batch < 20; batch++) {
      for (let i = 0; i < 50; i++) {
        const make = mutants[randomInt(mutants.length)] ?? mutants[0];
        await client.send(make?.() ?? Buffer.alloc(0), port, '127.0.0.1');
        sent++;
      }
      // A round trip after each batch: the server has handled everything before it, and is still answering.
      const { request, reply } = await client.bind(port, '127.0.0.1');
      assertBindingSuccess(reply, request, { family: 'IPv4', address: '127.0.0.1', port: client.port });
      sent++;
    }
    assert.equal(totalHandled(stun.stats()) - before, sent, 'every datagram answered or dropped, exactly once');
    for (const datagram of client.received) assert.ok(fingerprintValid(datagram), 'every reply well-formed');
  });
});

describe('StunResponder on ::1', { skip: SKIP_NO_IPV6 }, () => {
  const stun = new StunResponder();
  let client: StunTestClient;
  let port: number;
  before(async () => {
    const [bound] = await stun.start({ port: 0, host: '::1', software: SOFTWARE });
    assert.equal(bound?.family, 'IPv6');
    port = bound?.port ?? 0;
    client = await StunTestClient.open('::1');
  });
  after(async () => {
    await client.close();
    await stun.close();
  });

  test('answers with an IPv6 XOR-MAPPED-ADDRESS (XORed with cookie and transaction id)', async () => {
    const { request, reply } = await client.bind(port, '::1', { fingerprint: true });
    assertBindingSuccess(reply, request, { family: 'IPv6', address: '::1', port: client.port });
  });

  for (const c of MALFORMED.filter((m) => ['short', 'badCookie', 'badAttribute', 'oversized'].includes(m.reason))) {
    test(`drops and counts: ${c.name}; then answers the next request`, async () => {
      client.received.length = 0;
      const before = stun.stats();
      await client.send(c.datagram(), port, '::1');
      const { request, reply } = await client.bind(port, '::1');
      assertBindingSuccess(reply, request, { family: 'IPv6', address: '::1', port: client.port });
      assert.equal(client.received.length, 1, 'no reply to the malformed datagram');
      assert.deepEqual(stun.stats(), expectedStats(before, { answered: 1, dropped: c.reason }));
    });
  }
});

describe('reportedPortShift (test-only: makes a loopback server-reflexive candidate differ from the host one)', () => {
  for (const host of ['127.0.0.1', '::1']) {
    test(`reports the client's port plus the shift over ${host}`, {
      skip: host === '::1' && SKIP_NO_IPV6,
    }, async () => {
      const stun = new StunResponder();
      const [bound] = await stun.start({ port: 0, host, software: SOFTWARE, reportedPortShift: 1000 });
      const client = await StunTestClient.open(host);
      try {
        const { request, reply } = await client.bind(bound?.port ?? 0, host);
        const shifted = ((client.port - 1 + 1000) % 65535) + 1;
        assertBindingSuccess(reply, request, {
          family: host === '::1' ? 'IPv6' : 'IPv4',
          address: host === '::1' ? canonicalIPv6(host) : host,
          port: shifted,
        });
        assert.notEqual(shifted, client.port);
      } finally {
        await client.close();
        await stun.close();
      }
    });
  }
});

describe('binding', () => {
  test('without a host: IPv4 and IPv6 on one port, each client told its own family', async () => {
    const stun = new StunResponder();
    const addresses = await stun.start({ port: 0, software: SOFTWARE });
    try {
      const v4 = addresses.find((a) => a.family === 'IPv4');
      const v6 = addresses.find((a) => a.family === 'IPv6');
      assert.equal(v4?.address, '0.0.0.0');
      if (HAS_IPV6) {
        assert.equal(v6?.address, '::');
        assert.equal(v6?.port, v4?.port, 'one port for both families');
      } else {
        assert.equal(v6, undefined);
      }
      const targets: Array<[string, 'IPv4' | 'IPv6']> = [['127.0.0.1', 'IPv4']];
      if (HAS_IPV6) targets.push(['::1', 'IPv6']);
      for (const [host, family] of targets) {
        const client = await StunTestClient.open(host);
        try {
          const { request, reply } = await client.bind(v4?.port ?? 0, host);
          assertBindingSuccess(reply, request, {
            family,
            address: family === 'IPv6' ? '::1' : host,
            port: client.port,
          });
        } finally {
          await client.close();
        }
      }
    } finally {
      await stun.close();
    }
  });

  test('explicit `::` is dual-stack: an IPv4 client is told its IPv4 address, not ::ffff:…', {
    skip: SKIP_NO_DUAL_STACK,
  }, async () => {
    const stun = new StunResponder();
    const [bound] = await stun.start({ port: 0, host: '::', software: SOFTWARE });
    const client = await StunTestClient.open('127.0.0.1');
    try {
      const { request, reply } = await client.bind(bound?.port ?? 0, '127.0.0.1');
      assertBindingSuccess(reply, request, { family: 'IPv4', address: '127.0.0.1', port: client.port });
    } finally {
      await client.close();
      await stun.close();
    }
  });

  test('a host name binds the address it resolves to, as --host does for HTTP', async () => {
    const { address } = await dns.lookup('localhost');
    const stun = new StunResponder();
    try {
      const [bound] = await stun.start({ port: 0, host: 'localhost', software: SOFTWARE });
      assert.equal(bound?.address, address);
    } finally {
      await stun.close();
    }
  });

  test('a taken port rejects start (and holds nothing); the first responder keeps answering', async () => {
    const first = new StunResponder();
    const [bound] = await first.start({ port: 0, host: '127.0.0.1', software: SOFTWARE });
    const second = new StunResponder();
    await assert.rejects(second.start({ port: bound?.port ?? 0, host: '127.0.0.1' }), { code: 'EADDRINUSE' });
    assert.deepEqual(second.addresses, []);
    await second.close();
    const client = await StunTestClient.open('127.0.0.1');
    try {
      const { request, reply } = await client.bind(bound?.port ?? 0, '127.0.0.1');
      assertBindingSuccess(reply, request, { family: 'IPv4', address: '127.0.0.1', port: client.port });
    } finally {
      await client.close();
      await first.close();
    }
  });

  test('close during start: start rejects, and the sockets are released', async () => {
    const stun = new StunResponder();
    const starting = stun.start({ port: 0, software: SOFTWARE });
    const closing = stun.close();
    await assert.rejects(starting, /closed while starting/);
    await closing;
    assert.deepEqual(stun.addresses, []);
  });

  test('close releases the port, is idempotent, and keeps the counters', async () => {
    const stun = new StunResponder();
    const [bound] = await stun.start({ port: 0, host: '127.0.0.1', software: SOFTWARE });
    const client = await StunTestClient.open('127.0.0.1');
    await client.send(Buffer.alloc(3), bound?.port ?? 0, '127.0.0.1');
    await client.bind(bound?.port ?? 0, '127.0.0.1');
    await client.close();
    await Promise.all([stun.close(), stun.close()]);
    await stun.close();
    assert.equal(stun.stats().answered, 1);
    assert.equal(stun.stats().dropped.short, 1);
    const again = new StunResponder();
    const [rebound] = await again.start({ port: bound?.port ?? 0, host: '127.0.0.1' });
    assert.equal(rebound?.port, bound?.port);
    await again.close();
  });
});

describe('options and helpers', () => {
  test('start validates its options and may be called once', async () => {
    const invalid: Array<Parameters<StunResponder['start']>[0]> = [
      { port: -1, host: '127.0.0.1' },
      { port: 70000, host: '127.0.0.1' },
      { port: 1.5, host: '127.0.0.1' },
      { port: 0, host: '127.0.0.1', software: '' },
      { port: 0, host: '127.0.0.1', software: 'x'.repeat(128) },
      { port: 0, host: '127.0.0.1', software: 'é'.repeat(64) },
      { port: 0, host: '127.0.0.1', reportedPortShift: 0.5 },
      { port: 0, host: '127.0.0.1', maxRequestBytes: 19 },
    ];
    for (const options of invalid) {
      await assert.rejects(new StunResponder().start(options), RangeError, JSON.stringify(options));
    }
    const stun = new StunResponder();
    await stun.start({ port: 0, host: '127.0.0.1', software: 'x'.repeat(127) });
    await assert.rejects(stun.start({ port: 0, host: '127.0.0.1' }), /called once/);
    await stun.close();
    await assert.rejects(stun.start({ port: 0, host: '127.0.0.1' }), /called once/);
  });

  test('the default SOFTWARE names Ferry and its version', async () => {
    const stun = new StunResponder();
    const [bound] = await stun.start({ port: 0, host: '127.0.0.1' });
    const client = await StunTestClient.open('127.0.0.1');
    try {
      const { reply } = await client.bind(bound?.port ?? 0, '127.0.0.1');
      const software = decodeMessage(reply ?? Buffer.alloc(0)).attributes.find((a) => a.type === ATTR.SOFTWARE);
      assert.match(software?.value.toString('utf8') ?? '', /^ferry \d+\.\d+\.\d+/);
    } finally {
      await client.close();
      await stun.close();
    }
  });

  test('stats list every drop reason, for metric labels', () => {
    assert.deepEqual(Object.keys(new StunResponder().stats().dropped), [...STUN_DROP_REASONS]);
  });

  test('stunUrl brackets IPv6 literals', () => {
    assert.equal(stunUrl('203.0.113.7', 3478), 'stun:203.0.113.7:3478');
    assert.equal(stunUrl('2001:db8::1', 3478), 'stun:[2001:db8::1]:3478');
    assert.equal(stunUrl('stun.example.org', 3478), 'stun:stun.example.org:3478');
  });

  test('the smallest request with the longest SOFTWARE stays within MAX_REPLY_OVERHEAD (amplification bound)', async () => {
    const hosts: Array<[string, number]> = [['127.0.0.1', 20 + 12 + 4 + 128 + 8]];
    if (HAS_IPV6) hosts.push(['::1', 20 + MAX_REPLY_OVERHEAD]); // IPv6: the largest reply there is
    for (const [host, size] of hosts) {
      const stun = new StunResponder();
      const [bound] = await stun.start({ port: 0, host, software: 'x'.repeat(127) });
      const client = await StunTestClient.open(host);
      try {
        const { request, reply } = await client.bind(bound?.port ?? 0, host);
        assert.equal(request.length, 20);
        assert.equal(reply?.length, size);
      } finally {
        await client.close();
        await stun.close();
      }
    }
  });
});

// node-datachannel and Chromium gathering a server-reflexive candidate from this responder (with reportedPortShift)
// are tested in test/peer/nat-traversal.test.ts and test/e2e/chromium.test.ts.
