// Node peers (node-datachannel) using what Ferry hands them, on loopback: a server-reflexive candidate from our STUN
// responder, and a relay-only connection through a real coturn with the credentials of the hub's welcome.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ChannelMessageEvent, PeerDataChannel } from '../../src/peer/data-channel.ts';
import { PeerLink } from '../../src/peer/link.ts';
import { cleanup, hasTurnOverUdp, type IceCandidateEvent, PeerConnection } from '../../src/peer/peer-connection.ts';
import { SignalingClient } from '../../src/peer/signaling-client.ts';
import { StunResponder, stunUrl } from '../../src/stun/responder.ts';
import { type Coturn, startCoturn } from '../helpers/coturn.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';

const T = { timeout: 20_000 };

after(() => cleanup());

/** Resolve with the first candidate `accept` likes; reject after `timeoutMs` with every candidate seen. */
function candidateWhere(pc: PeerConnection, accept: (c: string) => boolean, timeoutMs = 5000): Promise<string> {
  const seen: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no such candidate in ${timeoutMs} ms: ${seen.join(' | ')}`)),
      timeoutMs,
    );
    pc.addEventListener('icecandidate', (e) => {
      const line = (e as IceCandidateEvent).candidate?.candidate;
      if (!line) return;
      seen.push(line);
      if (accept(line)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
  });
}

describe('STUN: node-datachannel gathers a server-reflexive candidate from our responder', () => {
  test("srflx at the host candidate's port plus the shift", T, async () => {
    const shift = 1000;
    const stun = new StunResponder();
    const [bound] = await stun.start({ port: 0, host: '127.0.0.1', reportedPortShift: shift });
    const pc = new PeerConnection({
      bindAddress: '127.0.0.1',
      iceServers: [{ urls: stunUrl('127.0.0.1', bound?.port ?? 0) }],
    });
    try {
      // A srflx candidate can come after gathering reports "complete" (see the notes): wait for it, not for the end.
      const host = candidateWhere(pc, (c) => / typ host/.test(c));
      const srflx = candidateWhere(pc, (c) => / typ srflx/.test(c));
      pc.createDataChannel('probe');
      await pc.createOffer();
      // RFC 8839 §5.1: "<foundation> <component> <transport> <priority> <address> <port> typ <type> …". libjuice
      // writes the related address as 0.0.0.0:0, so the base is the host candidate (one socket, one host address).
      const addressOf = (line: string) => / (\S+) (\d+) typ /.exec(line)?.slice(1) ?? [];
      const [srflxAddress, srflxPort] = addressOf(await srflx);
      const [hostAddress, hostPort] = addressOf(await host);
      assert.equal(hostAddress, '127.0.0.1');
      assert.equal(srflxAddress, '127.0.0.1');
      assert.equal(Number(srflxPort), Number(hostPort) + shift);
      assert.ok(stun.stats().answered >= 1);
    } finally {
      pc.close();
      await stun.close();
    }
  });
});

test('only turn: over UDP counts as a TURN server node-datachannel can use (libjuice relays over UDP only)', () => {
  assert.equal(hasTurnOverUdp([{ urls: 'turn:h' }]), true);
  assert.equal(hasTurnOverUdp([{ urls: ['turns:h', 'turn:h:3479?transport=udp'] }]), true);
  for (const urls of ['turn:h?transport=tcp', 'turns:h', 'stun:h', 'stuns:h', 'not a uri']) {
    assert.equal(hasTurnOverUdp([{ urls }]), false, urls);
  }
});

describe('TURN: two Node peers relay-only through coturn, with the credentials of the hub', () => {
  let coturn: Coturn;
  let ferry: TestServer;
  before(async () => {
    coturn = await startCoturn();
    ferry = await startFerry({ turnUrls: [`turn:${coturn.host}:${coturn.port}`], turnSecret: coturn.secret });
  });
  after(async () => {
    await ferry?.close();
    await coturn?.stop();
  });

  test('the channel opens on a relay-relay pair on both sides and carries 4 MiB intact', T, async () => {
    const relayOnly = { bindAddress: '127.0.0.1', iceTransportPolicy: 'relay' as const };
    const listener = await SignalingClient.connect(ferry.url, { id: 'relay-listener' });
    const caller = await SignalingClient.connect(ferry.url);
    const links: PeerLink[] = [];
    try {
      const accepted = new Promise<{ link: PeerLink; channel: PeerDataChannel }>((resolve) => {
        listener.on('offer', (offer) => {
          const link = new PeerLink(listener, offer.from, relayOnly);
          links.push(link);
          link.pc.ondatachannel = ({ channel }) => resolve({ link, channel });
          void link.accept({ type: 'offer', sdp: offer.sdp });
        });
      });
      const link = new PeerLink(caller, 'relay-listener', relayOnly);
      links.push(link);
      const channel = await link.dial('bulk');
      await new Promise((resolve) => channel.addEventListener('open', resolve, { once: true }));
      const remote = await accepted;

      for (const pc of [link.pc, remote.link.pc]) {
        const pair = pc.getSelectedCandidatePair();
        assert.equal(pair?.local.type, 'relay', JSON.stringify(pair));
        assert.equal(pair?.remote.type, 'relay', JSON.stringify(pair));
        assert.equal(pair?.local.address, coturn.relayIp);
      }

      const payload = Buffer.alloc(4 << 20);
      for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i);
      const received = new Promise<Buffer>((resolve) => {
        const parts: Buffer[] = [];
        let bytes = 0;
        remote.channel.onmessage = ({ data }: ChannelMessageEvent) => {
          const part = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
          parts.push(part);
          bytes += part.length;
          if (bytes >= payload.length) resolve(Buffer.concat(parts));
        };
      });
      for (let offset = 0; offset < payload.length; offset += 64 << 10) {
        channel.send(payload.subarray(offset, offset + (64 << 10)));
        if (channel.bufferedAmount > 1 << 20) {
          channel.bufferedAmountLowThreshold = 512 << 10;
          await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
        }
      }
      const got = await received;
      const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      assert.equal(sha256(got), sha256(payload));
    } finally {
      for (const link of links) link.close('done', false);
      await Promise.all([listener.close(), caller.close()]);
    }
  });
});
