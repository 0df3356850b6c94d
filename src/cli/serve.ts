// `ferry serve`: every option comes from the config table, so flags, environment variables and the README agree.
import { type Command, Option } from 'commander';
import { AccessConfigError } from '../server/access.ts';
import { keepMallocHeap } from '../server/allocator.ts';
import { SERVE_OPTIONS, type ServeConfig, validateConfig } from '../server/config.ts';
import { startServer } from '../server/index.ts';
import { createLogger } from '../server/log.ts';
import { VERSION } from '../version.ts';
import { ExitCode, fail } from './exit.ts';

export function registerServe(program: Command): void {
  const command = program.command('serve').description('run the Ferry server: relay, signaling and web app');
  // Commander names a value after its flag (`--ice-server` → iceServer); the table's key may differ.
  const attributes = new Map<keyof ServeConfig, string>();
  for (const spec of SERVE_OPTIONS) {
    const option = new Option(spec.flags, spec.description).env(spec.env);
    if (spec.default !== undefined) option.default(spec.default);
    if (spec.parse) option.argParser(spec.parse);
    command.addOption(option);
    attributes.set(spec.key, option.attributeName());
  }
  command.action(async (parsed: Record<string, unknown>) => {
    const options = Object.fromEntries(
      SERVE_OPTIONS.map((spec) => [spec.key, parsed[attributes.get(spec.key) as string]]),
    ) as unknown as ServeConfig;
    const config = { ...options, enableHttps: parseBooleanEnv(options.enableHttps) };
    const problem = validateConfig(config);
    if (problem) fail(ExitCode.Usage, 'bad_flag', problem);
    const log = createLogger(config.logLevel);
    // This process is the server: its heap policy is ours to set (an embedder of startServer keeps its own).
    keepMallocHeap();
    const server = await startServer(config, log).catch((err: NodeJS.ErrnoException) => {
      if (err instanceof AccessConfigError) fail(ExitCode.Usage, 'bad_tokens_file', err.message);
      fail(ExitCode.Unavailable, err.code === 'EADDRINUSE' ? 'port_in_use' : 'listen_failed', err.message);
    });
    const urls = [`http://${hostForUrl(server.http.address)}:${server.http.port}`];
    if (server.https) urls.push(`https://${hostForUrl(server.https.address)}:${server.https.port}`);
    process.stdout.write(`Ferry ${VERSION} listening on ${urls.join(' and ')}\n`);
    let signals = 0;
    const stop = () => {
      if (++signals > 1) process.exit(ExitCode.Interrupted);
      process.stdout.write(`Shutting down: running transfers get ${config.shutdownGrace} s to finish.\n`);
      server.close().then(() => {
        log.flush();
        process.exit(0);
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

// Commander turns a boolean flag's environment variable into `true` when it is set at all; honour "false"/"0".
function parseBooleanEnv(value: unknown): boolean {
  if (typeof value === 'string') return !['0', 'false', 'no', ''].includes(value.toLowerCase());
  return value === true;
}

function hostForUrl(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
