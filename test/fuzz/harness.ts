// Runs one fuzzed entrance against `ferry serve` as its own process (a crash shows as an exit), with honest work
// beside it from another loopback address, and says what went wrong: findings (answers that are not a proper
// refusal), internal errors the server logged (a caught throw is still a bug), honest rounds that failed, and
// whether the process survived and still serves. Shared by test/fuzz/*.test.ts and bench/fuzz.ts.
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import { type SpawnedServer, spawnFerry } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/wait.ts';
import { Rng } from './rng.ts';

/** The honest client's address: another client than the fuzzer's 127.0.0.1. */
export const HONEST_ADDRESS = '127.0.0.2';

export interface Target {
  url: string;
  port: number;
  stunPort: number;
}

export interface Finding {
  input: string;
  problem: string;
}

export interface Entrance {
  name: string;
  /** Inputs one batch throws (a batch is one connection or one burst of datagrams). */
  perBatch: number;
  /** Batches in flight at once. */
  concurrency: number;
  batch(rng: Rng, target: Target): Promise<Finding[]>;
  /** One honest round of this entrance's own work, beside the relay transfer; throws when it fails. */
  honest?(target: Target): Promise<void>;
}

export interface FuzzReport {
  entrance: string;
  seed: number;
  inputs: number;
  seconds: number;
  findings: number;
  /** The first findings, each with the batch that reproduces it. */
  examples: Array<Finding & { batch: number }>;
  /** Error-level lines the server logged, and anything on its stderr that is not a log line. */
  internalErrors: string[];
  honestRounds: number;
  honestFailures: string[];
  /** The SHA-256 of the last honest relay transfer, as sent and as received. */
  honestSha256: { sent: string; received: string } | undefined;
  /** Null while the process runs; its exit code or signal otherwise (a crash). */
  exited: string | null;
  /** Problems of the server after the run: no answer, pipes or connections left behind. */
  afterwards: string[];
}

const EXAMPLES = 20;

export async function runFuzz(
  entrance: Entrance,
  { seed, count, onProgress }: { seed: number; count: number; onProgress?: (done: number) => void },
): Promise<FuzzReport> {
  const stunPort = await freeUdpPort();
  // A short idle timeout, so that an HTTP/2 session the server must drop is dropped within the check of what is left.
  const ferry = await spawnFerry(['--stun-port', String(stunPort), '--idle-timeout', '2']);
  const target: Target = { url: ferry.url, port: Number(new URL(ferry.url).port), stunPort };
  const report: FuzzReport = {
    entrance: entrance.name,
    seed,
    inputs: 0,
    seconds: 0,
    findings: 0,
    examples: [],
    internalErrors: [],
    honestRounds: 0,
    honestFailures: [],
    honestSha256: undefined,
    exited: null,
    afterwards: [],
  };
  const exited = () => {
    const { exitCode, signalCode } = ferry.process;
    return exitCode === null && signalCode === null ? null : `exit ${exitCode ?? signalCode}`;
  };
  let fuzzing = true;
  const honestRound = async () => {
    try {
      report.honestSha256 = await honestRelayTransfer(ferry.url);
      if (report.honestSha256.sent !== report.honestSha256.received) throw new Error('relay transfer: SHA-256 differs');
      await entrance.honest?.(target);
      report.honestRounds++;
    } catch (err) {
      report.honestFailures.push((err as Error).message);
    }
  };
  const honestLoop = (async () => {
    while (fuzzing && exited() === null) {
      await honestRound();
      // Beside the fuzzer, not instead of it: a round every 100 ms at most.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  const started = performance.now();
  const batches = Math.ceil(count / entrance.perBatch);
  let nextBatch = 0;
  const worker = async () => {
    while (nextBatch < batches && exited() === null) {
      const index = nextBatch++;
      let findings: Finding[];
      try {
        findings = await entrance.batch(Rng.forBatch(seed, index), target);
      } catch (err) {
        findings = [{ input: `batch ${index}`, problem: `the fuzzer's batch failed: ${(err as Error).stack}` }];
      }
      report.inputs += Math.min(entrance.perBatch, count - index * entrance.perBatch);
      report.findings += findings.length;
      for (const finding of findings)
        if (report.examples.length < EXAMPLES) report.examples.push({ ...finding, batch: index });
      onProgress?.(report.inputs);
    }
  };
  await Promise.all(Array.from({ length: entrance.concurrency }, worker));
  report.seconds = (performance.now() - started) / 1000;
  fuzzing = false;
  await honestLoop;

  report.exited = exited();
  if (report.exited === null) {
    await honestRound();
    if (report.honestRounds === 0) report.honestFailures.push('no honest round completed');
    report.afterwards = await leftBehind(ferry.url);
    report.exited = exited();
  }
  await ferry.stop();
  report.internalErrors = internalErrors(ferry);
  return report;
}

/** Why a report is a failure, one line each; empty when the run passed. */
export function failures(report: FuzzReport): string[] {
  const out: string[] = [];
  const replay = `replay with FERRY_FUZZ_SEED=${report.seed}`;
  if (report.exited !== null) out.push(`the server died (${report.exited}); ${replay}`);
  for (const example of report.examples) {
    out.push(`batch ${example.batch}: ${example.problem}; input ${example.input}; ${replay}`);
  }
  if (report.findings > report.examples.length)
    out.push(`…and ${report.findings - report.examples.length} more findings`);
  for (const line of report.internalErrors) out.push(`internal error logged: ${line}; ${replay}`);
  for (const failure of report.honestFailures) out.push(`honest work failed: ${failure}; ${replay}`);
  for (const problem of report.afterwards) out.push(`after the run: ${problem}; ${replay}`);
  return out;
}

/** A 256 KiB PUT → GET through the relay from the honest address; the SHA-256 of what was sent and what arrived. */
export async function honestRelayTransfer(url: string): Promise<{ sent: string; received: string }> {
  const data = randomBytes(256 * 1024);
  const path = `/honest-${randomBytes(6).toString('hex')}`;
  const received = new Promise<string>((resolve, reject) => {
    const req = http.get(`${url}${path}`, { localAddress: HONEST_ADDRESS, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`honest receiver got ${res.statusCode}`));
      const hash = createHash('sha256');
      res.on('data', (chunk: Buffer) => hash.update(chunk));
      res.on('end', () => resolve(hash.digest('hex')));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  const sent = new Promise<void>((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: 'PUT', localAddress: HONEST_ADDRESS, agent: false }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`honest sender got ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end(data);
  });
  const [received256] = await withDeadline(Promise.all([received, sent]), 20_000, 'honest relay transfer');
  return { sent: createHash('sha256').update(data).digest('hex'), received: received256 };
}

/** The server still answers /_/health, and within a few seconds holds no pipe and no hub connection. */
async function leftBehind(url: string): Promise<string[]> {
  let last = '';
  try {
    await waitFor(
      async () => {
        const res = await fetch(`${url}/_/health`);
        if (res.status !== 200) throw new Error(`/_/health answered ${res.status}`);
        const health = (await res.json()) as {
          relay: { waiting: number; active: number };
          signaling: { connections: number };
        };
        last = JSON.stringify({ relay: health.relay, signaling: health.signaling });
        return health.relay.waiting === 0 && health.relay.active === 0 && health.signaling.connections === 0;
      },
      'the fuzzed pipes and connections to be gone',
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    return [];
  } catch (err) {
    return [`${(err as Error).message}; last /_/health: ${last}`];
  }
}

/** Error-level (and fatal) log lines, and any stderr line that is not one of the server's JSON log lines. */
function internalErrors(ferry: SpawnedServer): string[] {
  const out: string[] = [];
  for (const line of ferry.stderr().split('\n')) {
    if (line.trim() === '') continue;
    let level: unknown;
    try {
      level = (JSON.parse(line) as { level?: unknown }).level;
    } catch {
      out.push(line);
      continue;
    }
    if (typeof level === 'number' && level >= 50) out.push(line);
  }
  return out;
}

export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]);
}
