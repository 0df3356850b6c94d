// Signaling benchmarks, Ferry's hub side by side with the PeerJS server (npm `peer`), both on loopback in the
// same run, each in its own process so its memory is its own:
//   1. idle peers: server RSS per connected, registered WebSocket peer;
//   2. forwarding: two peers ping-pong a 2 KB candidate through the server while others sit connected;
//   3. `ferry connect` (the built CLI) from process start to data channel open, against `ferry listen`.
// Usage: node --import tsx bench/signaling.ts [--runs 3] [--peers 5000] [--idle 1000] [--rounds 5000] [--connects 20]
// Results (medians of the runs, and ratios) go to stdout as Markdown; bench/README.md holds the latest.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

type Kind = 'ferry' | 'peerjs';

// ---- server mode: one server in this process, answering "rss" on stdin -------------------------------------

async function serve(kind: Kind): Promise<void> {
  let port: number;
  if (kind === 'ferry') {
    const { defaultConfig } = await import('../src/server/config.ts');
    const { startServer } = await import('../src/server/index.ts');
    const { createLogger } = await import('../src/server/log.ts');
    // The benchmark peers ping-pong as fast as they can: lift the per-peer message rate (default 100/s). All of
    // them come from 127.0.0.1, so the per-address shares (connections, peers, messages) are lifted too.
    const config = {
      ...defaultConfig(),
      host: '127.0.0.1',
      httpPort: 0,
      logLevel: 'silent' as const,
      maxPeers: 1_000_000,
      messageRate: 1_000_000,
      maxConnectionsPerClient: 1_000_000,
      maxPeersPerClient: 1_000_000,
      messageRatePerClient: 1_000_000,
    };
    const server = await startServer(config, createLogger(config.logLevel));
    port = server.http.port;
  } else {
    const { PeerServer } = await import('peer');
    port = await new Promise<number>((resolve) => {
      // Its default limit is 5000 clients; alive_timeout is raised so idle benchmark peers are not reaped.
      PeerServer({ host: '127.0.0.1', port: 0, concurrent_limit: 1_000_000, alive_timeout: 600_000 }, (server) =>
        resolve((server.address() as { port: number }).port),
      );
    });
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line !== 'rss') return;
    gc?.();
    gc?.();
    process.stdout.write(`${JSON.stringify({ rss: process.memoryUsage().rss })}\n`);
  });
  process.stdin.once('end', () => process.exit(0));
}

// ---- harness --------------------------------------------------------------------------------------------

interface ServerProcess {
  kind: Kind;
  port: number;
  rss(): Promise<number>;
  stop(): Promise<void>;
}

async function startServerProcess(kind: Kind): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, '--serve', kind], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const replies: Array<(value: Record<string, number>) => void> = [];
  lines.on('line', (line) => replies.shift()?.(JSON.parse(line)));
  const next = () => new Promise<Record<string, number>>((resolve) => replies.push(resolve));
  const { port } = await next();
  return {
    kind,
    port: port as number,
    async rss() {
      const reply = next();
      child.stdin?.write('rss\n');
      return (await reply).rss as number;
    },
    async stop() {
      child.stdin?.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** One connected, registered peer, seen through the operations the benchmarks need. */
interface BenchPeer {
  id: string;
  socket: WebSocket;
}

const wsOptions = { perMessageDeflate: false };

function waitOpen(socket: WebSocket, ready: (data: Record<string, unknown>) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    const onMessage = (data: Buffer) => {
      if (!ready(JSON.parse(data.toString()))) return reject(new Error(`unexpected: ${data}`));
      socket.off('message', onMessage);
      resolve();
    };
    socket.on('message', onMessage);
  });
}

async function connectPeer(server: ServerProcess, n: number): Promise<BenchPeer> {
  const base = `ws://127.0.0.1:${server.port}`;
  if (server.kind === 'ferry') {
    const socket = new WebSocket(`${base}/_/ws`, wsOptions);
    const id = `bench-${n}`;
    socket.once('open', () => socket.send(JSON.stringify({ type: 'hello', versions: [1], id })));
    await waitOpen(socket, (m) => m.type === 'welcome');
    return { id, socket };
  }
  const id = `bench-${n}`;
  const socket = new WebSocket(`${base}/peerjs?key=peerjs&id=${id}&token=t${n}`, wsOptions);
  await waitOpen(socket, (m) => m.type === 'OPEN');
  return { id, socket };
}

async function connectMany(server: ServerProcess, count: number, offset = 0): Promise<BenchPeer[]> {
  const peers: BenchPeer[] = [];
  const BATCH = 250;
  for (let i = 0; i < count; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - i) }, (_, j) => connectPeer(server, offset + i + j));
    peers.push(...(await Promise.all(batch)));
  }
  return peers;
}

async function closeAll(peers: BenchPeer[]): Promise<void> {
  await Promise.all(
    peers.map((p) => {
      if (p.socket.readyState === WebSocket.CLOSED) return undefined;
      const closed = once(p.socket, 'close');
      p.socket.terminate();
      return closed;
    }),
  );
}

// A trickle-ICE candidate padded so the whole message is 2 KB on the wire, in each server's own envelope.
function candidateMessage(kind: Kind, to: string): string {
  const base = 'candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0';
  const make = (pad: number) => {
    const candidate = { candidate: `${base} ufrag ${'x'.repeat(pad)}`, sdpMid: '0', sdpMLineIndex: 0 };
    return JSON.stringify(
      kind === 'ferry'
        ? { type: 'candidate', to, candidate }
        : { type: 'CANDIDATE', dst: to, payload: { candidate, type: 'data', connectionId: 'dc_bench' } },
    );
  };
  const overhead = make(0).length;
  return make(2048 - overhead);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

// ---- 1. idle peers --------------------------------------------------------------------------------------

async function idlePeers(kind: Kind, count: number): Promise<number> {
  const server = await startServerProcess(kind);
  const before = await server.rss();
  const peers = await connectMany(server, count);
  const after = await server.rss();
  await closeAll(peers);
  await server.stop();
  return (after - before) / count;
}

// ---- 2. forwarding ping-pong ----------------------------------------------------------------------------

interface PingPong {
  p50: number;
  p99: number;
  messagesPerSecond: number;
  bytes: number;
}

async function pingPong(kind: Kind, idle: number, rounds: number): Promise<PingPong> {
  const server = await startServerProcess(kind);
  const bystanders = await connectMany(server, idle, 10_000);
  const [a, b] = await connectMany(server, 2, 1);
  if (!a || !b) throw new Error('no peers');
  if (kind === 'ferry') {
    // Ferry forwards to a public (requested) id without a shared room, as PeerJS does.
    a.socket.send(JSON.stringify({ type: 'ping' }));
    await once(a.socket, 'message');
  }
  const toB = candidateMessage(kind, b.id);
  const toA = candidateMessage(kind, a.id);
  b.socket.on('message', () => b.socket.send(toA));
  const rtts: number[] = [];
  const warmup = Math.min(500, rounds);
  let started = 0;
  let measuredFrom = 0;
  await new Promise<void>((resolve) => {
    let done = 0;
    a.socket.on('message', () => {
      const now = performance.now();
      if (done >= warmup) rtts.push(now - started);
      if (done === warmup - 1) measuredFrom = now;
      done++;
      if (done === warmup + rounds) return resolve();
      started = performance.now();
      a.socket.send(toB);
    });
    started = performance.now();
    a.socket.send(toB);
  });
  const elapsed = (performance.now() - measuredFrom) / 1000;
  rtts.sort((x, y) => x - y);
  await closeAll([a, b, ...bystanders]);
  await server.stop();
  return {
    p50: percentile(rtts, 50),
    p99: percentile(rtts, 99),
    messagesPerSecond: (2 * rounds) / elapsed,
    bytes: toB.length,
  };
}

// ---- 3. ferry connect to open ---------------------------------------------------------------------------

function timeUntil(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${err}`)), timeoutMs);
    child.stderr?.on('data', (d) => {
      err += d;
      if (pattern.test(err)) {
        clearTimeout(timer);
        resolve(performance.now() - start);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before ${pattern}: ${err}`));
    });
  });
}

async function connectToOpen(runs: number): Promise<{ p50: number; p90: number; floor: number; all: number[] }> {
  execFileSync(
    process.execPath,
    [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
    },
  );
  const cli = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
  const server = await startServerProcess('ferry');
  const url = `http://127.0.0.1:${server.port}`;
  const listener = spawn(
    process.execPath,
    [cli, 'listen', '--id', 'bench-listen', '--server', url, '--bind-address', '127.0.0.1', '--verbose'],
    {
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
  await timeUntil(listener, /listening as bench-listen/, 15_000);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const caller = spawn(
      process.execPath,
      [cli, 'connect', 'bench-listen', '--server', url, '--bind-address', '127.0.0.1', '--verbose'],
      {
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    times.push(await timeUntil(caller, /data channel open/, 30_000));
    caller.stdin?.end();
    await once(caller, 'exit');
  }
  // The floor: the same built CLI starting and exiting with nothing to do.
  const floors: number[] = [];
  for (let i = 0; i < Math.min(runs, 10); i++) {
    const start = performance.now();
    execFileSync(process.execPath, [cli, '--version']);
    floors.push(performance.now() - start);
  }
  listener.kill('SIGTERM');
  await once(listener, 'exit');
  await server.stop();
  const sorted = [...times].sort((x, y) => x - y);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), floor: median(floors), all: times };
}

// ---- main -----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      runs: { type: 'string', default: '3' },
      peers: { type: 'string', default: '5000' },
      idle: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '5000' },
      connects: { type: 'string', default: '20' },
    },
  });
  if (values.serve) return serve(values.serve as Kind);
  const runs = Number(values.runs);
  const peers = Number(values.peers);
  const idle = Number(values.idle);
  const rounds = Number(values.rounds);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const kinds: Kind[] = ['ferry', 'peerjs'];

  const perPeer: Record<Kind, number[]> = { ferry: [], peerjs: [] };
  const forwarding: Record<Kind, PingPong[]> = { ferry: [], peerjs: [] };
  for (let run = 1; run <= runs; run++) {
    for (const kind of kinds) {
      perPeer[kind].push(await idlePeers(kind, peers));
      log(`run ${run} ${kind}: ${(perPeer[kind].at(-1) ?? 0) / 1024} KiB per idle peer`);
      forwarding[kind].push(await pingPong(kind, idle, rounds));
      log(`run ${run} ${kind}: ${JSON.stringify(forwarding[kind].at(-1))}`);
    }
  }
  const connect = await connectToOpen(Number(values.connects));
  log(`connect to open: ${connect.all.map((t) => t.toFixed(0)).join(' ')} ms`);

  const kib = (bytes: number) => (bytes / 1024).toFixed(1);
  const ms = (value: number) => value.toFixed(3);
  const m = (kind: Kind, pick: (r: PingPong) => number) => median(forwarding[kind].map(pick));
  const ratio = (ours: number, theirs: number) => (ours / theirs).toFixed(2);
  const row = (name: string, f: number, p: number, fmt: (n: number) => string, better: 'lower' | 'higher') =>
    `| ${name} | ${fmt(f)} | ${fmt(p)} | ${ratio(f, p)} (${better} is better) |`;
  const out = [
    `Node ${process.version}, ${runs} runs each (medians), ${peers} idle peers, ${idle} bystanders, ${rounds} round trips of a ${forwarding.ferry[0]?.bytes}-byte candidate message.`,
    '',
    '| measure | Ferry | PeerJS server 1.0.2 | Ferry / PeerJS |',
    '|---|---|---|---|',
    row('server RSS per idle peer (KiB)', median(perPeer.ferry), median(perPeer.peerjs), (n) => kib(n), 'lower'),
    row(
      'forwarding round trip p50 (ms)',
      m('ferry', (r) => r.p50),
      m('peerjs', (r) => r.p50),
      ms,
      'lower',
    ),
    row(
      'forwarding round trip p99 (ms)',
      m('ferry', (r) => r.p99),
      m('peerjs', (r) => r.p99),
      ms,
      'lower',
    ),
    row(
      'forwarded messages per second',
      m('ferry', (r) => r.messagesPerSecond),
      m('peerjs', (r) => r.messagesPerSecond),
      (n) => n.toFixed(0),
      'higher',
    ),
    '',
    `\`ferry connect\` start to data channel open (built CLI, loopback, ${connect.all.length} runs): p50 ${connect.p50.toFixed(0)} ms, p90 ${connect.p90.toFixed(0)} ms; the CLI's own start-up (\`ferry --version\`) takes ${connect.floor.toFixed(0)} ms of it.`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
