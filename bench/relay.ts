// The HTTP relay side by side with piping-server 1.12.9, on loopback: (1) one big curl transfer, (2) fan-out
// to n curl receivers, (3) latency of many small transfers over keep-alive, (4) memory held by waiting receivers.
// Every run starts a fresh server of each kind and alternates them (ABAB…); see bench/README.md for the figures.
//
//   node --import tsx bench/relay.ts [--runs N] [--only 1,2,3,4] [--size-gib G] [--fanout-mib M] …
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Comparison, interleave, type MetricSpec, percentile, report, type Sample } from './lib/compare.ts';
import { describeMachine, loadAverage } from './lib/machine.ts';
import {
  installCleanup,
  killAllChildren,
  makeTempDir,
  openFileLimit,
  readCpuSeconds,
  readRss,
  removeTempDir,
  run,
  sleep,
} from './lib/proc.ts';
import { pipingVersion, prepareFerry, type RelayKind, type RelayServer, startRelay } from './lib/servers.ts';

const MiB = 2 ** 20;
const MB = 1e6;
const SMALL_BYTES = 1024;
const ALL_RECEIVED = '[INFO] All receiver(s) was/were received successfully.';
// Every waiting receiver of benchmark 4 comes from 127.0.0.1, and Ferry allows one client 1000 by default.
const WAITING_FERRY_ARGS = ['--max-pipes-per-client', '20000'];

const singleBytes = (o: RelayOptions) => Math.round(o.sizeGib * 1024) * MiB;

interface RelayOptions {
  runs: number;
  only: number[];
  sizeGib: number;
  fanoutMib: number;
  fanoutN: number;
  transfers: number;
  concurrency: number;
  warmup: number;
  waiting: number;
  /** Which Ferry to run: a git ref, `worktree`, or a compiled `cli/index.js` (see `prepareFerry`). */
  ferry: string;
  /** Extra node flags for both servers (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
  serverNodeArgs: string[];
}

const DEFAULTS: RelayOptions = {
  runs: 5,
  only: [1, 2, 3, 4],
  sizeGib: 2,
  fanoutMib: 512,
  fanoutN: 4,
  transfers: 2000,
  concurrency: 50,
  warmup: 200,
  waiting: 10_000,
  ferry: 'HEAD',
  serverNodeArgs: [],
};

interface Context {
  options: RelayOptions;
  tempDir: string;
}

interface Benchmark {
  id: number;
  title: string;
  metrics: readonly MetricSpec[];
  /** Ferry flags this benchmark needs beyond the defaults (`describe` names them in the report). */
  ferryArgs?: readonly string[];
  /** The parameters of a run, in words, for the report. */
  describe(options: RelayOptions): string;
  /** Work done once before the runs, e.g. writing the file to send into `ctx.tempDir`. */
  prepare?(ctx: Context): Promise<void>;
  /** One run against a fresh server. */
  measure(server: RelayServer, ctx: Context): Promise<Sample>;
}

// ---------------------------------------------------------------------------------------------------------------
// 1 and 2: curl to curl

/** A file of `bytes` bytes (a random MiB repeated: incompressible enough, cheap to write). */
async function writeDataFile(file: string, bytes: number): Promise<void> {
  const block = randomBytes(MiB);
  const out = createWriteStream(file);
  for (let left = bytes; left > 0; left -= block.length) {
    if (!out.write(left >= block.length ? block : block.subarray(0, left))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** One sender (`curl -T`) and n receivers (`curl -o /dev/null`); returns each receiver's MB/s over its whole run. */
async function curlTransfer(server: RelayServer, file: string, bytes: number, n: number): Promise<number[]> {
  const url = `${server.url}/bench-${randomUUID()}${n > 1 ? `?n=${n}` : ''}`;
  // Bounded: even at 10 MB/s a run ends; a stuck one is killed and reported.
  const timeoutMs = Math.max(60_000, (bytes / (10 * MB)) * 1000);
  const sender = run('curl', ['-sS', '-T', file, url], timeoutMs);
  const receivers = Array.from({ length: n }, () =>
    run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url], timeoutMs),
  );
  const [sent, ...received] = await Promise.all([sender, ...receivers]);
  if (sent?.code !== 0 || !sent.stdout.includes(ALL_RECEIVED)) {
    throw new Error(`sender curl failed (exit ${sent?.code}): ${sent?.stderr.trim()} ${sent?.stdout.trim()}`);
  }
  return received.map((r, i) => {
    const [status, size, seconds] = r.stdout.trim().split(' ');
    if (r.code !== 0 || status !== '200' || Number(size) !== bytes) {
      throw new Error(
        `receiver ${i + 1} got status ${status}, ${size} of ${bytes} bytes (curl exit ${r.code}) ${r.stderr}`,
      );
    }
    return bytes / Number(seconds) / MB;
  });
}

const single: Benchmark = {
  id: 1,
  title: 'Benchmark 1: one transfer, curl -T → curl -o /dev/null',
  metrics: [
    { key: 'mbps', label: 'throughput (MB/s)', digits: 0, target: { op: '>=', ratio: 1.2 } },
    { key: 'cpu', label: 'server CPU per GiB (s)', digits: 2 },
  ],
  describe: (o) => `${o.sizeGib} GiB, one receiver`,
  async prepare(ctx) {
    await writeDataFile(path.join(ctx.tempDir, 'single.bin'), singleBytes(ctx.options));
  },
  async measure(server, ctx) {
    const bytes = singleBytes(ctx.options);
    const cpu = readCpuSeconds(server.pid);
    const [mbps] = await curlTransfer(server, path.join(ctx.tempDir, 'single.bin'), bytes, 1);
    return { mbps: mbps as number, cpu: (readCpuSeconds(server.pid) - cpu) / (bytes / 2 ** 30) };
  },
};

const fanout: Benchmark = {
  id: 2,
  title: 'Benchmark 2: fan-out, one curl -T → n curl receivers (?n=)',
  metrics: [
    { key: 'mean', label: 'MB/s per receiver (mean of n)', digits: 0 },
    { key: 'min', label: 'MB/s of the slowest receiver', digits: 0 },
    { key: 'cpu', label: 'server CPU per GiB sent (s)', digits: 2 },
  ],
  describe: (o) => `${o.fanoutMib} MiB, n=${o.fanoutN}`,
  async prepare(ctx) {
    await writeDataFile(path.join(ctx.tempDir, 'fanout.bin'), ctx.options.fanoutMib * MiB);
  },
  async measure(server, ctx) {
    const { fanoutMib, fanoutN } = ctx.options;
    const cpu = readCpuSeconds(server.pid);
    const rates = await curlTransfer(server, path.join(ctx.tempDir, 'fanout.bin'), fanoutMib * MiB, fanoutN);
    return {
      mean: rates.reduce((a, b) => a + b, 0) / rates.length,
      min: Math.min(...rates),
      cpu: (readCpuSeconds(server.pid) - cpu) / (fanoutMib / 1024),
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// 3: many small transfers through keep-alive agents

/** One transfer; resolves to ms from the sender's request start to the receiver's `end`. */
function smallTransfer(
  server: RelayServer,
  body: Buffer,
  agents: { sender: http.Agent; receiver: http.Agent },
): Promise<number> {
  const url = `${server.url}/small-${randomUUID()}`;
  return new Promise((resolve, reject) => {
    let receivedAt: number | undefined;
    let senderDone = false;
    const timer = setTimeout(() => fail(new Error(`small transfer to ${url} took over 10 s`)), 10_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      put.destroy();
      get.destroy();
      reject(err);
    };
    // The slot is free once both responses have ended, so their sockets are back in the agents.
    const settle = () => {
      if (receivedAt === undefined || !senderDone) return;
      clearTimeout(timer);
      resolve(receivedAt - started);
    };
    const started = performance.now();
    const put = http.request(
      url,
      { method: 'PUT', agent: agents.sender, headers: { 'Content-Length': body.length } },
      (res) => {
        let log = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          log += d;
        });
        res.on('end', () => {
          if (!log.includes(ALL_RECEIVED)) return fail(new Error(`sender log without success: ${log}`));
          senderDone = true;
          settle();
        });
      },
    );
    put.on('error', fail);
    put.end(body);
    const get = http.get(url, { agent: agents.receiver }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
      });
      res.on('end', () => {
        if (res.statusCode !== 200 || bytes !== body.length) {
          return fail(new Error(`receiver got status ${res.statusCode} and ${bytes} of ${body.length} bytes`));
        }
        receivedAt = performance.now();
        settle();
      });
    });
    get.on('error', fail);
  });
}

async function smallTransfers(server: RelayServer, count: number, concurrency: number, bytes: number) {
  const body = randomBytes(bytes);
  const agents = {
    sender: new http.Agent({ keepAlive: true, maxSockets: concurrency }),
    receiver: new http.Agent({ keepAlive: true, maxSockets: concurrency }),
  };
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  try {
    const worker = async () => {
      while (next < count) {
        next++;
        latencies.push(await smallTransfer(server, body, agents));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    agents.sender.destroy();
    agents.receiver.destroy();
  }
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

const small: Benchmark = {
  id: 3,
  title: 'Benchmark 3: small transfers over keep-alive (sender start → receiver end)',
  metrics: [
    { key: 'p50', label: 'p50 latency (ms)', digits: 2, target: { op: '<=', ratio: 0.8 } },
    { key: 'p99', label: 'p99 latency (ms)', digits: 2 },
    { key: 'rate', label: 'transfers/s', digits: 0 },
    { key: 'cpu', label: 'server CPU per transfer (ms)', digits: 3 },
    // The load generator shares the two cores: its cost bounds the latency both servers can show.
    { key: 'clientCpu', label: 'client (this process) CPU per transfer (ms)', digits: 3 },
  ],
  describe: (o) =>
    `${o.transfers} transfers of ${SMALL_BYTES} B at concurrency ${o.concurrency}, after ${o.warmup} warm-up transfers`,
  async measure(server, ctx) {
    const { transfers, concurrency, warmup } = ctx.options;
    // A warm-up on the same fresh server, not counted: both relays are measured with a warm JIT.
    if (warmup > 0) await smallTransfers(server, warmup, concurrency, SMALL_BYTES);
    const cpu = readCpuSeconds(server.pid);
    const clientCpu = process.cpuUsage();
    const { latencies, seconds } = await smallTransfers(server, transfers, concurrency, SMALL_BYTES);
    const client = process.cpuUsage(clientCpu);
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      rate: transfers / seconds,
      cpu: ((readCpuSeconds(server.pid) - cpu) * 1000) / transfers,
      clientCpu: (client.user + client.system) / 1000 / transfers,
    };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// 4: memory held by receivers waiting on distinct paths

interface Waiter {
  socket: net.Socket;
  path: string;
  /** What the server sent on this socket (only its start is kept). */
  seen: string;
  closed: boolean;
}

function openWaiter(port: number, path: string): Promise<Waiter> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const waiter: Waiter = { socket, path, seen: '', closed: false };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      if (waiter.seen.length < 256) waiter.seen += d.slice(0, 256);
    });
    socket.once('close', () => {
      waiter.closed = true;
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, (err) => {
        socket.off('error', reject);
        socket.on('error', () => {});
        if (err) reject(err);
        else resolve(waiter);
      });
    });
  });
}

/** Open `count` waiting receivers, at most `window` connecting at once (the accept backlog is 511). */
async function openWaiters(port: number, count: number, window = 256): Promise<Waiter[]> {
  const tag = randomUUID().slice(0, 8);
  const waiters: Waiter[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      waiters.push(await openWaiter(port, `/wait-${tag}-${i}`));
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return waiters;
}

/**
 * Send one byte to `pipePath`, whose receivers are there or on their way; resolves when the sender's response ends,
 * which the relay does once every receiver has the byte.
 */
function sendByte(server: RelayServer, pipePath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      put.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`sending to ${pipePath} took over 30 s`)), 30_000);
    const put = http.request(`${server.url}${pipePath}`, { method: 'PUT', agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    put.on('error', fail);
    put.end('x');
  });
}

/** One complete 1-byte transfer on a fresh path, receiver and sender on fresh connections. */
function probeTransfer(server: RelayServer, label: string): Promise<void> {
  const pipePath = `/${label}-${randomUUID()}`;
  http.get(`${server.url}${pipePath}`, { agent: false }, (res) => res.resume()).on('error', () => {});
  return sendByte(server, pipePath);
}

async function stableRss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    await sleep(300);
    readings.push(readRss(pid));
  }
  return percentile(readings, 50);
}

const waiting: Benchmark = {
  id: 4,
  title: 'Benchmark 4: receivers waiting on distinct paths (raw sockets, one GET each)',
  metrics: [
    { key: 'idle', label: 'idle RSS (MiB)', digits: 1 },
    { key: 'loaded', label: 'RSS with all waiting (MiB)', digits: 1 },
    { key: 'perReceiver', label: 'RSS per waiting receiver (KiB)', digits: 2, target: { op: '<=', ratio: 1 } },
  ],
  ferryArgs: WAITING_FERRY_ARGS,
  describe: (o) => `${o.waiting} receivers; Ferry runs with ${WAITING_FERRY_ARGS.join(' ')}`,
  async measure(server, ctx) {
    const count = ctx.options.waiting;
    const needed = count + 500;
    if (openFileLimit() < needed) {
      throw new Error(`this needs ${needed} open files per process; raise it first (ulimit -n ${needed})`);
    }
    // Idle: after one complete transfer, so the code paths a waiting receiver uses are loaded on both sides.
    await probeTransfer(server, 'warm');
    await sleep(700);
    const idle = await stableRss(server.pid);

    const waiters = await openWaiters(server.port, count);
    try {
      // A transfer that connects after every waiter has been written to completes only once the server has
      // accepted and parsed them all (accepts are in order).
      await probeTransfer(server, 'probe');
      await sleep(700);
      const loaded = await stableRss(server.pid);

      const answered = waiters.filter((w) => w.seen !== '' || w.closed);
      if (answered.length > 0) {
        const first = answered[0] as Waiter;
        throw new Error(`${answered.length} waiting receivers were answered early, e.g. ${first.path}: ${first.seen}`);
      }
      // Spot check: a sample of the waiters really is waiting for a sender.
      const sample = Array.from({ length: 20 }, (_, i) => waiters[Math.floor((i * count) / 20)] as Waiter);
      await Promise.all(sample.map((w) => sendByte(server, w.path)));
      const deadline = Date.now() + 10_000;
      while (sample.some((w) => !w.seen.includes('\r\n\r\n')) && Date.now() < deadline) await sleep(20);
      const wrong = sample.filter((w) => !w.seen.startsWith('HTTP/1.1 200'));
      if (wrong.length > 0) throw new Error(`${wrong.length} sampled receivers did not get 200: ${wrong[0]?.seen}`);

      return { idle: idle / MiB, loaded: loaded / MiB, perReceiver: (loaded - idle) / count / 1024 };
    } finally {
      for (const w of waiters) w.socket.destroy();
    }
  },
};

const BENCHMARKS: readonly Benchmark[] = [single, fanout, small, waiting];

// ---------------------------------------------------------------------------------------------------------------

async function runRelay(options: RelayOptions): Promise<boolean> {
  installCleanup();
  console.log(`## Relay benchmarks: Ferry vs piping-server ${pipingVersion()} (loopback, 127.0.0.1)\n`);
  console.log(describeMachine());
  const ferry = await prepareFerry(options.ferry);
  const flags = ferry.baseArgs.length > 0 ? ` (with ${ferry.baseArgs.join(' ')}: the relay needs no STUN)` : '';
  console.log(`Ferry: ${ferry.source}${flags}; both servers on node ${process.version}\n`);
  let ok = true;
  for (const bench of BENCHMARKS.filter((b) => options.only.includes(b.id))) {
    process.stderr.write(`${bench.title}: ${bench.describe(options)} (load ${loadAverage()})\n`);
    // Each benchmark's data files go as soon as it is done.
    const ctx: Context = { options, tempDir: makeTempDir('ferry-relay-bench-') };
    let comparison: Comparison;
    try {
      await bench.prepare?.(ctx);
      const measure = async (kind: RelayKind) => {
        const server = await startRelay(kind, ferry, {
          ferryArgs: bench.ferryArgs,
          nodeArgs: options.serverNodeArgs,
        });
        try {
          return await bench.measure(server, ctx);
        } finally {
          await server.stop();
        }
      };
      comparison = await interleave(bench.title, `${bench.id}`, options.runs, measure, bench.metrics);
    } catch (err) {
      ok = false;
      killAllChildren();
      console.log(`### ${bench.title}\n\nFAILED: ${(err as Error).message}\n`);
      continue;
    } finally {
      removeTempDir(ctx.tempDir);
    }
    const verdict = report(comparison);
    ok &&= verdict.met;
    console.log(`${verdict.table}\n\n(${bench.describe(options)}; load average after: ${loadAverage()})\n`);
  }
  return ok;
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got '${raw}'`);
  return value;
}

function parseRelayArgs(argv: string[]): RelayOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      only: { type: 'string' },
      'size-gib': { type: 'string' },
      'fanout-mib': { type: 'string' },
      'fanout-n': { type: 'string' },
      transfers: { type: 'string' },
      concurrency: { type: 'string' },
      warmup: { type: 'string' },
      waiting: { type: 'string' },
      ferry: { type: 'string' },
      'server-node-args': { type: 'string' },
    },
  });
  const only = values.only?.split(',').map(Number) ?? DEFAULTS.only;
  if (only.some((id) => !BENCHMARKS.some((b) => b.id === id))) throw new Error(`--only takes ids from 1,2,3,4`);
  return {
    ...DEFAULTS,
    runs: Math.round(positive('runs', values.runs, DEFAULTS.runs)),
    only,
    sizeGib: positive('size-gib', values['size-gib'], DEFAULTS.sizeGib),
    fanoutMib: Math.round(positive('fanout-mib', values['fanout-mib'], DEFAULTS.fanoutMib)),
    fanoutN: Math.round(positive('fanout-n', values['fanout-n'], DEFAULTS.fanoutN)),
    transfers: Math.round(positive('transfers', values.transfers, DEFAULTS.transfers)),
    concurrency: Math.round(positive('concurrency', values.concurrency, DEFAULTS.concurrency)),
    warmup: values.warmup === '0' ? 0 : Math.round(positive('warmup', values.warmup, DEFAULTS.warmup)),
    waiting: Math.round(positive('waiting', values.waiting, DEFAULTS.waiting)),
    ferry: values.ferry ?? DEFAULTS.ferry,
    serverNodeArgs: values['server-node-args']?.split(' ').filter(Boolean) ?? [],
  };
}

let options: RelayOptions;
try {
  options = parseRelayArgs(process.argv.slice(2));
} catch (err) {
  console.error(
    `${(err as Error).message}\n(a value that starts with a dash goes after '=': --server-node-args=--cpu-prof)`,
  );
  process.exit(2);
}
runRelay(options).then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
