import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawWebSocket } from '../fuzz/websocket.ts';
import { curl } from '../helpers/curl.ts';
import { spawnFerry, startFerry, type TestServer } from '../helpers/ferry.ts';
import { TestSocket } from '../helpers/ws.ts';

const T = { timeout: 30_000 };

/** Two peers in one room that prove, after each failure case, that the hub still serves everyone else. */
async function bystanders(url: string, room: string) {
  const a = await TestSocket.peer(url);
  const b = await TestSocket.peer(url);
  a.send({ type: 'join', room });
  await a.next();
  b.send({ type: 'join', room });
  await b.next();
  assert.equal((await a.next()).type, 'member-joined');
  return {
    a,
    b,
    async stillWork() {
      a.send({ type: 'candidate', to: b.id, candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' } });
      const got = await b.next();
      assert.equal(got.type, 'candidate');
      assert.equal(got.from, a.id);
    },
    close: () => Promise.all([a.close(), b.close()]),
  };
}

describe('hello and ids', () => {
  let ferry: TestServer;
  before(async () => {
    ferry = await startFerry({ iceServers: [{ urls: 'stun:127.0.0.1:3478' }] });
  });
  after(() => ferry.close());

  test('a peer gets a server-made id, the ICE configuration and the limits; the version is agreed', T, async () => {
    const socket = await TestSocket.open(`${ferry.url.replace('http', 'ws')}/_/ws`);
    socket.send({ type: 'hello', versions: [2, 1], rid: 'h' });
    const welcome = await socket.next();
    assert.equal(welcome.type, 'welcome');
    assert.equal(welcome.rid, 'h');
    assert.equal(welcome.version, 1);
    assert.match(welcome.id as string, /^[A-Za-z0-9_-]{12}$/);
    assert.deepEqual(welcome.iceServers, [{ urls: 'stun:127.0.0.1:3478' }]);
    assert.deepEqual(welcome.limits, {
      maxMessageBytes: 65536,
      messagesPerSecond: 100,
      maxRoomsPerPeer: 32,
      maxPeersPerRoom: 100,
      heartbeatIntervalMs: 30000,
    });
    await socket.close();
  });

  test(
    'a requested id is granted if free, refused with id_taken if not; the refused peer may try again',
    T,
    async () => {
      const alice = await TestSocket.peer(ferry.url, { id: 'alice' });
      assert.equal(alice.id, 'alice');
      const other = await TestSocket.open(`${ferry.url.replace('http', 'ws')}/_/ws`);
      other.send({ type: 'hello', versions: [1], id: 'alice', rid: 7 });
      assert.deepEqual(await other.next(), {
        type: 'error',
        rid: 7,
        code: 'id_taken',
        message: "the id 'alice' is in use; pick another or omit it",
      });
      other.send({ type: 'hello', versions: [1], id: 'alice2' });
      assert.equal((await other.next()).id, 'alice2');
      // The id is free again once its holder is gone.
      await alice.close();
      const again = await TestSocket.peer(ferry.url, { id: 'alice' });
      assert.equal(again.id, 'alice');
      await Promise.all([again.close(), other.close()]);
    },
  );

  test(
    'a server-made id can never be asked for, so none is taken over once its peer leaves (id_reserved)',
    T,
    async () => {
      const first = await TestSocket.peer(ferry.url);
      assert.match(first.id, /^_[A-Za-z0-9_-]{11}$/);
      const friend = await TestSocket.peer(ferry.url);
      await first.close();
      const thief = await TestSocket.open(`${ferry.url.replace('http', 'ws')}/_/ws`);
      thief.send({ type: 'hello', versions: [1], id: first.id, rid: 1 });
      const refused = await thief.next();
      assert.equal(refused.code, 'id_reserved');
      assert.equal(refused.rid, 1);
      // Still unregistered: the connection stays, and another id is fine.
      thief.send({ type: 'hello', versions: [1], id: 'honest-name' });
      assert.equal((await thief.next()).id, 'honest-name');
      friend.send({ type: 'message', to: first.id, data: 'for the departed', rid: 2 });
      assert.equal((await friend.next()).code, 'unknown_target');
      await thief.expectNothingPending();
      await Promise.all([thief.close(), friend.close()]);
    },
  );

  test('an unsupported version gets unsupported_version, then the connection closes (1002)', T, async () => {
    const socket = await TestSocket.open(`${ferry.url.replace('http', 'ws')}/_/ws`);
    socket.send({ type: 'hello', versions: [9] });
    const error = await socket.next();
    assert.equal(error.code, 'unsupported_version');
    assert.deepEqual(error.versions, [1]);
    assert.equal((await socket.closed).code, 1002);
  });

  test('anything before hello gets hello_required; a second hello gets already_registered', T, async () => {
    const socket = await TestSocket.open(`${ferry.url.replace('http', 'ws')}/_/ws`);
    socket.send({ type: 'join', room: 'r', rid: 1 });
    assert.equal((await socket.next()).code, 'hello_required');
    socket.send({ type: 'hello', versions: [1] });
    await socket.next();
    socket.send({ type: 'hello', versions: [1], rid: 2 });
    const error = await socket.next();
    assert.equal(error.code, 'already_registered');
    assert.equal(error.rid, 2);
    await socket.close();
  });

  test('malformed JSON and invalid messages get bad_message (request id echoed when readable)', T, async () => {
    const room = await bystanders(ferry.url, 'bad-json');
    const socket = await TestSocket.peer(ferry.url);
    socket.send('{not json');
    assert.deepEqual(await socket.next(), { type: 'error', code: 'bad_message', message: 'not JSON' });
    socket.send({ type: 'join', room: '', rid: 'x' });
    const invalid = await socket.next();
    assert.equal(invalid.code, 'bad_message');
    assert.equal(invalid.rid, 'x');
    assert.match(invalid.message as string, /^room: /);
    socket.send({ type: 'teleport', rid: 3 });
    assert.equal((await socket.next()).code, 'bad_message');
    await socket.expectNothingPending();
    await room.stillWork();
    await Promise.all([socket.close(), room.close()]);
  });

  test('the health endpoint counts signaling peers and rooms', T, async () => {
    const socket = await TestSocket.peer(ferry.url);
    socket.send({ type: 'join', room: 'counted' });
    await socket.next();
    const health = JSON.parse((await curl(['-s', `${ferry.url}/_/health`])).stdout.toString());
    assert.ok(health.signaling.peers >= 1);
    assert.ok(health.signaling.rooms >= 1);
    await socket.close();
  });
});

describe('rooms', () => {
  let ferry: TestServer;
  before(async () => {
    ferry = await startFerry({ maxRoomsPerPeer: 2, maxPeersPerRoom: 3 });
  });
  after(() => ferry.close());

  test('join lists the members already there and tells them; leave tells them too', T, async () => {
    const a = await TestSocket.peer(ferry.url);
    const b = await TestSocket.peer(ferry.url);
    a.send({ type: 'join', room: 'lobby', rid: 1 });
    assert.deepEqual(await a.next(), { type: 'joined', rid: 1, room: 'lobby', members: [], capacity: null });
    b.send({ type: 'join', room: 'lobby', rid: 2 });
    assert.deepEqual(await b.next(), { type: 'joined', rid: 2, room: 'lobby', members: [a.id], capacity: null });
    assert.deepEqual(await a.next(), { type: 'member-joined', room: 'lobby', peer: b.id });
    b.send({ type: 'leave', room: 'lobby', rid: 3 });
    assert.deepEqual(await b.next(), { type: 'left', rid: 3, room: 'lobby' });
    assert.deepEqual(await a.next(), { type: 'member-left', room: 'lobby', peer: b.id, reason: 'left' });
    b.send({ type: 'leave', room: 'lobby', rid: 4 });
    assert.equal((await b.next()).code, 'not_in_room');
    await b.close();
    await a.close();
  });

  test('a disconnecting member is announced with reason closed', T, async () => {
    const a = await TestSocket.peer(ferry.url);
    const b = await TestSocket.peer(ferry.url);
    a.send({ type: 'join', room: 'bye' });
    await a.next();
    b.send({ type: 'join', room: 'bye' });
    await b.next();
    await a.next();
    await b.close();
    assert.deepEqual(await a.next(), { type: 'member-left', room: 'bye', peer: b.id, reason: 'closed' });
    await a.close();
  });

  test('a room with capacity 2 answers room_full to a third; the room vanishes when empty', T, async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => TestSocket.peer(ferry.url)));
    assert.ok(a && b && c);
    a.send({ type: 'join', room: 'call', capacity: 2 });
    assert.equal((await a.next()).capacity, 2);
    b.send({ type: 'join', room: 'call', capacity: 5 });
    assert.equal((await b.next()).capacity, 2, 'the creator sets the capacity');
    assert.equal((await a.next()).type, 'member-joined');
    c.send({ type: 'join', room: 'call', rid: 'c' });
    const full = await c.next();
    assert.equal(full.code, 'room_full');
    assert.equal(full.rid, 'c');
    await a.expectNothingPending();
    for (const s of [a, b]) s.send({ type: 'leave', room: 'call' });
    await Promise.all([a.next(), b.next()]);
    // Empty, so gone: the next join creates it anew with its own capacity.
    c.send({ type: 'join', room: 'call', capacity: 3 });
    assert.equal((await c.next()).capacity, 3);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  test('joining twice is already_in_room; rooms per peer and peers per room are limited', T, async () => {
    const a = await TestSocket.peer(ferry.url);
    a.send({ type: 'join', room: 'one' });
    await a.next();
    a.send({ type: 'join', room: 'one' });
    assert.equal((await a.next()).code, 'already_in_room');
    a.send({ type: 'join', room: 'two' });
    await a.next();
    a.send({ type: 'join', room: 'three' });
    const tooMany = await a.next();
    assert.equal(tooMany.code, 'too_many_rooms');
    assert.match(tooMany.message as string, /2 rooms/);

    const others = await Promise.all([1, 2, 3].map(() => TestSocket.peer(ferry.url)));
    const codes: unknown[] = [];
    for (const s of others) {
      s.send({ type: 'join', room: 'one', capacity: 50 });
      codes.push((await s.next()).code ?? 'joined');
    }
    // a + 2 = 3 members, the hub's limit, whatever capacity was asked for.
    assert.deepEqual(codes, ['joined', 'joined', 'room_full']);
    await Promise.all([a.close(), ...others.map((s) => s.close())]);
  });
});

describe('forwarding', () => {
  let ferry: TestServer;
  before(async () => {
    ferry = await startFerry();
  });
  after(() => ferry.close());

  const candidate = { candidate: 'candidate:1 1 udp 2114977791 127.0.0.1 50000 typ host', sdpMid: '0' };

  test('within a shared room: from is stamped, rid is not passed on but gets an ack', T, async () => {
    const room = await bystanders(ferry.url, 'fwd');
    room.a.send({ type: 'offer', to: room.b.id, sdp: 'v=0\r\n', rid: 'o1' });
    assert.deepEqual(await room.b.next(), { type: 'offer', to: room.b.id, sdp: 'v=0\r\n', from: room.a.id });
    assert.deepEqual(await room.a.next(), { type: 'ack', rid: 'o1' });
    for (const message of [
      { type: 'answer', sdp: 'v=0\r\n' },
      { type: 'candidate', candidate },
      { type: 'end-of-candidates' },
      { type: 'hangup', reason: 'bye' },
      { type: 'message', data: { pake: [1, 2, 3] } },
    ]) {
      room.b.send({ ...message, to: room.a.id });
      assert.deepEqual(await room.a.next(), { ...message, to: room.a.id, from: room.b.id });
    }
    await room.close();
  });

  test('a message is forwarded exactly, whatever its whitespace; from is added to it', T, async () => {
    const room = await bystanders(ferry.url, 'spacing');
    const raw = `\n{ "type" : "message", "to" : "${room.b.id}", "data" : { "from" : "not me", "list" : [ 1, 2 ] } }  \n`;
    room.a.send(raw);
    const got = await room.b.nextText();
    assert.deepEqual(JSON.parse(got), {
      type: 'message',
      to: room.b.id,
      data: { from: 'not me', list: [1, 2] },
      from: room.a.id,
    });
    await room.close();
  });

  test('a message is forwarded exactly, whatever its whitespace; from is added to it', T, async () => {
    const room = await bystanders(ferry.url, 'spacing');
    const raw = `\n{ "type" : "message", "to" : "${room.b.id}", "data" : { "from" : "not me", "list" : [ 1, 2 ] } }  \n`;
    room.a.send(raw);
    assert.deepEqual(JSON.parse(await room.b.nextText()), {
      type: 'message',
      to: room.b.id,
      data: { from: 'not me', list: [1, 2] },
      from: room.a.id,
    });
    await room.close();
  });

  test('a peer sharing no room with a server-made id is not_allowed, and nothing reaches it', T, async () => {
    const a = await TestSocket.peer(ferry.url);
    const b = await TestSocket.peer(ferry.url);
    a.send({ type: 'offer', to: b.id, sdp: 'v=0', rid: 9 });
    const refused = await a.next();
    assert.equal(refused.code, 'not_allowed');
    assert.equal(refused.rid, 9);
    await b.expectNothingPending();
    await Promise.all([a.close(), b.close()]);
  });

  test('after leaving the shared room, the former room-mate is no longer reachable', T, async () => {
    const room = await bystanders(ferry.url, 'was-shared');
    room.b.send({ type: 'leave', room: 'was-shared' });
    await room.b.next();
    await room.a.next(); // member-left
    room.a.send({ type: 'candidate', to: room.b.id, candidate });
    assert.equal((await room.a.next()).code, 'not_allowed');
    await room.b.expectNothingPending();
    await room.close();
  });

  test('a requested (public) id is reachable by anyone, and it may answer whoever addressed it', T, async () => {
    const listener = await TestSocket.peer(ferry.url, { id: 'public-listener' });
    const caller = await TestSocket.peer(ferry.url);
    const stranger = await TestSocket.peer(ferry.url);
    caller.send({ type: 'offer', to: 'public-listener', sdp: 'v=0' });
    assert.deepEqual(await listener.next(), { type: 'offer', to: 'public-listener', sdp: 'v=0', from: caller.id });
    listener.send({ type: 'answer', to: caller.id, sdp: 'v=0 answer' });
    assert.deepEqual(await caller.next(), {
      type: 'answer',
      to: caller.id,
      sdp: 'v=0 answer',
      from: 'public-listener',
    });
    // The listener may answer its caller, not a stranger it was never contacted by.
    listener.send({ type: 'candidate', to: stranger.id, candidate, rid: 's' });
    assert.equal((await listener.next()).code, 'not_allowed');
    await stranger.expectNothingPending();
    await Promise.all([listener.close(), caller.close(), stranger.close()]);
  });

  test('an unknown or departed target gets unknown_target, not silence', T, async () => {
    const room = await bystanders(ferry.url, 'departed');
    room.a.send({ type: 'offer', to: 'nobody-here', sdp: 'v=0', rid: 1 });
    assert.deepEqual(await room.a.next(), {
      type: 'error',
      rid: 1,
      code: 'unknown_target',
      message: "no peer 'nobody-here' is connected",
      to: 'nobody-here',
    });
    const goneId = room.b.id;
    await room.b.close();
    await room.a.next(); // member-left
    room.a.send({ type: 'hangup', to: goneId, rid: 2 });
    assert.equal((await room.a.next()).code, 'unknown_target');
    await room.a.close();
  });

  test('a client-supplied from is refused with from_not_allowed and not forwarded', T, async () => {
    const room = await bystanders(ferry.url, 'forged');
    room.a.send({ type: 'offer', to: room.b.id, from: room.b.id, sdp: 'v=0', rid: 'f' });
    const refused = await room.a.next();
    assert.equal(refused.code, 'from_not_allowed');
    assert.equal(refused.rid, 'f');
    await room.b.expectNothingPending();
    await room.stillWork();
    await room.close();
  });
});

describe('limits', () => {
  let ferry: TestServer;
  before(async () => {
    ferry = await startFerry({ maxMessageSize: 1024, messageRate: 20 });
  });
  after(() => ferry.close());

  test('an oversized message gets too_large and the connection stays usable', T, async () => {
    const room = await bystanders(ferry.url, 'big');
    room.a.send({ type: 'message', to: room.b.id, data: 'x'.repeat(2000) });
    assert.deepEqual(await room.a.next(), {
      type: 'error',
      code: 'too_large',
      message: 'larger than 1024 bytes',
    });
    await room.b.expectNothingPending();
    await room.stillWork();
    await room.close();
  });

  test('a frame over four times the limit closes that connection (1009); others keep working', T, async () => {
    const room = await bystanders(ferry.url, 'huge');
    const big = await TestSocket.peer(ferry.url);
    big.send({ type: 'ping', pad: 'x'.repeat(5000) });
    assert.equal((await big.closed).code, 1009);
    await room.stillWork();
    await room.close();
  });

  test('a flood gets rate_limited, then the flooder is disconnected (1008) and its rooms told', T, async () => {
    const room = await bystanders(ferry.url, 'flood');
    const flooder = await TestSocket.peer(ferry.url);
    flooder.send({ type: 'join', room: 'flood' });
    await flooder.next();
    await Promise.all([room.a.next(), room.b.next()]); // member-joined
    // 20 per second allowed, 20 more refused, then it is out: 100 messages is plenty, sent at once.
    for (let i = 0; i < 100; i++) flooder.send({ type: 'ping', rid: i });
    assert.equal((await flooder.closed).code, 1008);
    const replies = flooder.drain();
    const pongs = replies.filter((r) => r.type === 'pong').length;
    const limited = replies.filter((r) => r.code === 'rate_limited').length;
    assert.ok(pongs >= 10 && limited >= 1 && limited <= 21, `${pongs} pongs, ${limited} rate_limited errors`);
    for (const s of [room.a, room.b]) {
      assert.deepEqual(await s.next(), { type: 'member-left', room: 'flood', peer: flooder.id, reason: 'kicked' });
    }
    await room.stillWork();
    await room.close();
  });

  test(
    'a frame ws cannot read (length over 2^53), more bytes, FIN: the connection is gone within seconds',
    T,
    async () => {
      // A 64-bit payload length near 2^63: ws refuses it and stops reading, so with more bytes behind it in the
      // socket it used to miss the client's FIN and hold the connection until its own 30 s close timer.
      const connections = async () =>
        JSON.parse((await curl(['-s', `${ferry.url}/_/health`])).stdout.toString()).signaling.connections as number;
      const before = await connections();
      const header = Buffer.from([0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
      const frames = Buffer.concat([header, Buffer.alloc(70_000, 0x6a)]);
      assert.equal(await rawWebSocket(ferry.port, '/_/ws', frames, false), undefined);
      const started = Date.now();
      while ((await connections()) > before) {
        assert.ok(Date.now() - started < 5000, 'the hub still holds the connection after 5 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  );

  test('over the total peer limit a connection gets server_full and closes (1013)', T, async () => {
    const small = await startFerry({ maxPeers: 3 });
    const held = await Promise.all(Array.from({ length: 3 }, () => TestSocket.peer(small.url)));
    const extra = await TestSocket.open(`${small.url.replace('http', 'ws')}/_/ws`);
    assert.equal((await extra.next()).code, 'server_full');
    assert.equal((await extra.closed).code, 1013);
    await held[0]?.expectNothingPending();
    await Promise.all(held.map((s) => s.close()));
    await small.close();
  });
});

describe('per-client shares', () => {
  const other = { localAddress: '127.0.0.2' };

  /** The hub hears of a close a moment after the client: try again for a while. */
  async function eventually<R>(attempt: () => Promise<R>): Promise<R> {
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (i === 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  test('one address holds --max-peers-per-client connections; the next gets too_many_peers (1008)', T, async () => {
    const ferry = await startFerry({ maxPeersPerClient: 3 });
    const held = await Promise.all(Array.from({ length: 3 }, () => TestSocket.peer(ferry.url)));
    const extra = await TestSocket.open(`${ferry.url.replace('http', 'ws')}/_/ws`);
    const refusal = await extra.next();
    assert.equal(refusal.code, 'too_many_peers');
    assert.match(refusal.message as string, /3 signaling connections/);
    assert.equal((await extra.closed).code, 1008);
    // The seed protocol's endpoints draw on the same share.
    const seed = await TestSocket.open(`${ferry.url.replace('http', 'ws')}/register`);
    assert.equal((await seed.closed).code, 1008);
    // Another address is not affected, and a closed connection gives its slot back.
    const honest = await TestSocket.peer(ferry.url, {}, other);
    await held[0]?.close();
    const again = await eventually(() => TestSocket.peer(ferry.url));
    await Promise.all([...held.slice(1), honest, again].map((s) => s.close()));
    await ferry.close();
  });

  test('the peers of one address hold --max-rooms-per-client memberships together', T, async () => {
    const ferry = await startFerry({ maxRoomsPerClient: 3 });
    const [a, b] = await Promise.all([TestSocket.peer(ferry.url), TestSocket.peer(ferry.url)]);
    const join = async (s: TestSocket, room: string) => {
      s.send({ type: 'join', room, rid: room });
      return s.next();
    };
    for (const [s, room] of [
      [a, 'r1'],
      [a, 'r2'],
      [b, 'r3'],
    ] as const)
      assert.equal((await join(s, room)).type, 'joined');
    const refused = await join(b, 'r4');
    assert.deepEqual([refused.code, refused.rid], ['too_many_rooms', 'r4']);
    const honest = await TestSocket.peer(ferry.url, {}, other);
    assert.equal((await join(honest, 'r4')).type, 'joined');
    assert.equal((await join(honest, 'r1')).type, 'joined');
    // Leaving gives a membership back; a refusal for another reason (already in the room) takes none.
    b.send({ type: 'leave', room: 'r3' });
    assert.equal((await b.next()).type, 'left');
    assert.equal((await join(b, 'r3')).type, 'joined');
    assert.equal((await join(b, 'r3')).code, 'already_in_room');
    assert.equal((await join(b, 'r5')).code, 'too_many_rooms');
    // A departing peer gives back every membership it held.
    await a.close();
    assert.equal((await honest.next()).type, 'member-left');
    for (const room of ['r5', 'r6']) assert.equal((await join(b, room)).type, 'joined');
    await Promise.all([b.close(), honest.close()]);
    await ferry.close();
  });

  test('connections of one address share --message-rate-per-client; another address has its own', T, async () => {
    const ferry = await startFerry({ messageRate: 50, messageRatePerClient: 60 });
    const crowd = await Promise.all(Array.from({ length: 3 }, () => TestSocket.peer(ferry.url)));
    const honest = await TestSocket.peer(ferry.url, {}, other);
    // 30 each at once: every connection is under its own 50, the three together (their hellos drew 3 already)
    // over their 60; and never more than 60 refused, which would be a flood that closes one.
    for (const s of [...crowd, honest]) for (let i = 0; i < 30; i++) s.send({ type: 'ping', rid: i });
    const replies = await Promise.all(
      [...crowd, honest].map(async (s) => {
        const got = [];
        for (let i = 0; i < 30; i++) got.push(await s.next());
        return got;
      }),
    );
    const crowdReplies = replies.slice(0, 3).flat();
    const pongs = crowdReplies.filter((r) => r.type === 'pong').length;
    assert.ok(pongs >= 57 && pongs < 90, `${pongs} of 90 pings answered from the crowd`);
    assert.ok(crowdReplies.every((r) => r.type === 'pong' || r.code === 'rate_limited'));
    assert.deepEqual(
      replies[3]?.map((r) => r.type),
      Array(30).fill('pong'),
    );
    await Promise.all([...crowd, honest].map((s) => s.close()));
    await ferry.close();
  });
});

describe('heartbeat', () => {
  let ferry: TestServer;
  before(async () => {
    ferry = await startFerry({ heartbeatInterval: 0.1 });
  });
  after(() => ferry.close());

  test('a peer that stops answering pings is dropped and its rooms told (timeout)', T, async () => {
    const room = await bystanders(ferry.url, 'silent');
    const silent = await TestSocket.peer(ferry.url, {}, { autoPong: false });
    silent.send({ type: 'join', room: 'silent' });
    await silent.next();
    await Promise.all([room.a.next(), room.b.next()]);
    for (const s of [room.a, room.b]) {
      assert.deepEqual(await s.next(), { type: 'member-left', room: 'silent', peer: silent.id, reason: 'timeout' });
    }
    await silent.closed;
    // The others answered every ping and are still here.
    await room.stillWork();
    await room.close();
  });

  test('a connection that never says hello is closed after one interval (1008)', T, async () => {
    const mute = await TestSocket.open(`${ferry.url.replace('http', 'ws')}/_/ws`);
    const { code, reason } = await mute.closed;
    assert.equal(code, 1008);
    assert.match(reason, /hello/);
  });
});

describe('routing of upgrades', () => {
  let ferry: TestServer;
  before(async () => {
    ferry = await startFerry();
  });
  after(() => ferry.close());

  test('an upgrade elsewhere is refused with 404', T, async () => {
    await assert.rejects(TestSocket.open(`${ferry.url.replace('http', 'ws')}/_/nope`), /404/);
    await assert.rejects(TestSocket.open(`${ferry.url.replace('http', 'ws')}/some/pipe`), /404/);
  });

  test('plain PUT and GET on /register and /offer stay ordinary relay pipes', T, async () => {
    for (const path of ['/register', '/offer']) {
      const receiver = curl(['-s', `${ferry.url}${path}`]);
      const sender = await curl(['-s', '-T', '-', `${ferry.url}${path}`], 'piped through\n');
      assert.equal(sender.code, 0);
      assert.equal((await receiver).stdout.toString(), 'piped through\n');
    }
  });
});

describe('ferry serve flags', () => {
  test(
    '--ice-server (repeatable, with percent-encoded TURN credentials) and FERRY_ICE_SERVERS reach welcome',
    T,
    async () => {
      const served = await spawnFerry(
        [
          '--ice-server',
          'stun:127.0.0.1:3478',
          '--ice-server',
          'turn:1700000000%3Aann:pw@127.0.0.1:3479',
          '--message-rate',
          '7',
        ],
        { FERRY_HEARTBEAT_INTERVAL: '0.5' },
      );
      const socket = await TestSocket.open(`${served.url.replace('http', 'ws')}/_/ws`);
      socket.send({ type: 'hello', versions: [1] });
      const welcome = await socket.next();
      assert.deepEqual(welcome.iceServers, [
        { urls: 'stun:127.0.0.1:3478' },
        { urls: 'turn:127.0.0.1:3479', username: '1700000000:ann', credential: 'pw' },
      ]);
      assert.equal((welcome.limits as { messagesPerSecond: number }).messagesPerSecond, 7);
      assert.equal((welcome.limits as { heartbeatIntervalMs: number }).heartbeatIntervalMs, 500);
      await socket.close();
      assert.equal(await served.stop(), 0);

      const fromEnv = await spawnFerry([], { FERRY_ICE_SERVERS: 'stun:127.0.0.1:3478, stun:127.0.0.1:3480' });
      const other = await TestSocket.open(`${fromEnv.url.replace('http', 'ws')}/_/ws`);
      other.send({ type: 'hello', versions: [1] });
      assert.deepEqual((await other.next()).iceServers, [
        { urls: 'stun:127.0.0.1:3478' },
        { urls: 'stun:127.0.0.1:3480' },
      ]);
      await other.close();
      assert.equal(await fromEnv.stop(), 0);
    },
  );

  test('a malformed --ice-server is a usage error', T, async () => {
    await assert.rejects(spawnFerry(['--ice-server', 'http://nope']), /exited with 2/);
  });
});
