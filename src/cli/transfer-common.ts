// What `ferry send` and `ferry receive` share: their flags, the output (human lines and a progress bar on stderr,
// or one JSON object per line with --json), the way every failure maps to an exit code, and the session itself:
// reach the hub, meet the peer through the code's nameplate, run the SPAKE2 handshake, then open the transport (a data
// channel if one opens in time, else the relay).
import { scrypt } from 'node:crypto';
import type { Writable } from 'node:stream';
import { type Command, Option } from 'commander';
import { cleanup, hasTurnOverUdp, PeerConnection } from '../peer/peer-connection.ts';
import { RelayFrames } from '../peer/relay-frames.ts';
import { SignalingClient, SignalingError, signalingUrl } from '../peer/signaling-client.ts';
import { answerP2P, dialP2P, type P2POptions } from '../protocol/code-p2p.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { SessionKeys } from '../protocol/keys.ts';
import { type Rendezvous, RendezvousError } from '../protocol/rendezvous.ts';
import {
  errorMessage,
  type HandshakeResult,
  runHandshake,
  TRANSPORT_PREFERENCES,
  type TransportPreference,
} from '../protocol/session.ts';
import type { FerryRole, ScryptFunction, Spake2 } from '../protocol/spake2.ts';
import {
  type FileResult,
  type FrameChannel,
  TransferError,
  type TransferProgress,
  type TransferResult,
} from '../protocol/transfer-session.ts';
import { ExitCode, fail as failHuman, onExit } from './exit.ts';
import {
  DEFAULT_SERVER,
  describeSelectedPair,
  type IceTransportPolicy,
  iceTransportPolicyOption,
  nativeLogFromEnv,
  noTurnMessage,
  tokenOption,
  tokenRefusal,
} from './peer-common.ts';
import { jsonLine, printable } from './terminal.ts';

export interface TransferFlags {
  server: string;
  transport: TransportPreference;
  bindAddress: string | undefined;
  iceTransportPolicy: IceTransportPolicy;
  token: string | undefined;
  json: boolean;
  verbose: boolean;
}

export function addTransferOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--server <url>', "the Ferry server's base URL (http:// or https://)")
        .env('FERRY_SERVER')
        .default(DEFAULT_SERVER),
    )
    .addOption(
      new Option('--transport <mode>', 'auto: direct if possible, else the relay; p2p or relay: only that one')
        .choices(TRANSPORT_PREFERENCES)
        .default('auto'),
    )
    .addOption(new Option('--bind-address <address>', 'local address for WebRTC (ICE host candidates)'))
    .addOption(tokenOption())
    .addOption(iceTransportPolicyOption())
    .addOption(new Option('--json', 'one JSON object per line instead of text and a progress bar').default(false))
    .addOption(new Option('--verbose', 'report connection details on stderr').default(false));
}

/** A number of seconds where 0 means never. */
export function seconds(flag: string): (raw: string) => number {
  return (raw) => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < 0) {
      failHuman(ExitCode.Usage, 'bad_flag', `${flag}: '${raw}' is not a number of seconds >= 0`);
    }
    return value;
  };
}

export function positiveSeconds(flag: string): (raw: string) => number {
  return (raw) => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) failHuman(ExitCode.Usage, 'bad_flag', `${flag}: '${raw}' is not > 0`);
    return value;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Output.

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

export type TransferEvent = { event: string } & Record<string, unknown>;

/** Human text and a progress bar on stderr, or JSON lines (on stdout unless stdout carries the received data). */
export class TransferOutput {
  readonly #json: boolean;
  #jsonOut: Writable;
  readonly #verbose: boolean;
  readonly #tty = process.stderr.isTTY === true;
  #bar = { shown: false, last: 0, startedAt: 0, rate: 0, sampleAt: 0, sampleBytes: 0 };

  constructor(flags: { json: boolean; verbose: boolean }, jsonOut: Writable = process.stdout) {
    this.#json = flags.json;
    this.#jsonOut = jsonOut;
    this.#verbose = flags.verbose;
  }

  get json(): boolean {
    return this.#json;
  }

  /** JSON lines go here from now on (stderr once stdout carries received data). */
  setJsonStream(stream: Writable): void {
    this.#jsonOut = stream;
  }

  /** A line for people (stderr); silent with --json. */
  say(text: string): void {
    if (this.#json) return;
    this.#clearBar();
    process.stderr.write(`${printable(text)}\n`);
  }

  /** A warning: always on stderr, also with --json. */
  warn(text: string): void {
    this.#clearBar();
    process.stderr.write(`ferry: ${printable(text)}\n`);
  }

  /** A diagnostic line under --verbose (stderr, also with --json). */
  debug(text: string): void {
    if (!this.#verbose) return;
    this.#clearBar();
    process.stderr.write(`ferry: ${printable(text)}\n`);
  }

  /** An event for scripts; silent without --json. */
  event(event: TransferEvent): void {
    if (this.#json) this.#jsonOut.write(`${jsonLine(event)}\n`);
  }

  progress({ bytes, total }: TransferProgress, final = false): void {
    const now = performance.now();
    const bar = this.#bar;
    if (bar.startedAt === 0) {
      bar.startedAt = now;
      bar.sampleAt = now;
    }
    // Rate: an exponential average of ~1 s samples, so the ETA does not jump with every chunk.
    if (now - bar.sampleAt >= 1000) {
      const instant = ((bytes - bar.sampleBytes) * 1000) / (now - bar.sampleAt);
      bar.rate = bar.rate === 0 ? instant : bar.rate * 0.6 + instant * 0.4;
      bar.sampleAt = now;
      bar.sampleBytes = bytes;
    }
    const interval = this.#json ? 500 : 100;
    if (!final && now - bar.last < interval) return;
    bar.last = now;
    const elapsed = (now - bar.startedAt) / 1000;
    const rate = bar.rate > 0 ? bar.rate : elapsed > 0 ? bytes / elapsed : 0;
    if (this.#json) {
      this.event({ event: 'progress', bytes, total, rate: Math.round(rate) });
      return;
    }
    if (!this.#tty) return;
    const width = 30;
    const fraction = total ? Math.min(1, bytes / total) : undefined;
    const filled = fraction === undefined ? 0 : Math.round(fraction * width);
    const graph =
      fraction === undefined
        ? ''
        : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% `;
    const amount = total === null ? formatBytes(bytes) : `${formatBytes(bytes)} / ${formatBytes(total)}`;
    const eta = total !== null && rate > 0 ? `  ETA ${formatDuration((total - bytes) / rate)}` : '';
    process.stderr.write(`\r\x1b[K${graph}${amount}  ${formatBytes(rate)}/s${eta}`);
    bar.shown = true;
    if (final) this.#clearBar(true);
  }

  #clearBar(keep = false): void {
    if (!this.#bar.shown) return;
    process.stderr.write(keep ? '\n' : '\r\x1b[K');
    this.#bar.shown = false;
  }

  /** Ends the process with an error: `ferry: error [code]: message` on stderr, or an `error` event. */
  fail(exitCode: ExitCode, code: string, message: string): never {
    this.#clearBar();
    if (this.#json) {
      this.event({ event: 'error', code, message, exit: exitCode });
      cleanup();
      process.exit(exitCode);
    }
    failHuman(exitCode, code, message);
  }

  /** Ends the process with an error derived from whatever went wrong. */
  failWith(error: unknown): never {
    const { exit, code, message } = classifyFailure(error);
    this.fail(exit, code, message);
  }
}

const CIPHER_WORDS: Record<string, string> = {
  CIPHER_TAMPERED: 'tampered',
  CIPHER_TRUNCATED: 'truncated',
  CIPHER_REORDERED: 'tampered',
  CIPHER_DUPLICATED: 'tampered',
  CIPHER_TRAILING_DATA: 'tampered',
  CIPHER_BAD_HEADER: 'tampered',
  FRAME_TRUNCATED: 'truncated',
};

/** Refusals of an offer the protocol itself makes (transfer.ts), by code word. */
const DECLINE_WORDS: Record<string, string> = {
  FRAME_PATH: 'unsafe_path',
  OFFER_TOO_LARGE: 'offer_too_large',
};

/**
 * The end of a verified transfer, said the same way by both commands: the `done` event and one human line,
 * `<verb> N over <path> in S s; <what was verified>`.
 */
export function reportDone(
  out: TransferOutput,
  result: TransferResult,
  startedAt: number,
  verb: 'Sent' | 'Received',
  verified: (single: FileResult | undefined) => string,
): void {
  const seconds = (performance.now() - startedAt) / 1000;
  const single = result.files.length === 1 ? result.files[0] : undefined;
  out.event({
    event: 'done',
    transport: result.transport,
    bytes: result.bytes,
    seconds: Number(seconds.toFixed(3)),
    ...(single ? { sha256: single.sha256 } : {}),
    files: result.files,
  });
  const path = result.transport === 'p2p' ? 'a direct connection' : 'the relay';
  out.say(`${verb} ${formatBytes(result.bytes)} over ${path} in ${seconds.toFixed(1)} s; ${verified(single)}.`);
}

/** Every failure of a code transfer as an exit code, a stable code word and a sentence. */
export function classifyFailure(error: unknown): { exit: ExitCode; code: string; message: string } {
  // A relay pipe refused our token: the transfer broke for that reason.
  const refused = tokenRefusal(error instanceof TransferError ? error.cause : error);
  if (refused) return { exit: ExitCode.AccessDenied, ...refused };
  if (error instanceof TransferError) {
    const message = error.message;
    switch (error.failure) {
      case 'declined':
        return { exit: ExitCode.Declined, code: DECLINE_WORDS[error.code] ?? 'declined', message };
      case 'cancelled':
        return error.byPeer
          ? { exit: ExitCode.Cancelled, code: 'cancelled', message }
          : { exit: ExitCode.Interrupted, code: 'interrupted', message: `cancelled: ${message}` };
      case 'integrity':
        return { exit: ExitCode.IntegrityFailure, code: CIPHER_WORDS[error.code] ?? 'integrity', message };
      case 'protocol':
        return { exit: ExitCode.Failure, code: 'protocol_error', message };
      case 'lost':
        return {
          exit: ExitCode.ConnectionFailed,
          code: error.code === 'TIMEOUT' ? 'timeout' : 'connection_lost',
          message,
        };
      case 'io':
        return { exit: ExitCode.Failure, code: 'io_error', message };
    }
  }
  if (error instanceof ProtocolError) {
    switch (error.code) {
      case 'WRONG_CODE':
        return { exit: ExitCode.WrongCode, code: 'wrong_code', message: error.message };
      case 'FINGERPRINT_MISMATCH':
      case 'FINGERPRINT_FORMAT':
        return { exit: ExitCode.IntegrityFailure, code: 'fingerprint_mismatch', message: error.message };
      case 'SESSION_TRANSPORT':
        return { exit: ExitCode.ConnectionFailed, code: 'connection_failed', message: error.message };
      case 'CODE_EMPTY':
      case 'CODE_FORMAT':
      case 'CODE_NUMBER':
      case 'CODE_WORD':
        return { exit: ExitCode.Usage, code: 'bad_code', message: error.message };
      default:
        return { exit: ExitCode.Failure, code: 'protocol_error', message: error.message };
    }
  }
  if (error instanceof RendezvousError) {
    switch (error.code) {
      case 'peer_left':
        return { exit: ExitCode.Cancelled, code: 'cancelled', message: error.message };
      case 'unknown_nameplate':
        return {
          exit: ExitCode.WrongCode,
          code: 'unknown_code',
          message:
            'no sender is waiting with this code number: check the code; a code works once, so if it was mistyped before, ask for a new one',
        };
      case 'nameplate_busy':
        return {
          exit: ExitCode.ConnectionFailed,
          code: 'code_in_use',
          message: 'someone else is using this code right now; check the code, or ask for a new one',
        };
      case 'nameplate_taken':
        return {
          exit: ExitCode.ConnectionFailed,
          code: 'code_in_use',
          message: 'another sender holds this code number; pick another --code or let ferry choose one',
        };
      case 'too_many_nameplates':
        return {
          exit: ExitCode.ConnectionFailed,
          code: 'too_many_codes',
          message: `the server refuses more codes from your address: ${error.message}`,
        };
      case 'hub_lost':
        return { exit: ExitCode.ServerUnreachable, code: 'server_lost', message: error.message };
      case 'hub_error':
        return { exit: ExitCode.ConnectionFailed, code: 'connection_failed', message: error.message };
    }
  }
  if (error instanceof SignalingError) {
    return { exit: ExitCode.ServerUnreachable, code: 'server_unreachable', message: error.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exit: ExitCode.Failure, code: 'failed', message };
}

// ---------------------------------------------------------------------------------------------------------------
// The session.

/** Reach the hub (exit 3 if it cannot be reached, 2 for a bad --server). */
/**
 * The code's scrypt on node:crypto: native, and on the thread pool, so it runs while the process loads and reaches
 * the hub. @noble's scryptAsync (the isomorphic default) took 0.5–1.5 s of the main thread on a loaded machine.
 */
export const nodeScrypt: ScryptFunction = (password, salt, { N, r, p, dkLen }) =>
  new Promise((resolve, reject) => {
    // maxmem: scrypt needs 128·N·r bytes (32 MiB for Ferry's parameters), Node's default cap is exactly that.
    scrypt(password, salt, dkLen, { N, r, p, maxmem: 256 * N * r }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });

export async function reachHub(flags: TransferFlags, out: TransferOutput): Promise<SignalingClient> {
  onExit(cleanup);
  nativeLogFromEnv();
  try {
    signalingUrl(flags.server);
  } catch (error) {
    out.fail(ExitCode.Usage, 'bad_flag', `--server: ${(error as Error).message}`);
  }
  let signaling: SignalingClient;
  try {
    signaling = await SignalingClient.connect(flags.server, { token: flags.token });
  } catch (error) {
    const refused = tokenRefusal(error);
    if (refused) out.fail(ExitCode.AccessDenied, refused.code, refused.message);
    const reason = error instanceof Error ? error.message : String(error);
    out.fail(
      ExitCode.ServerUnreachable,
      'server_unreachable',
      `${reason}. Check --server or FERRY_SERVER (now ${flags.server}).`,
    );
  }
  // Checked before anyone is met: a relay-only policy without TURN could only time out.
  if (flags.iceTransportPolicy === 'relay' && flags.transport !== 'relay' && !hasTurnOverUdp(signaling.iceServers)) {
    void signaling.close();
    out.fail(ExitCode.ConnectionFailed, 'no_relay', noTurnMessage(flags.server));
  }
  return signaling;
}

/** Awaits `step`; if it takes longer than `seconds` (0: no limit), `late` runs first (an out.fail that ends the process). */
export async function deadline<T>(step: Promise<T>, seconds: number, late: () => void): Promise<T> {
  if (seconds <= 0) return step;
  const timer = setTimeout(late, seconds * 1000);
  try {
    return await step;
  } finally {
    clearTimeout(timer);
  }
}

export async function handshake(
  role: FerryRole,
  spake2: Spake2 | Promise<Spake2>,
  flags: TransferFlags,
  rendezvous: Rendezvous,
  out: TransferOutput,
): Promise<HandshakeResult> {
  const result = await runHandshake(role, spake2, flags.transport, rendezvous);
  out.debug(`code confirmed; transports allowed: ${result.transport}`);
  return result;
}

export interface TransportContext {
  role: FerryRole;
  agreed: TransportPreference;
  keys: SessionKeys;
  rendezvous: Rendezvous<SignalingClient>;
  flags: TransferFlags;
  /** The sender's --p2p-timeout, in seconds. */
  p2pTimeout: number;
  out: TransferOutput;
}

/**
 * Opens what carries the frames: the sender tries a data channel (unless relay was agreed) and falls back to the
 * relay if none opens within --p2p-timeout (and relay is allowed); the receiver follows the sender's choice.
 */
export async function openTransport(ctx: TransportContext): Promise<FrameChannel> {
  const { role, agreed, keys, rendezvous, flags, out } = ctx;
  const relay = async () => {
    out.debug(`relay paths derived; opening ${flags.server}`);
    return RelayFrames.open({ server: flags.server, keys, role, token: flags.token });
  };
  if (agreed === 'relay') return relay();
  // Every peer connection here is node-datachannel's (connect below), whatever type the shared code sees.
  const p2p: Omit<P2POptions, 'timeoutMs'> = {
    keys,
    rendezvous,
    connect: () =>
      new PeerConnection({
        iceServers: rendezvous.signaling.iceServers,
        bindAddress: flags.bindAddress,
        iceTransportPolicy: flags.iceTransportPolicy,
      }),
    report: (message) => out.debug(message),
  };
  if (role === 'receiver') {
    const outcome = await answerP2P(p2p);
    if ('relay' in outcome) return relay();
    out.debug(describeSelectedPair(outcome.pc as PeerConnection));
    return outcome;
  }
  const outcome = await dialP2P({ ...p2p, timeoutMs: ctx.p2pTimeout * 1000 });
  if (!('failed' in outcome)) {
    out.debug(describeSelectedPair(outcome.pc as PeerConnection));
    return outcome;
  }
  if (agreed === 'p2p') {
    const error = new ProtocolError('SESSION_TRANSPORT', `no direct connection: ${outcome.failed}`);
    try {
      rendezvous.send(errorMessage(error));
    } catch {
      // The hub is gone; the receiver notices that.
    }
    throw error;
  }
  out.debug(`no direct connection (${outcome.failed}); using the relay`);
  rendezvous.send({ t: 'transport', use: 'relay' });
  return relay();
}

export function describeTransport(channel: FrameChannel, server: string): string {
  return channel.transport === 'p2p'
    ? 'connected directly (peer to peer, WebRTC)'
    : `connected through the relay at ${server} (end-to-end encrypted)`;
}

/** Ctrl-C / SIGTERM: before the transfer runs, leave at once; while it runs, cancel it (the peer is told). */
export class Interrupts {
  readonly #controller = new AbortController();
  #transferring = false;

  constructor(out: TransferOutput) {
    const onSignal = () => {
      // A second signal, or one before there is a transfer to cancel, ends the process now.
      if (!this.#transferring || this.#controller.signal.aborted) {
        out.fail(ExitCode.Interrupted, 'interrupted', 'interrupted before the transfer started');
      }
      this.#controller.abort(new Error('interrupted (the transfer was cancelled here)'));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The transfer runs: from now on a signal cancels it instead of ending the process at once. */
  transferring(): void {
    this.#transferring = true;
  }
}

/** Success: release WebRTC and leave with 0. */
export function finish(): never {
  cleanup();
  process.exit(ExitCode.Ok);
}
