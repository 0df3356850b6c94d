// What `ferry listen` and `ferry connect` share: their flags, reaching the hub with errors mapped to exit
// codes, lines in from stdin and out to stdout, and state reports on stderr under --verbose.
import { createInterface, type Interface } from 'node:readline';
import { type Command, Option } from 'commander';
import { AccessRefused, TOKEN_SHAPE } from '../peer/access.ts';
import type { PeerDataChannel } from '../peer/data-channel.ts';
import {
  cleanup,
  enableNativeLog,
  hasTurnOverUdp,
  type PeerConfiguration,
  type PeerConnection,
  type SelectedCandidate,
} from '../peer/peer-connection.ts';
import { SignalingClient, SignalingError, signalingUrl } from '../peer/signaling-client.ts';
import { ExitCode, fail, onExit } from './exit.ts';

export type IceTransportPolicy = 'all' | 'relay';

export interface PeerOptions {
  server: string;
  bindAddress: string | undefined;
  iceTransportPolicy: IceTransportPolicy;
  token: string | undefined;
  verbose: boolean;
}

export const DEFAULT_SERVER = 'http://localhost:8080';

export function addPeerOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--server <url>', "the Ferry server's base URL (http:// or https://)")
        .env('FERRY_SERVER')
        .default(DEFAULT_SERVER),
    )
    .addOption(new Option('--bind-address <address>', 'local address for WebRTC (ICE host candidates)'))
    .addOption(tokenOption())
    .addOption(iceTransportPolicyOption())
    .addOption(new Option('--verbose', 'report connection states on stderr').default(false));
}

/**
 * `--token`, shared by every client command: sent to the Ferry server (and nowhere else) as `Authorization: Bearer`.
 * No default, so `--help` shows no value; a bad one is refused without repeating it.
 */
export function tokenOption(): Option {
  return new Option('--token <token>', 'access token for a server that asks for one')
    .env('FERRY_TOKEN')
    .argParser((raw) => {
      if (!TOKEN_SHAPE.test(raw)) fail(ExitCode.Usage, 'bad_flag', '--token: a token is visible ASCII, without spaces');
      return raw;
    });
}

/** Why the server refused our token, as the CLI reports it (exit 11), or undefined for any other failure. */
export function tokenRefusal(error: unknown): { code: string; message: string } | undefined {
  if (error instanceof AccessRefused) return { code: error.code, message: error.message };
  if (error instanceof SignalingError && (error.code === 'token_required' || error.code === 'token_invalid')) {
    return { code: error.code, message: error.message };
  }
  return undefined;
}

/** `--ice-transport-policy`, shared by every command that makes a WebRTC connection. */
export function iceTransportPolicyOption(): Option {
  return new Option(
    '--ice-transport-policy <policy>',
    "'relay': only through the server's TURN relay; 'all': direct first",
  )
    .choices(['all', 'relay'])
    .env('FERRY_ICE_TRANSPORT_POLICY')
    .default('all');
}

const NATIVE_LOG_LEVELS = ['Verbose', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'] as const;

/** FERRY_WEBRTC_LOG=Debug (or another libdatachannel level) sends the native log to stderr, for diagnosis. */
export function nativeLogFromEnv(): void {
  const level = NATIVE_LOG_LEVELS.find((l) => l.toLowerCase() === process.env.FERRY_WEBRTC_LOG?.toLowerCase());
  if (level) enableNativeLog(level, (line) => process.stderr.write(`ferry: ${line}\n`));
}

export function reporter(verbose: boolean): (message: string) => void {
  return verbose ? (message) => process.stderr.write(`ferry: ${message}\n`) : () => {};
}

/** Reach the hub and register, or exit with the code that says why not. */
export async function reachHub(options: PeerOptions, id?: string): Promise<SignalingClient> {
  // Native WebRTC threads keep a process alive; every exit path releases them.
  onExit(cleanup);
  nativeLogFromEnv();
  try {
    signalingUrl(options.server);
  } catch (err) {
    fail(ExitCode.Usage, 'bad_flag', `--server: ${(err as Error).message}`);
  }
  try {
    return await SignalingClient.connect(options.server, { id, token: options.token });
  } catch (err) {
    const refused = tokenRefusal(err);
    if (refused) fail(ExitCode.AccessDenied, refused.code, refused.message);
    if (err instanceof SignalingError && err.code === 'id_reserved') {
      fail(ExitCode.Usage, 'bad_flag', `--id: '${id}' starts with '_', which only server-made ids do; pick another`);
    }
    if (err instanceof SignalingError && err.code === 'id_taken') {
      fail(ExitCode.NameTaken, 'name_taken', `the name '${id}' is already in use on ${options.server}; pick another`);
    }
    const reason = err instanceof Error ? err.message : String(err);
    fail(
      ExitCode.ServerUnreachable,
      'server_unreachable',
      `${reason}. Check --server or FERRY_SERVER (now ${options.server}).`,
    );
  }
}

/** Why a relay-only policy cannot work with this server (error code `no_relay`). */
export function noTurnMessage(server: string): string {
  return (
    `--ice-transport-policy relay needs a TURN server over UDP, and ${server} hands out none ` +
    '(ferry serve --turn-url turn:HOST:PORT --turn-secret SECRET)'
  );
}

/**
 * The WebRTC configuration for this command's peer connections (the ICE servers come from the hub's welcome).
 * A relay-only policy with no TURN server node-datachannel can use would only time out, so it fails here.
 */
export function peerConfiguration(
  options: Pick<PeerOptions, 'server' | 'bindAddress' | 'iceTransportPolicy'>,
  signaling: SignalingClient,
): PeerConfiguration {
  if (options.iceTransportPolicy === 'relay' && !hasTurnOverUdp(signaling.iceServers)) {
    fail(ExitCode.ConnectionFailed, 'no_relay', noTurnMessage(options.server));
  }
  return { bindAddress: options.bindAddress, iceTransportPolicy: options.iceTransportPolicy };
}

/** "local relay udp 127.0.0.2:61001, remote relay udp 127.0.0.2:61003": which path the data takes. */
export function describeSelectedPair(pc: PeerConnection): string {
  const pair = pc.getSelectedCandidatePair();
  if (!pair) return 'selected candidate pair: none yet';
  const end = (c: SelectedCandidate) =>
    `${c.type} ${c.protocol} ${c.address.includes(':') ? `[${c.address}]` : c.address}:${c.port}`;
  return `selected candidate pair: local ${end(pair.local)}, remote ${end(pair.remote)}`;
}

/** Each stdin line, with backpressure: reading pauses while `busy()` says the channels are full. */
export function readLines(onLine: (line: string) => void, onEnd: () => void): Interface {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', onLine);
  lines.once('close', onEnd);
  return lines;
}

/** High-water mark for a channel's send buffer: stdin is paused above it and resumed when it drains. */
export const CHANNEL_HIGH_WATER = 1 << 20;

/** Send one line; pause `lines` until the channel drains if it is full. */
export function sendLine(channel: PeerDataChannel, line: string, lines: Interface): void {
  channel.send(line);
  if (channel.bufferedAmount > CHANNEL_HIGH_WATER) {
    lines.pause();
    channel.bufferedAmountLowThreshold = CHANNEL_HIGH_WATER / 2;
    channel.addEventListener('bufferedamountlow', () => lines.resume(), { once: true });
  }
}

/** A received message as one stdout line. */
export function printMessage(data: string | ArrayBuffer): void {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Resolve once every queued byte of the channel has left (bounded by `timeoutMs`). */
export function drained(channel: PeerDataChannel, timeoutMs = 5000): Promise<void> {
  if (channel.readyState !== 'open' || channel.bufferedAmount === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    channel.bufferedAmountLowThreshold = 0;
    channel.addEventListener(
      'bufferedamountlow',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Release WebRTC and leave with `code`. */
export function exit(code: ExitCode): never {
  cleanup();
  process.exit(code);
}
