// What one address flooding the signaling hub costs the server (issue 15): 20 connections from 127.0.0.1, each
// sending 100 messages a second (the default --message-rate), every message an 11 KB `message` of 2,000 numbers
// to an absent peer, for 10 s. Reports the server's CPU (share of one core, from /proc), median of --runs, for:
// a build from before the hardening (--before, default e96fd3e), this tree with its per-address budget
// (--message-rate-per-client 1,000/s), and this tree with that budget lifted (the parse cost alone).
//
//   node --import tsx bench/hub-flood.ts [--runs 3] [--before e96fd3e]
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { median } from './lib/compare.ts';
import { installCleanup, readCpuSeconds, sleep } from './lib/proc.ts';
import { type FerryBuild, prepareFerry, type RelayServer, startRelay } from './lib/servers.ts';

const CONNECTIONS = 20;
const PER_SECOND = 100;
const SECONDS = 10;

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, before: { type: 'string', default: 'e96fd3e' } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive whole number, got '${values.runs}'`);
  process.exit(2);
}
installCleanup();

const text = JSON.stringify({
  type: 'message',
  to: 'nobody',
  data: Array.from({ length: 2000 }, (_, i) => i * 1.5),
});

async function flood(server: RelayServer): Promise<number> {
  const url = `${server.url.replace(/^http/, 'ws')}/_/ws`;
  const sockets = await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(url, { perMessageDeflate: false });
          ws.once('open', () => {
            ws.send(JSON.stringify({ type: 'hello', versions: [1] }));
            resolve(ws);
          });
          ws.once('error', reject);
          // Replies (errors) are read and dropped: a client that does not read would be disconnected.
          ws.on('message', () => {});
        }),
    ),
  );
  await sleep(500);
  const before = readCpuSeconds(server.pid);
  const started = performance.now();
  // Ten ticks a second, a tenth of each connection's rate each tick: under --message-rate, never a flood of one.
  const timer = setInterval(() => {
    for (const ws of sockets) for (let i = 0; i < PER_SECOND / 10; i++) ws.send(text);
  }, 100);
  await sleep(SECONDS * 1000);
  clearInterval(timer);
  const share = (readCpuSeconds(server.pid) - before) / ((performance.now() - started) / 1000);
  for (const ws of sockets) ws.terminate();
  return share;
}

interface Case {
  label: string;
  build: FerryBuild;
  args: string[];
}

const [before, now] = await Promise.all([prepareFerry(values.before), prepareFerry('worktree')]);
// Every case lifts the per-address connection caps (all 20 come from one address, under them anyway).
const cases: Case[] = [
  { label: `before (${before.source})`, build: before, args: [] },
  { label: 'now, --message-rate-per-client 1000 (default)', build: now, args: [] },
  { label: 'now, per-client budget lifted', build: now, args: ['--message-rate-per-client', '1000000'] },
];
const samples = new Map<string, number[]>(cases.map((c) => [c.label, []]));
for (let run = 0; run < runs; run++) {
  for (const c of cases) {
    const server = await startRelay('ferry', c.build, { ferryArgs: c.args });
    try {
      samples.get(c.label)?.push(await flood(server));
    } finally {
      await server.stop();
    }
  }
}

console.log(`${CONNECTIONS} connections × ${PER_SECOND} msg/s of ${text.length} bytes, ${SECONDS} s, ${runs} runs\n`);
console.log('| server | CPU, share of one core (median) | runs |');
console.log('| --- | --: | --- |');
const base = median(samples.get(cases[0]?.label ?? '') ?? []);
for (const c of cases) {
  const values = samples.get(c.label) ?? [];
  const m = median(values);
  const ratio = c === cases[0] ? '' : ` (${(m / base).toFixed(2)}× before)`;
  console.log(
    `| ${c.label} | ${(m * 100).toFixed(0)} %${ratio} | ${values.map((v) => `${(v * 100).toFixed(0)} %`).join(', ')} |`,
  );
}
process.exit(0);
