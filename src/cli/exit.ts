// Exit codes and error output shared by every command: a stable code word on stderr, then the process ends.

export enum ExitCode {
  Ok = 0,
  Failure = 1,
  Usage = 2,
  Unavailable = 69,
  Interrupted = 130,
}

export function fail(exitCode: ExitCode, code: string, message: string): never {
  process.stderr.write(`ferry: error [${code}]: ${message}\n`);
  process.exit(exitCode);
}
