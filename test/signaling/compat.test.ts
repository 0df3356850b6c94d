// The seed protocol, tested with a client written from its wire format alone (SPEC §2): JSON frames
// {"command": N, "payload": base64(JSON {"source","target","body": base64})}, replies N+100 with
// base64(JSON {"code","msg"}). Nothing here imports the server's compat code.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import { TestSocket } from '../helpers/ws.ts';

const T = { timeout: 10_000 };
const b64 = (value: string) => Buffer.from(value).toString('base64');
const unb64 = (value: string) => Buffer.from(value, 'base64').toString('utf8');

class SeedClient {
  constructor(readonly socket: TestSocket) {}

  static async open(url: string, endpoint: '/register' | '/offer'): Promise<SeedClient> {
    return new SeedClient(await TestSocket.open(`${url.replace(/^http/, 'ws')}${endpoint}`));
  }

  send(command: number, request: { source?: string; target?: string; body?: string }): void {
    const payload = { ...request, body: request.body === undefined ? undefined : b64(request.body) };
    this.socket.send({ command, payload: b64(JSON.stringify(payload)) });
  }

  /** The next frame, payload decoded one level (and `body` too, when there is one). */
  async next(): Promise<{ command: number; payload: Record<string, unknown> }> {
    const frame = await this.socket.next();
    const payload = JSON.parse(unb64(frame.payload as string)) as Record<string, unknown>;
    if (typeof payload.body === 'string') payload.body = unb64(payload.body);
    return { command: frame.command as number, payload };
  }

  close() {
    return this.socket.close();
  }
}

const OK = { code: 0, msg: 'ok' };

describe('seed-protocol endpoint (/register, /offer)', () => {
  let ferry: TestServer;
  before(async () => {
    ferry = await startFerry();
  });
  after(() => ferry.close());

  test('register, offer forwarded, answer back, candidates both ways', T, async () => {
    const answerer = await SeedClient.open(ferry.url, '/register');
    answerer.send(1, { source: 'answer-1' });
    assert.deepEqual(await answerer.next(), { command: 101, payload: OK });

    const offerer = await SeedClient.open(ferry.url, '/offer');
    const offerSdp = JSON.stringify({ type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n' });
    offerer.send(3, { source: 'offer-1', target: 'answer-1', body: offerSdp });
    assert.deepEqual(await offerer.next(), { command: 103, payload: OK });
    assert.deepEqual(await answerer.next(), {
      command: 3,
      payload: { source: 'offer-1', target: 'answer-1', body: offerSdp },
    });

    const candidate = JSON.stringify({ candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host' });
    offerer.send(4, { source: 'offer-1', target: 'answer-1', body: candidate });
    assert.deepEqual(await offerer.next(), { command: 104, payload: OK });
    assert.deepEqual(await answerer.next(), {
      command: 4,
      payload: { source: 'offer-1', target: 'answer-1', body: candidate },
    });

    const answerSdp = JSON.stringify({ type: 'answer', sdp: 'v=0\r\n' });
    answerer.send(2, { source: 'answer-1', target: 'offer-1', body: answerSdp });
    assert.deepEqual(await answerer.next(), { command: 102, payload: OK });
    assert.deepEqual(await offerer.next(), {
      command: 2,
      payload: { source: 'answer-1', target: 'offer-1', body: answerSdp },
    });

    const back = JSON.stringify({ candidate: 'candidate:2 1 udp 1 127.0.0.1 5001 typ host' });
    answerer.send(4, { source: 'answer-1', target: 'offer-1', body: back });
    assert.deepEqual(await answerer.next(), { command: 104, payload: OK });
    assert.deepEqual(await offerer.next(), {
      command: 4,
      payload: { source: 'answer-1', target: 'offer-1', body: back },
    });
    await Promise.all([answerer.close(), offerer.close()]);
  });

  test('an unknown target gets a non-zero code with a reason', T, async () => {
    const offerer = await SeedClient.open(ferry.url, '/offer');
    offerer.send(3, { source: 'offer-2', target: 'nobody', body: '{}' });
    assert.deepEqual(await offerer.next(), { command: 103, payload: { code: 2, msg: "unknown target 'nobody'" } });
    const answerer = await SeedClient.open(ferry.url, '/register');
    answerer.send(1, { source: 'answer-2' });
    await answerer.next();
    answerer.send(2, { source: 'answer-2', target: 'gone', body: '{}' });
    assert.deepEqual(await answerer.next(), { command: 102, payload: { code: 2, msg: "unknown target 'gone'" } });
    await Promise.all([answerer.close(), offerer.close()]);
  });

  test(
    'a taken id, another source, a wrong command and a bad frame are refused; the peer stays usable',
    T,
    async () => {
      const first = await SeedClient.open(ferry.url, '/register');
      first.send(1, { source: 'dup' });
      await first.next();
      const second = await SeedClient.open(ferry.url, '/register');
      second.send(1, { source: 'dup' });
      assert.deepEqual(await second.next(), { command: 101, payload: { code: 3, msg: "id 'dup' is taken" } });
      second.send(1, { source: 'dup-2' });
      assert.deepEqual(await second.next(), { command: 101, payload: OK });
      second.send(4, { source: 'dup', target: 'x', body: '{}' });
      assert.equal((await second.next()).payload.code, 4, 'cannot speak as another id');
      second.send(3, { source: 'dup-2', target: 'dup', body: '{}' });
      assert.deepEqual(await second.next(), {
        command: 103,
        payload: { code: 4, msg: 'command 3 is not accepted on /register' },
      });
      second.socket.send('{"command": 1, "payload": "not base64!"}');
      assert.deepEqual(await second.next(), {
        command: 101,
        payload: { code: 1, msg: 'malformed frame or payload' },
      });
      second.socket.send('nonsense');
      assert.equal((await second.next()).command, 100);

      // An answer may go only to an offer peer that sent this answer peer something.
      const offerer = await SeedClient.open(ferry.url, '/offer');
      offerer.send(1, { source: 'lonely-offer' });
      await offerer.next();
      second.send(2, { source: 'dup-2', target: 'lonely-offer', body: '{}' });
      assert.equal((await second.next()).payload.code, 4);
      offerer.send(3, { target: 'dup-2', body: '{}' });
      assert.deepEqual(await offerer.next(), { command: 103, payload: OK });
      assert.equal((await second.next()).payload.source, 'lonely-offer', 'source stamped from the registration');
      second.send(2, { source: 'dup-2', target: 'lonely-offer', body: '{"type":"answer"}' });
      assert.deepEqual(await second.next(), { command: 102, payload: OK });
      assert.equal((await offerer.next()).payload.body, '{"type":"answer"}');
      await Promise.all([first.close(), second.close(), offerer.close()]);
    },
  );
});
