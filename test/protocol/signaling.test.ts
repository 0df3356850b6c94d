import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseIceServerSpec, parseIceUrl } from '../../src/protocol/ice-url.ts';
import {
  ClientMessage,
  ERROR_CODES,
  PROTOCOL_VERSION,
  parseClientMessage,
  parseServerMessage,
  ServerMessage,
} from '../../src/protocol/signaling.ts';

const candidate = { candidate: 'candidate:1 1 udp 2114977791 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

// One valid example of every client message type, and ways to break each.
const clientCases: Record<string, { valid: object[]; invalid: object[] }> = {
  hello: {
    valid: [{ versions: [1] }, { versions: [1, 2], id: 'bob', rid: 1 }, { versions: [1], rid: 'r-1' }],
    invalid: [{}, { versions: [] }, { versions: ['1'] }, { versions: [1], id: 'has space' }, { versions: [1], id: '' }],
  },
  join: {
    valid: [{ room: 'lobby' }, { room: 'call', capacity: 2, rid: 3 }],
    invalid: [{}, { room: '' }, { room: 'x'.repeat(129) }, { room: 'a\nb' }, { room: 'r', capacity: 0 }],
  },
  leave: { valid: [{ room: 'lobby' }], invalid: [{}, { room: 5 }] },
  ping: { valid: [{}, { rid: 'p' }], invalid: [{ rid: -1 }, { rid: '' }, { rid: 'x'.repeat(65) }] },
  allocate: {
    valid: [{}, { nameplate: 7, rid: 1 }, { nameplate: 999_999 }],
    invalid: [{ nameplate: 0 }, { nameplate: 1_000_000 }, { nameplate: 1.5 }, { nameplate: '7' }],
  },
  claim: { valid: [{ nameplate: 7 }], invalid: [{}, { nameplate: 0 }, { nameplate: '7' }] },
  release: { valid: [{ nameplate: 7, rid: 'r' }], invalid: [{}, { nameplate: -1 }] },
  offer: {
    valid: [{ to: 'bob', sdp: 'v=0\r\n' }],
    invalid: [{ sdp: 'v=0' }, { to: 'bob' }, { to: 'bob', sdp: '' }, { to: 'b/b', sdp: 'v=0' }],
  },
  answer: { valid: [{ to: 'alice', sdp: 'v=0\r\n', rid: 9 }], invalid: [{ to: 'alice', sdp: 1 }] },
  candidate: {
    valid: [
      { to: 'bob', candidate },
      { to: 'bob', candidate: { candidate: '', sdpMid: null, sdpMLineIndex: null, usernameFragment: null } },
    ],
    invalid: [{ to: 'bob' }, { to: 'bob', candidate: 'candidate:1' }, { to: 'bob', candidate: { sdpMid: '0' } }],
  },
  'end-of-candidates': { valid: [{ to: 'bob' }], invalid: [{}] },
  hangup: { valid: [{ to: 'bob' }, { to: 'bob', reason: 'done' }], invalid: [{ to: 'bob', reason: 'x'.repeat(257) }] },
  message: {
    valid: [
      { to: 'bob', data: { any: ['json', 1, null, true] } },
      { to: 'bob', data: 'text' },
    ],
    invalid: [{ to: 'bob' }],
  },
};

describe('client → hub schemas', () => {
  test('every client message type is covered here', () => {
    const types = ClientMessage.options.map((o) => o.shape.type.value).sort();
    assert.deepEqual(types, Object.keys(clientCases).sort());
  });

  for (const [type, { valid, invalid }] of Object.entries(clientCases)) {
    test(`${type}: valid forms parse, invalid ones are bad_message`, () => {
      for (const fields of valid) {
        const parsed = parseClientMessage(JSON.stringify({ type, ...fields }));
        assert.ok(parsed.ok, `${type} ${JSON.stringify(fields)}: ${parsed.ok ? '' : parsed.reason}`);
        assert.equal(parsed.message.type, type);
      }
      for (const fields of invalid) {
        const parsed = parseClientMessage(JSON.stringify({ type, ...fields }));
        assert.equal(parsed.ok, false, `${type} ${JSON.stringify(fields)} should be refused`);
        assert.equal(parsed.ok || parsed.code, 'bad_message');
      }
      // Strict: an unknown field is refused rather than dropped.
      const extra = parseClientMessage(JSON.stringify({ type, ...valid[0], surprise: 1 }));
      assert.equal(extra.ok, false);
    });
  }

  test('a client-supplied from is from_not_allowed, with the request id kept', () => {
    const parsed = parseClientMessage(JSON.stringify({ type: 'offer', to: 'bob', sdp: 'v=0', from: 'bob', rid: 4 }));
    assert.deepEqual(parsed, {
      ok: false,
      code: 'from_not_allowed',
      reason: 'the hub sets `from`; a client may not',
      rid: 4,
    });
  });

  test('not JSON, not an object, no or unknown type: bad_message with a reason', () => {
    for (const text of ['', '{', 'null', '[]', '"hello"', '{}', '{"type":"teleport"}', '{"type":1}']) {
      const parsed = parseClientMessage(text);
      assert.equal(parsed.ok, false, text);
      assert.equal(parsed.ok || parsed.code, 'bad_message');
      assert.ok(parsed.ok || parsed.reason.length > 0);
    }
  });
});

const serverCases: Record<string, { valid: object[]; invalid: object[] }> = {
  welcome: {
    valid: [
      {
        version: PROTOCOL_VERSION,
        id: 'x1',
        iceServers: [{ urls: 'stun:127.0.0.1:3478' }, { urls: ['turn:h:3478'], username: 'u', credential: 'c' }],
        limits: {
          maxMessageBytes: 1,
          messagesPerSecond: 1,
          maxRoomsPerPeer: 1,
          maxPeersPerRoom: 1,
          heartbeatIntervalMs: 1,
        },
      },
    ],
    invalid: [{ version: 1, id: 'x1', iceServers: [] }],
  },
  joined: {
    valid: [
      { room: 'r', members: ['a', 'b'], capacity: null },
      { room: 'r', members: [], capacity: 2, rid: 1 },
    ],
    invalid: [{ room: 'r', members: 'a', capacity: null }],
  },
  left: { valid: [{ room: 'r' }], invalid: [{}] },
  pong: { valid: [{}, { rid: 2 }], invalid: [{ rid: {} }] },
  ack: { valid: [{ rid: 'a' }], invalid: [{ rid: [] }] },
  'member-joined': { valid: [{ room: 'r', peer: 'p' }], invalid: [{ room: 'r' }] },
  'member-left': {
    valid: ['left', 'closed', 'timeout', 'kicked'].map((reason) => ({ room: 'r', peer: 'p', reason })),
    invalid: [{ room: 'r', peer: 'p', reason: 'vanished' }],
  },
  allocated: { valid: [{ nameplate: 7 }, { nameplate: 7, rid: 1 }], invalid: [{}] },
  claimed: { valid: [{ nameplate: 7, peer: 'p', rid: 1 }], invalid: [{ nameplate: 7 }] },
  released: { valid: [{ nameplate: 7 }], invalid: [{ nameplate: 'x' }] },
  'nameplate-claimed': { valid: [{ nameplate: 7, peer: 'p' }], invalid: [{ peer: 'p' }] },
  'nameplate-unclaimed': { valid: [{ nameplate: 7, peer: 'p' }], invalid: [{ nameplate: 7 }] },
  'nameplate-peer-left': {
    valid: [{ nameplate: 7, peer: 'p', reason: 'closed' }],
    invalid: [{ nameplate: 7, peer: 'p', reason: 'vanished' }],
  },
  error: {
    valid: ERROR_CODES.map((code) => ({ code, message: 'm' })),
    invalid: [{ code: 'no_such_code', message: 'm' }, { code: 'bad_message' }],
  },
  offer: { valid: [{ from: 'a', sdp: 'v=0' }], invalid: [{ sdp: 'v=0' }] },
  answer: { valid: [{ from: 'a', sdp: 'v=0' }], invalid: [{ from: 'a' }] },
  candidate: { valid: [{ from: 'a', candidate }], invalid: [{ from: 'a' }] },
  'end-of-candidates': { valid: [{ from: 'a' }], invalid: [{}] },
  hangup: { valid: [{ from: 'a' }, { from: 'a', reason: 'r' }], invalid: [{ from: 'a', reason: 1 }] },
  message: { valid: [{ from: 'a', data: [1] }], invalid: [{ data: 1 }] },
};

describe('hub → client schemas', () => {
  test('every server message type is covered here', () => {
    const types = [...new Set(ServerMessage.options.map((o) => o.shape.type.value))].sort();
    assert.deepEqual(types, Object.keys(serverCases).sort());
  });

  for (const [type, { valid, invalid }] of Object.entries(serverCases)) {
    test(`${type}: valid forms parse, invalid ones do not`, () => {
      for (const fields of valid) {
        assert.equal(parseServerMessage(JSON.stringify({ type, ...fields }))?.type, type, JSON.stringify(fields));
      }
      for (const fields of invalid) {
        assert.equal(parseServerMessage(JSON.stringify({ type, ...fields })), undefined, JSON.stringify(fields));
      }
      // Lenient: a client ignores fields a newer hub adds.
      assert.ok(parseServerMessage(JSON.stringify({ type, ...valid[0], addedLater: true })));
    });
  }
});

describe('ICE server URIs', () => {
  test('stun: and turn: URIs (RFC 7064/7065) parse with default ports and transport', () => {
    assert.deepEqual(parseIceUrl('stun:127.0.0.1'), {
      scheme: 'stun',
      host: '127.0.0.1',
      port: 3478,
      transport: undefined,
    });
    assert.deepEqual(parseIceUrl('turns:turn.example.org'), {
      scheme: 'turns',
      host: 'turn.example.org',
      port: 5349,
      transport: undefined,
    });
    assert.deepEqual(parseIceUrl('turn:[::1]:3479?transport=tcp'), {
      scheme: 'turn',
      host: '::1',
      port: 3479,
      transport: 'tcp',
    });
    for (const bad of ['http://x', 'stun:', 'stun:h:99999', 'stun:h?transport=udp', 'turn:h?transport=sctp']) {
      assert.throws(() => parseIceUrl(bad), Error, bad);
    }
  });

  test('--ice-server takes TURN credentials as USER:PASS@, percent-decoded', () => {
    assert.deepEqual(parseIceServerSpec('stun:127.0.0.1:3478'), { urls: 'stun:127.0.0.1:3478' });
    assert.deepEqual(parseIceServerSpec('turn:1700000000%3Aalice:s3cr%40t@127.0.0.1:3478?transport=udp'), {
      urls: 'turn:127.0.0.1:3478?transport=udp',
      username: '1700000000:alice',
      credential: 's3cr@t',
    });
    assert.throws(() => parseIceServerSpec('turn:nopass@127.0.0.1'), /USER:PASS@/);
  });
});

test('src/protocol stays isomorphic: no node: imports, no Buffer, no process', () => {
  const dir = new URL('../../src/protocol/', import.meta.url);
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    const source = readFileSync(new URL(name, dir), 'utf8').replace(/\/\/.*$/gm, '');
    assert.doesNotMatch(source, /from ['"]node:|\bBuffer\b|\bprocess\./, name);
  }
});
