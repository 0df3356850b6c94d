// Every process and temporary directory a benchmark creates is registered here, so that a normal end, an error
// or Ctrl-C leaves nothing behind: children are killed and directories removed, synchronously, on the way out.
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  // A spawn failure (e.g. curl missing) surfaces through the caller's 'exit'/'close' wait; keep it from crashing us.
  child.once('error', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. Resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (!running(child)) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A private directory under `parent` (the OS temp dir by default), removed on exit whatever happens. */
export function makeTempDir(prefix: string, parent = os.tmpdir()): string {
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(path.join(parent, prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Kill every child still running (after a failed benchmark, so stray clients cannot disturb the next one). */
export function killAllChildren(): void {
  for (const child of children) if (running(child)) child.kill('SIGKILL');
  children.clear();
}

function cleanupSync(): void {
  killAllChildren();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let installed = false;

/** Call once at startup: kill children and remove temp dirs on exit, Ctrl-C, SIGTERM and SIGHUP. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.once('exit', cleanupSync);
  const signals: Array<[NodeJS.Signals, number]> = [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ];
  for (const [signal, code] of signals) {
    process.once(signal, () => {
      process.stderr.write(
        `\n${signal}: stopping the servers and clients this benchmark started, removing temp files.\n`,
      );
      cleanupSync();
      process.exit(code);
    });
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (killed after `timeoutMs`, which then rejects). */
export function run(command: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took longer than ${timeoutMs / 1000} s; killed it`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Resident set size of a live process, in bytes (VmRSS in /proc/<pid>/status). */
export function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

let clockTicks: number | undefined;

/** CPU time (user + system) a live process has used so far, in seconds (/proc/<pid>/stat). */
export function readCpuSeconds(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces; fields after it are plain numbers. utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** The soft limit on open files of this process (children inherit it). */
export function openFileLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!match?.[1] || match[1] === 'unlimited') return Number.POSITIVE_INFINITY;
  return Number(match[1]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
