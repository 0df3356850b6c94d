// The two relays under test, each started as the process a user would run, on an ephemeral loopback port:
// Ferry compiled from `src/` (as `npm run build` would, but into a private directory, so a shared `dist/` is
// neither needed nor touched), and piping-server from its npm package.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, type RunResult, run, sleep, spawnTracked, stopProcess } from './proc.ts';

export type RelayKind = 'ferry' | 'piping';
export const RELAYS: readonly RelayKind[] = ['ferry', 'piping'];
export const LABEL: Record<RelayKind, string> = { ferry: 'Ferry', piping: 'piping-server' };

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PIPING_DIR = path.join(ROOT, 'node_modules', 'piping-server');
const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 15_000;

export interface RelayServer {
  kind: RelayKind;
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra `ferry serve` flags (ignored for piping-server, which has no equivalents). */
  ferryArgs?: readonly string[];
  /** Extra `node` flags for the server process (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
}

export interface FerryBuild {
  entry: string;
  /** What was compiled, for the report. */
  source: string;
  /** Flags every run passes (see `baseFlags`). */
  baseArgs: string[];
}

/**
 * The Ferry CLI to run. `HEAD` (or any git ref) compiles that commit's `src/`, so work in progress in a shared
 * tree cannot break or skew a run; `worktree` compiles the working tree's `src/`; a path to a `.js` file runs
 * that compiled CLI as is (e.g. a scratch copy with a change to try).
 */
export async function prepareFerry(which: string): Promise<FerryBuild> {
  if (which.endsWith('.js')) {
    const entry = path.resolve(which);
    return { entry, source: entry, baseArgs: await baseFlags(entry) };
  }
  // Inside node_modules, so the compiler finds @types and the compiled files find Ferry's dependencies.
  const dir = makeTempDir('ferry-relay-bench-', path.join(ROOT, 'node_modules', '.cache'));
  const files = ['src', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
  let source: string;
  if (which === 'worktree') {
    for (const file of files) cpSync(path.join(ROOT, file), path.join(dir, file), { recursive: true });
    source = 'the working tree';
  } else {
    const commit = await must(run('git', ['-C', ROOT, 'rev-parse', '--short', `${which}^{commit}`], 10_000));
    const tar = path.join(dir, 'src.tar');
    await must(run('git', ['-C', ROOT, 'archive', '-o', tar, which, ...files], 60_000));
    await must(run('tar', ['-xf', tar, '-C', dir], 60_000));
    source = `commit ${commit.trim()} (${which})`;
  }
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await must(
    run(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.build.json'), '--sourceMap', 'false'], 120_000),
  );
  const entry = path.join(dir, 'dist', 'cli', 'index.js');
  return { entry, source, baseArgs: await baseFlags(entry) };
}

/**
 * The relay needs no STUN, and its default UDP port (3478) may be held by another Ferry on this shared machine,
 * which would make startup fail: builds that serve STUN run with `--stun-port 0`. Every benchmark client comes
 * from 127.0.0.1, so builds with a per-address connection cap (default 256) run with it lifted.
 */
async function baseFlags(entry: string): Promise<string[]> {
  const help = await run(process.execPath, [entry, 'serve', '--help'], 30_000);
  return [
    ...(help.stdout.includes('--stun-port') ? ['--stun-port', '0'] : []),
    ...(help.stdout.includes('--max-connections-per-client') ? ['--max-connections-per-client', '1000000'] : []),
  ];
}

async function must(pending: Promise<RunResult>): Promise<string> {
  const result = await pending;
  if (result.code !== 0) throw new Error(`preparing Ferry failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

export function pipingVersion(): string {
  return (JSON.parse(readFileSync(path.join(PIPING_DIR, 'package.json'), 'utf8')) as { version: string }).version;
}

function pipingEntry(): string {
  const pkg = JSON.parse(readFileSync(path.join(PIPING_DIR, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  const bin = pkg.bin['piping-server'];
  if (!bin) throw new Error('piping-server/package.json has no "piping-server" bin');
  return path.join(PIPING_DIR, bin);
}

export async function startRelay(kind: RelayKind, ferry: FerryBuild, options: StartOptions = {}): Promise<RelayServer> {
  return kind === 'ferry' ? startFerry(ferry, options) : startPiping(options);
}

/** Keep the last few KiB of a stream, to explain a failure. */
function tail(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (d: string) => {
    text = (text + d).slice(-4096);
  });
  return () => text;
}

function handle(kind: RelayKind, child: ChildProcess, port: number): RelayServer {
  if (child.pid === undefined) throw new Error(`${LABEL[kind]} did not start`);
  return { kind, port, url: `http://${HOST}:${port}`, pid: child.pid, stop: () => stopProcess(child) };
}

async function startFerry(ferry: FerryBuild, options: StartOptions): Promise<RelayServer> {
  const args = [...(options.nodeArgs ?? []), ferry.entry, 'serve', '--host', HOST, '--http-port', '0'];
  const child = spawnTracked(process.execPath, [...args, ...ferry.baseArgs, ...(options.ferryArgs ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = tail(child.stderr);
  let stdout = '';
  child.stdout?.setEncoding('utf8');
  const banner = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Ferry printed no banner within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.stdout?.on('data', (d: string) => {
      stdout += d;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Ferry exited (${code}) before listening:\n${stdout}${stderr()}`));
    });
  });
  try {
    return handle('ferry', child, await banner);
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
}

async function startPiping(options: StartOptions): Promise<RelayServer> {
  // piping-server logs the port it was given, not the one it got, so pick a free one first.
  const port = await freePort();
  // It logs every request at INFO on stdout (its only mode); that is part of its cost, so it goes to /dev/null.
  const child = spawnTracked(
    process.execPath,
    [...(options.nodeArgs ?? []), pipingEntry(), '--host', HOST, '--http-port', String(port)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr = tail(child.stderr);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(port))) {
    if (child.exitCode !== null) throw new Error(`piping-server exited (${child.exitCode}):\n${stderr()}`);
    if (Date.now() > deadline) {
      await stopProcess(child);
      throw new Error(`piping-server did not answer on port ${port} within ${START_TIMEOUT_MS} ms`);
    }
    await sleep(50);
  }
  return handle('piping', child, port);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: '/version', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
