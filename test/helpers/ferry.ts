// Start a real Ferry server for a test: in-process on a loopback port (fast), or as the `ferry serve`
// process a user would run (for flags, environment and signals).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { defaultConfig, type ServeConfig } from '../../src/server/config.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server/index.ts';
import { createLogger } from '../../src/server/log.ts';

export interface TestServer {
  url: string;
  port: number;
  server: RunningServer;
  close(): Promise<void>;
}

export async function startFerry(
  overrides: Partial<ServeConfig> = {},
  options: ServerOptions = {},
): Promise<TestServer> {
  const config: ServeConfig = {
    ...defaultConfig(),
    host: '127.0.0.1',
    httpPort: 0,
    stunPort: 0,
    logLevel: 'silent',
    ...overrides,
  };
  const server = await startServer(config, createLogger(config.logLevel), options);
  const port = server.http.port;
  return { url: `http://127.0.0.1:${port}`, port, server, close: () => server.close(0) };
}

export const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));

/** Run the ferry CLI from source (through tsx), as a separate process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export interface SpawnedServer {
  url: string;
  process: ChildProcess;
  stdout(): string;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `ferry serve` as its own process on an ephemeral loopback port; resolves once it prints its banner. */
export async function spawnFerry(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<SpawnedServer> {
  const child = runCli(['serve', '--host', '127.0.0.1', '--http-port', '0', '--stun-port', '0', ...args], env);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on('data', check);
    // 'close', not 'exit': only then has everything the process wrote to stderr been read.
    child.once('close', (code) => reject(new Error(`ferry serve exited with ${code}: ${err}`)));
  });
  return {
    url,
    process: child,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}
