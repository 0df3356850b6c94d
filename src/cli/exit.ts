// Exit codes and error output shared by every command: a stable code word on stderr, then the process ends.
import { printable } from './terminal.ts';

export enum ExitCode {
  Ok = 0,
  Failure = 1,
  Usage = 2,
  /** `listen`/`connect`: the signaling server cannot be reached (or went away). */
  ServerUnreachable = 3,
  /** `connect`: no peer is listening under that name. */
  NameUnknown = 4,
  /** `listen`: another peer holds that name. */
  NameTaken = 5,
  /**
   * `connect`: signaling worked but no data channel opened (ICE/DTLS failed or timed out). `send`/`receive`: no
   * transport could carry the transfer, or it broke off.
   */
  ConnectionFailed = 6,
  /** `send`/`receive`: the two sides used different codes. */
  WrongCode = 7,
  /** `send`/`receive`: the receiver did not accept the offer. */
  Declined = 8,
  /** `send`/`receive`: the other side cancelled the transfer. */
  Cancelled = 9,
  /** `send`/`receive`: a hash did not match, the relay stream was altered or cut, or a DTLS fingerprint was swapped. */
  IntegrityFailure = 10,
  /** Every client command: the server wants an access token and got none (`token_required`) or a wrong one. */
  AccessDenied = 11,
  Unavailable = 69,
  Interrupted = 130,
}

let beforeExit: (() => void) | undefined;

/** Work that must run before any exit this module makes (releasing native WebRTC threads, say). */
export function onExit(hook: () => void): void {
  beforeExit = hook;
}

export function fail(exitCode: ExitCode, code: string, message: string): never {
  process.stderr.write(`ferry: error [${code}]: ${printable(message)}\n`);
  beforeExit?.();
  process.exit(exitCode);
}
