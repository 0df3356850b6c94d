// Real Chromium (Debian's, through playwright-core) using what Ferry hands out, on loopback: a server-reflexive
// candidate from our STUN responder, and a relay-only data channel to a Node peer through a real coturn, dialled
// through Ferry's signaling with the ICE servers of its welcome.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { ChannelMessageEvent } from '../../src/peer/data-channel.ts';
import { PeerLink } from '../../src/peer/link.ts';
import { cleanup, type SelectedCandidatePair } from '../../src/peer/peer-connection.ts';
import { SignalingClient } from '../../src/peer/signaling-client.ts';
import type { IceServer } from '../../src/protocol/signaling.ts';
import { StunResponder, stunUrl } from '../../src/stun/responder.ts';
import { launchChromium, type TestBrowser } from '../helpers/chromium.ts';
import { type Coturn, startCoturn } from '../helpers/coturn.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';

const T = { timeout: 30_000 };
const PAGE_SCRIPT = fileURLToPath(new URL('./webrtc-page.js', import.meta.url));

interface PairEnd {
  type: string;
  protocol: string;
  address: string;
  port: number;
}
interface DialResult {
  reply: string;
  iceServers: IceServer[];
  pair: { local: PairEnd; remote: PairEnd } | undefined;
}

/** Call one of webrtc-page.js's functions in the page. */
function call<R>(page: Page, name: string, ...args: unknown[]): Promise<R> {
  return page.evaluate(
    ([fn, params]) =>
      (globalThis as unknown as Record<string, (...a: unknown[]) => Promise<R>>)[fn as string]?.(
        ...(params as unknown[]),
      ),
    [name, args] as const,
  ) as Promise<R>;
}

describe('Chromium on loopback', () => {
  let chromium: TestBrowser;
  let page: Page;
  before(async () => {
    chromium = await launchChromium();
    page = await chromium.page();
    await page.addScriptTag({ path: PAGE_SCRIPT });
  });
  after(async () => {
    await chromium?.close();
    cleanup();
  });

  test('gathers a server-reflexive candidate from our STUN responder, at the shifted port', T, async () => {
    const shift = 1000;
    const stun = new StunResponder();
    const [bound] = await stun.start({ port: 0, host: '127.0.0.1', reportedPortShift: shift });
    try {
      const lines = await call<string[]>(
        page,
        'gatherCandidates',
        [{ urls: stunUrl('127.0.0.1', bound?.port ?? 0) }],
        10_000,
      );
      const srflx = lines.find((l) => / typ srflx /.test(l));
      // RFC 8839 §5.1: "<address> <port> typ srflx raddr <base address> rport <base port>".
      const match = srflx && / (\S+) (\d+) typ srflx raddr (\S+) rport (\d+)/.exec(srflx);
      assert.ok(match, `no srflx among ${lines.join(' | ')}`);
      const [, address, port, baseAddress, basePort] = match;
      assert.equal(address, '127.0.0.1');
      assert.equal(baseAddress, '127.0.0.1');
      assert.equal(Number(port), Number(basePort) + shift);
      assert.ok(
        lines.some((l) => l.includes(` 127.0.0.1 ${basePort} typ host`)),
        'the base is a host candidate',
      );
      assert.ok(stun.stats().answered >= 1);
    } finally {
      await stun.close();
    }
  });

  describe('relay-only through coturn', () => {
    let coturn: Coturn;
    let ferry: TestServer;
    before(async () => {
      coturn = await startCoturn();
      ferry = await startFerry({
        turnUrls: [`turn:${coturn.host}:${coturn.port}?transport=udp`],
        turnSecret: coturn.secret,
      });
    });
    after(async () => {
      await ferry?.close();
      await coturn?.stop();
    });

    test('a Chromium page dials a Node peer through Ferry; both select a relay-relay pair', T, async () => {
      const node = await SignalingClient.connect(ferry.url, { id: 'node-relay' });
      let link: PeerLink | undefined;
      let nodePair: SelectedCandidatePair | null = null;
      node.on('offer', (offer) => {
        const accepted = new PeerLink(node, offer.from, { bindAddress: '127.0.0.1', iceTransportPolicy: 'relay' });
        link = accepted;
        accepted.pc.ondatachannel = ({ channel }) => {
          channel.onmessage = ({ data }: ChannelMessageEvent) => {
            // Read now: the page closes its connection as soon as it has the reply.
            nodePair = accepted.pc.getSelectedCandidatePair();
            channel.send(`node got: ${String(data)}`);
          };
        };
        void accepted.accept({ type: 'offer', sdp: offer.sdp });
      });
      try {
        // From Ferry's own origin: the hub refuses WebSocket upgrades from other pages' origins (about:blank's
        // is opaque, `null`).
        await page.goto(`${ferry.url}/version`);
        await page.addScriptTag({ path: PAGE_SCRIPT });
        const wsUrl = `${ferry.url.replace(/^http/, 'ws')}/_/ws`;
        const result = await call<DialResult>(
          page,
          'dialThroughFerry',
          wsUrl,
          'node-relay',
          'relay',
          'hi from chromium',
          20_000,
        );
        assert.equal(result.reply, 'node got: hi from chromium');
        assert.match(JSON.stringify(result.iceServers), /"username":"\d+:[A-Za-z0-9_-]{16}"/);
        assert.equal(result.pair?.local.type, 'relay', JSON.stringify(result.pair));
        assert.equal(result.pair?.remote.type, 'relay', JSON.stringify(result.pair));
        assert.equal(result.pair?.remote.address, coturn.relayIp);
        const seen = nodePair as SelectedCandidatePair | null;
        assert.equal(seen?.local.type, 'relay', JSON.stringify(seen));
        assert.equal(seen?.remote.type, 'relay', JSON.stringify(seen));
        assert.equal(seen?.local.address, coturn.relayIp);
      } finally {
        link?.close('done', false);
        await node.close();
      }
    });
  });
});
