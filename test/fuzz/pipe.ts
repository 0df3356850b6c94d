// `/_/pipe`, the WebSocket entrance to a relay pipe (docs/pipe-websocket.md): odd `path` and `n` parameters, then
// a sequence of binary body messages, the `{"type":"end"}` text (or something else in its place), more after it,
// oversized messages, or a close before the end; half of the valid ones meet an honest receiver. Every message
// back must be one of the documented ones, every error code a documented one, every close a proper one.
import http from 'node:http';
import type { Entrance, Finding, Target } from './harness.ts';
import { describeInput, jsonText, mutateJson, mutateText, oddJson, type Rng } from './rng.ts';
import { finish, openRecorded, properClose, rawFrames, rawWebSocket } from './websocket.ts';

const ERROR_CODES = ['bad_path', 'bad_message', 'bad_n', 'relay_failed'];

function pathParam(rng: Rng, pipe: string): string {
  const raw = rng.pick([
    pipe,
    pipe,
    pipe,
    '',
    'x',
    '//x',
    '/a b',
    '/a#b',
    '/a?b',
    '/\\x',
    '/%00',
    '/%zz',
    '/%E2%80%AE',
    '/€',
    '/😀',
    '/\u0001',
    '/..',
    '/_/health',
    '/_/pipe',
    `/${'a'.repeat(2000)}`,
  ]);
  const value = rng.chance(0.2) ? mutateText(rng, raw) : raw;
  return rng.chance(0.5) ? encodeURIComponent(value) : value;
}

function query(rng: Rng, pipe: string): string {
  const parts: string[] = [];
  if (rng.chance(0.95)) parts.push(`path=${pathParam(rng, pipe)}`);
  if (rng.chance(0.4)) parts.push(`n=${rng.pick(['1', '2', '0', '-1', '1000000', 'x', '', '1.5', '%31'])}`);
  if (rng.chance(0.1)) parts.push(`path=${pathParam(rng, pipe)}`);
  if (rng.chance(0.05)) parts.push('%zz=%zz');
  return parts.join('&');
}

function receive(url: string, path: string): { done: Promise<number>; stop(): void } {
  let req: http.ClientRequest | undefined;
  const done = new Promise<number>((resolve) => {
    req = http.get(`${url}${path}`, { agent: false }, (res) => {
      res.resume();
      res.on('close', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
  return { done, stop: () => req?.destroy() };
}

let counter = 0;

export const pipeEntrance: Entrance = {
  name: 'pipe',
  perBatch: 1,
  concurrency: 12,
  async batch(rng: Rng, target: Target) {
    const pipe = `/fzp-${process.pid}-${counter++}`;
    const q = query(rng, pipe);
    const url = `${target.url.replace(/^http/, 'ws')}/_/pipe?${q}`;
    if (rng.chance(0.15)) {
      const problem = await rawWebSocket(
        target.port,
        `/_/pipe?${q}`,
        rawFrames(rng, '{"type":"end"}'),
        rng.chance(0.3),
      );
      return problem ? [{ input: `raw frames to /_/pipe?${q}`, problem }] : [];
    }
    const receiver = rng.chance(0.5) ? receive(target.url, pipe) : undefined;
    const findings: Finding[] = [];
    const sent: string[] = [];
    let bodyBytes = 0;
    try {
      const socket = await openRecorded(url);
      if ('status' in socket) {
        if (socket.status >= 500 || socket.status === 0)
          findings.push({ input: url, problem: `the upgrade was answered ${socket.status || 'not at all'}` });
        return findings;
      }
      for (let i = rng.int(5); i > 0 && socket.ws.readyState === socket.ws.OPEN; i--) {
        const kind = rng.int(10);
        if (kind < 6) {
          const body = rng.chance(0.02) ? Buffer.alloc(1024 * 1024 + rng.range(1, 10)) : rng.bytes(rng.size(65536));
          sent.push(`binary ${body.length}`);
          bodyBytes += body.length;
          socket.ws.send(body);
        } else if (kind < 8) {
          const text = jsonText(rng, rng.chance(0.5) ? { type: 'end' } : mutateJson(rng, { type: 'end' }));
          sent.push(text);
          socket.ws.send(text);
        } else {
          const text = jsonText(rng, oddJson(rng));
          sent.push(text.slice(0, 100));
          socket.ws.send(text);
        }
      }
      if (rng.chance(0.7) && socket.ws.readyState === socket.ws.OPEN) {
        sent.push('{"type":"end"}');
        socket.ws.send('{"type":"end"}');
      }
      // A valid upload with a receiver is answered `done`; without one it waits, which is not a finding.
      await socket.wait(
        () => socket.messages.some((m) => /"type":"(done|error)"/.test(m.data.toString())),
        receiver ? 500 : 100,
      );
      const code = await finish(socket);
      const input = `${url} then ${describeInput(sent.join(' | '), 300)}`;
      // A socket paused for backpressure (more body than the in-process request buffers, and no receiver reading it)
      // cannot read a close frame queued behind unread body bytes: the server finds the client gone by pinging it
      // once the connection drops (after our terminate), which the harness's check of pipes left behind verifies.
      const mayBePaused = bodyBytes > 16 * 1024;
      if (code === 'hang' && !mayBePaused)
        findings.push({ input, problem: 'the server did not finish the closing handshake' });
      else if (code !== 'hang' && !properClose(code)) findings.push({ input, problem: `closed with ${code}` });
      for (const { data, isBinary } of socket.messages) {
        const problem = checkMessage(data, isBinary);
        if (problem) findings.push({ input, problem: `${problem}: ${describeInput(data, 200)}` });
      }
    } finally {
      if (receiver) {
        const status = await Promise.race([receiver.done, new Promise<number>((r) => setTimeout(() => r(0), 50))]);
        receiver.stop();
        if (status >= 500) findings.push({ input: url, problem: `its receiver was answered ${status}` });
      }
    }
    return findings;
  },
};

function checkMessage(data: Buffer, isBinary: boolean): string | undefined {
  if (isBinary) return 'a binary message from the server';
  let message: { type?: unknown; code?: unknown; status?: unknown; text?: unknown; message?: unknown };
  try {
    message = JSON.parse(data.toString('utf8'));
  } catch {
    return 'a message that is not JSON';
  }
  if (message.type === 'log' && typeof message.text === 'string') return undefined;
  if (message.type === 'done' && typeof message.status === 'number')
    return message.status >= 500 ? 'done with a 5xx' : undefined;
  if (message.type === 'error' && ERROR_CODES.includes(String(message.code)) && typeof message.message === 'string') {
    return message.code === 'relay_failed' ? 'relay_failed (the in-process PUT failed)' : undefined;
  }
  return 'an undocumented message';
}
