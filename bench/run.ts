// `npm run bench`: every benchmark file in bench/, one after the other, each in its own process (each file
// starts and stops its own servers and keeps its own flags). To add one, add a line to BENCHMARKS.
//
//   npm run bench [-- --runs N] [-- --only relay,signaling]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Options {
  /** Runs per side, for the files that take `--runs`; undefined keeps each file's own default. */
  runs: number | undefined;
}

interface BenchFile {
  name: string;
  file: string;
  args(options: Options): string[];
}

const runsFlag = ({ runs }: Options) => (runs === undefined ? [] : ['--runs', String(runs)]);

const BENCHMARKS: readonly BenchFile[] = [
  { name: 'relay', file: 'relay.ts', args: runsFlag },
  { name: 'signaling', file: 'signaling.ts', args: runsFlag },
  { name: 'hub-flood', file: 'hub-flood.ts', args: runsFlag },
  { name: 'turn', file: 'turn.ts', args: runsFlag },
  { name: 'transfer', file: 'transfer.ts', args: runsFlag },
  { name: 'stream-cipher', file: 'stream-cipher.ts', args: () => [] },
  { name: 'web-rooms', file: 'web-rooms.ts', args: runsFlag },
  // Runs Chromium: it re-runs itself in a loopback-only network namespace (unshare --net).
  { name: 'web-code', file: 'web-code.ts', args: runsFlag },
];

const { values } = parseArgs({ options: { runs: { type: 'string' }, only: { type: 'string' } } });
const runs = values.runs === undefined ? undefined : Number(values.runs);
if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) {
  console.error(`--runs must be a positive whole number, got '${values.runs}'`);
  process.exit(2);
}
const only = values.only?.split(',');
const unknown = only?.filter((name) => !BENCHMARKS.some((b) => b.name === name));
if (unknown?.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

// A signal for us is passed on to the running benchmark, which cleans up after itself; then we stop.
let current: ChildProcess | undefined;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    stopping = true;
    current?.kill(signal);
  });
}

const failed: string[] = [];
for (const bench of BENCHMARKS) {
  if (stopping) break;
  if (only && !only.includes(bench.name)) continue;
  const file = fileURLToPath(new URL(bench.file, import.meta.url));
  console.log(`\n# ${bench.name} (bench/${bench.file})\n`);
  current = spawn(process.execPath, ['--import', 'tsx', file, ...bench.args({ runs })], { stdio: 'inherit' });
  const [code, signal] = (await once(current, 'exit')) as [number | null, NodeJS.Signals | null];
  current = undefined;
  if (code !== 0) failed.push(`${bench.name} (${signal ?? `exit ${code}`})`);
}
if (failed.length > 0) console.error(`\nfailed or missed a target: ${failed.join(', ')}`);
process.exit(stopping ? 130 : failed.length > 0 ? 1 : 0);
