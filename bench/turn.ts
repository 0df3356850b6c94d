// TURN benchmark: one data-channel transfer between two node-datachannel peers on loopback, directly (host
// candidates) and relay-only through a real coturn (Debian's turnserver, credentials minted as Ferry mints them),
// alternating in the same run. The question is what the relay costs in throughput and set-up time; on loopback
// the answer should be "little", and the figure that matters is that relay-only works at all.
// Usage: node --import tsx bench/turn.ts [--runs 5] [--mib 256] [--chunk-kib 64] [--high-kib 1024] [--low-kib 512]
// Results (per run, medians, ratios) go to stdout as Markdown; bench/README.md holds the latest.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { PeerDataChannel } from '../src/peer/data-channel.ts';
import { cleanup, type PeerConfiguration, PeerConnection } from '../src/peer/peer-connection.ts';
import { mintTurnCredentials } from '../src/server/ice.ts';
import { type Coturn, startCoturn } from '../test/helpers/coturn.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    mib: { type: 'string', default: '256' },
    'chunk-kib': { type: 'string', default: '64' },
    'high-kib': { type: 'string', default: '1024' },
    'low-kib': { type: 'string', default: '512' },
  },
});
const RUNS = Number(args.runs);
const TOTAL = Number(args.mib) * 1024 * 1024;
const CHUNK = Number(args['chunk-kib']) * 1024;
const HIGH = Number(args['high-kib']) * 1024;
const LOW = Number(args['low-kib']) * 1024;

type Path = 'direct' | 'relay';

interface Sample {
  /** Offer to data channel open, ms. */
  connectMs: number;
  /** First byte sent to last byte received, MB/s (10^6 bytes). */
  mbps: number;
  /** coturn's CPU time during the transfer, seconds. */
  coturnCpu: number;
  pair: string;
}

/** user + system CPU seconds of a process, from /proc (clock ticks of 1/100 s on Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function configuration(path: Path, coturn: Coturn, user: string): PeerConfiguration {
  if (path === 'direct') return { bindAddress: '127.0.0.1' };
  const { username, credential } = mintTurnCredentials(coturn.secret, user, 600);
  return {
    bindAddress: '127.0.0.1',
    iceTransportPolicy: 'relay',
    iceServers: [{ urls: `turn:${coturn.host}:${coturn.port}?transport=udp`, username, credential }],
  };
}

function opened(channel: PeerDataChannel): Promise<void> {
  return new Promise((resolve) => {
    if (channel.readyState === 'open') resolve();
    else channel.addEventListener('open', () => resolve(), { once: true });
  });
}

async function once(path: Path, coturn: Coturn, run: number): Promise<Sample> {
  const a = new PeerConnection(configuration(path, coturn, `bench-a-${run}`));
  const b = new PeerConnection(configuration(path, coturn, `bench-b-${run}`));
  try {
    a.onicecandidate = ({ candidate }) => void b.addIceCandidate(candidate);
    b.onicecandidate = ({ candidate }) => void a.addIceCandidate(candidate);
    const remote = new Promise<PeerDataChannel>((resolve) => {
      b.ondatachannel = ({ channel }) => resolve(channel);
    });
    const channel = a.createDataChannel('bench');
    const started = performance.now();
    await b.setRemoteDescription(await a.createOffer());
    await a.setRemoteDescription(await b.createAnswer());
    await opened(channel);
    const receiving = await remote;
    const connectMs = performance.now() - started;
    const pair = a.getSelectedCandidatePair();
    const pairText = pair ? `${pair.local.type}-${pair.remote.type}` : 'unknown';
    if (path === 'relay' && pairText !== 'relay-relay') throw new Error(`relay run on a ${pairText} pair`);

    let received = 0;
    const done = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${path}: ${received} of ${TOTAL} bytes after 120 s`)), 120_000);
      receiving.onmessage = ({ data }) => {
        received += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
        if (received >= TOTAL) {
          clearTimeout(timer);
          resolve(performance.now());
        }
      };
    });
    const chunk = randomBytes(CHUNK);
    channel.bufferedAmountLowThreshold = LOW;
    const cpuBefore = cpuSeconds(coturn.pid);
    const sendStart = performance.now();
    for (let sent = 0; sent < TOTAL; sent += CHUNK) {
      channel.send(sent + CHUNK <= TOTAL ? chunk : chunk.subarray(0, TOTAL - sent));
      if (channel.bufferedAmount > HIGH) {
        await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
      }
    }
    const end = await done;
    const coturnCpu = cpuSeconds(coturn.pid) - cpuBefore;
    return { connectMs, mbps: TOTAL / 1e6 / ((end - sendStart) / 1000), coturnCpu, pair: pairText };
  } finally {
    a.close();
    b.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

async function main(): Promise<void> {
  const coturn = await startCoturn();
  const samples: Record<Path, Sample[]> = { direct: [], relay: [] };
  try {
    for (let run = 1; run <= RUNS; run++) {
      // Alternate the order, so neither path always runs on a warmer (or more tired) machine.
      const order: Path[] = run % 2 ? ['direct', 'relay'] : ['relay', 'direct'];
      for (const path of order) {
        const sample = await once(path, coturn, run);
        samples[path].push(sample);
        process.stderr.write(
          `run ${run} ${path}: ${fmt(sample.mbps)} MB/s, open in ${fmt(sample.connectMs, 0)} ms, ` +
            `coturn CPU ${fmt(sample.coturnCpu, 2)} s, pair ${sample.pair}\n`,
        );
      }
    }
  } finally {
    cleanup();
    await coturn.stop();
  }

  const d = samples.direct;
  const r = samples.relay;
  const mDirect = median(d.map((s) => s.mbps));
  const mRelay = median(r.map((s) => s.mbps));
  const cDirect = median(d.map((s) => s.connectMs));
  const cRelay = median(r.map((s) => s.connectMs));
  const mib = TOTAL / 1024 / 1024;
  const lines = [
    `Node ${process.version}, ${os.cpus().length} vCPUs, load average ${os
      .loadavg()
      .map((l) => fmt(l))
      .join(' / ')};`,
    `${mib} MiB per transfer, ${CHUNK / 1024} KiB messages, ${HIGH / 1024} KiB high / ${LOW / 1024} KiB low watermark;`,
    `${RUNS} runs, medians:`,
    '',
    '| measure | direct (host-host) | relay-only through coturn (relay-relay) | relay / direct |',
    '| --- | --- | --- | --- |',
    `| throughput, MB/s | ${fmt(mDirect)} | ${fmt(mRelay)} | ${fmt(mRelay / mDirect, 2)} (higher is better) |`,
    `| offer to channel open, ms | ${fmt(cDirect, 0)} | ${fmt(cRelay, 0)} | ${fmt(cRelay / cDirect, 2)} (lower is better) |`,
    `| coturn CPU per transfer, s | ${fmt(median(d.map((s) => s.coturnCpu)), 2)} | ${fmt(median(r.map((s) => s.coturnCpu)), 2)} | — |`,
    '',
    `Per run, MB/s: direct ${d.map((s) => fmt(s.mbps)).join(' / ')}; relay ${r.map((s) => fmt(s.mbps)).join(' / ')}.`,
    `Per run, open ms: direct ${d.map((s) => fmt(s.connectMs, 0)).join(' / ')}; relay ${r.map((s) => fmt(s.connectMs, 0)).join(' / ')}.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
