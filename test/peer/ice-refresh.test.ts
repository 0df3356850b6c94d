// A long-lived peer's TURN credentials are renewed from GET /_/ice before they expire.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { IceServerRefresher, iceConfigurationUrl, turnExpiry } from '../../src/peer/ice-refresh.ts';
import type { IceServer } from '../../src/protocol/signaling.ts';
import { startFerry } from '../helpers/ferry.ts';

const T = { timeout: 10_000 };
const now = () => Math.floor(Date.now() / 1000);

describe('IceServerRefresher', () => {
  test('turnExpiry reads the earliest TURN REST API expiry and ignores everything else', () => {
    assert.equal(turnExpiry([]), undefined);
    assert.equal(
      turnExpiry([{ urls: 'stun:127.0.0.1' }, { urls: 'turn:h', username: 'alice', credential: 'c' }]),
      undefined,
    );
    assert.equal(
      turnExpiry([
        { urls: 'stun:127.0.0.1', username: '1000000000:x' },
        { urls: ['turn:h?transport=udp', 'turns:h'], username: '1900000000:a', credential: 'c' },
        { urls: 'turn:g', username: '1800000000:b', credential: 'c' },
      ]),
      1_800_000_000,
    );
  });

  test('the /_/ice URL keeps a base path and maps ws(s) to http(s)', () => {
    assert.equal(iceConfigurationUrl('http://127.0.0.1:8080'), 'http://127.0.0.1:8080/_/ice');
    assert.equal(iceConfigurationUrl('https://example.org/ferry/'), 'https://example.org/ferry/_/ice');
    assert.equal(iceConfigurationUrl('wss://example.org'), 'https://example.org/_/ice');
  });

  test('credentials about to expire are replaced by fresh ones from the server', T, async () => {
    const ferry = await startFerry({ turnUrls: ['turn:127.0.0.1:3479'], turnSecret: 'shh', turnTtl: 3600 });
    const stale: IceServer[] = [{ urls: 'turn:127.0.0.1:3479', username: `${now() + 30}:listener`, credential: 'old' }];
    let refresher: IceServerRefresher | undefined;
    try {
      const refreshed = new Promise<IceServer[]>((resolve, reject) => {
        refresher = new IceServerRefresher(ferry.url, stale, { onRefresh: resolve, onError: reject });
      });
      assert.equal(refresher?.current, stale, 'the welcome servers serve until the refresh');
      const fresh = await refreshed;
      assert.equal(refresher?.current, fresh);
      const expiry = turnExpiry(fresh) ?? 0;
      assert.ok(Math.abs(expiry - (now() + 3600)) < 5, `expiry ${expiry}`);
    } finally {
      refresher?.stop();
      await ferry.close();
    }
  });

  test('credentials far from expiry, or none at all, are left alone', T, async () => {
    let fetched = false;
    const refresher = new IceServerRefresher(
      'http://127.0.0.1:1',
      [{ urls: 'turn:h', username: `${now() + 3600}:x`, credential: 'c' }],
      { onRefresh: () => (fetched = true), onError: () => (fetched = true) },
    );
    const none = new IceServerRefresher('http://127.0.0.1:1', [{ urls: 'stun:h' }], {
      onRefresh: () => (fetched = true),
      onError: () => (fetched = true),
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    refresher.stop();
    none.stop();
    assert.equal(fetched, false);
  });

  test('a failing server is reported and the current servers stay', T, async () => {
    const server = http.createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const stale: IceServer[] = [{ urls: 'turn:h', username: `${now() - 1}:x`, credential: 'c' }];
    let refresher: IceServerRefresher | undefined;
    try {
      const failed = new Promise<Error>((resolve) => {
        const { port } = server.address() as AddressInfo;
        refresher = new IceServerRefresher(`http://127.0.0.1:${port}`, stale, { onError: resolve, retryMs: 60_000 });
      });
      assert.match((await failed).message, /GET \/_\/ice answered 503/);
      assert.equal(refresher?.current, stale);
    } finally {
      refresher?.stop();
      server.close();
    }
  });
});
