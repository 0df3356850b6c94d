// Every setting of `ferry serve` in one table: flag, environment variable, default, parser.
// The CLI builds its options from this table and the README lists it, so a limit cannot exist
// without a name, a default and documentation.
import { InvalidArgumentError } from 'commander';
import { parseIceServerSpec, parseIceUrl } from '../protocol/ice-url.ts';
import type { IceServer } from '../protocol/signaling.ts';
import { type ProtectRule, parseOrigin, parseProtectRule, parseTokenEntry, type TokenEntry } from './access.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ServeConfig {
  host: string | undefined;
  httpPort: number;
  enableHttps: boolean;
  httpsPort: number | undefined;
  keyPath: string | undefined;
  crtPath: string | undefined;
  logLevel: LogLevel;
  /** Seconds a client may take to send its request headers (slowloris guard). */
  headerTimeout: number;
  /** Seconds an HTTP/2 session may go without a stream before it is closed. */
  idleTimeout: number;
  /** TCP connections one client address may hold at once, on every listener together. */
  maxConnectionsPerClient: number;
  /** Seconds running transfers get to finish on shutdown before they are cut. */
  shutdownGrace: number;
  maxWaitingPipes: number;
  maxReceivers: number;
  maxPathLength: number;
  maxPipesPerClient: number;
  /** Seconds a pipe may wait for its other side; 0 waits forever. */
  maxWait: number;
  /** UDP port of the STUN Binding responder (RFC 8489), bound to `host`; 0 turns it off. */
  stunPort: number;
  /** Seconds between signaling heartbeats; a peer silent for a whole interval is dropped. */
  heartbeatInterval: number;
  /** Largest signaling message, in bytes. */
  maxMessageSize: number;
  /** Signaling messages per second per connection. */
  messageRate: number;
  maxRoomsPerPeer: number;
  maxPeersPerRoom: number;
  /** Signaling connections at once. */
  maxPeers: number;
  /** Signaling connections one client address may hold at once. */
  maxPeersPerClient: number;
  /** Room memberships the peers of one client address may hold together. */
  maxRoomsPerClient: number;
  /** Signaling messages per second from one client address, all its connections together. */
  messageRatePerClient: number;
  maxCodesPerClient: number;
  /** STUN/TURN servers handed to peers. */
  iceServers: IceServer[];
  /** Where clients are told our STUN responder is; undefined: a specific --host, else the Host they used. */
  publicHost: string | undefined;
  /** TURN servers (turn:/turns: URIs) that share `turnSecret`; peers get them with minted credentials. */
  turnUrls: string[];
  /** The TURN REST API shared secret (coturn's static-auth-secret). */
  turnSecret: string | undefined;
  /** Seconds a minted TURN credential is valid. */
  turnTtl: number;
  /** Access tokens given directly (access.ts). */
  tokens: TokenEntry[];
  /** A file of access tokens, reloaded when it changes. */
  tokensFile: string | undefined;
  /** What needs a token; with tokens and no rule, everything. */
  protect: ProtectRule[];
  /** Browser origins besides the server's own that may open WebSockets, use tokens and get private-network access. */
  allowedOrigins: string[];
}

export interface OptionSpec<K extends keyof ServeConfig = keyof ServeConfig> {
  key: K;
  flags: string;
  env: string;
  description: string;
  default: ServeConfig[K];
  /** `previous` is the value so far: the default, or what earlier occurrences of a repeatable flag gave. */
  parse?: (raw: string, previous: ServeConfig[K]) => ServeConfig[K];
}

function integer(min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`expected a whole number, got '${raw}'.`);
    const value = Number(raw);
    if (value < min || value > max) throw new InvalidArgumentError(`expected ${min}..${max}, got ${value}.`);
    return value;
  };
}
const port = integer(0, 65535);

function decimal(min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+(\.\d+)?$/.test(raw.trim())) throw new InvalidArgumentError(`expected a number, got '${raw}'.`);
    const value = Number(raw);
    if (value < min || value > max) throw new InvalidArgumentError(`expected ${min}..${max}, got ${value}.`);
    return value;
  };
}

/** Repeatable: each flag adds servers; the environment variable may list several, separated by commas. */
function iceServers(raw: string, previous: IceServer[]): IceServer[] {
  const added = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return parseIceServerSpec(s);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    });
  return [...previous, ...added];
}

/** Repeatable like --ice-server; credentials are minted from --turn-secret, so none may be written in the URI. */
function turnUrls(raw: string, previous: string[]): string[] {
  const added = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const url of added) {
    if (url.includes('@')) {
      throw new InvalidArgumentError(`'${url}': no USER:PASS@ here; credentials are minted from --turn-secret.`);
    }
    let scheme: string;
    try {
      scheme = parseIceUrl(url).scheme;
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    if (scheme !== 'turn' && scheme !== 'turns')
      throw new InvalidArgumentError(`'${url}' is not a turn: or turns: URI.`);
  }
  return [...previous, ...added];
}

/** A name or address for a stun: URI; an IPv6 literal may come with or without brackets. */
function publicHost(raw: string): string {
  const trimmed = raw.trim();
  const host = /^\[.*\]$/.test(trimmed) ? trimmed.slice(1, -1) : trimmed;
  try {
    parseIceUrl(`stun:${host.includes(':') ? `[${host}]` : host}`);
  } catch {
    throw new InvalidArgumentError(`'${raw}' is not a host name or IP address.`);
  }
  return host;
}

/** A repeatable flag whose environment variable lists several, separated by commas; `parse` reads one entry. */
function list<T>(parse: (entry: string) => T | T[]) {
  return (raw: string, previous: T[]): T[] => {
    const added = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .flatMap((s) => {
        try {
          return parse(s);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      });
    return [...previous, ...added];
  };
}

function logLevel(raw: string): LogLevel {
  const level = raw.trim().toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}.`);
  return level;
}

function spec<K extends keyof ServeConfig>(s: OptionSpec<K>): OptionSpec {
  return s as unknown as OptionSpec;
}

export const SERVE_OPTIONS: readonly OptionSpec[] = [
  spec({
    key: 'host',
    flags: '--host <address>',
    env: 'FERRY_HOST',
    description: 'bind address (all interfaces when unset)',
    default: undefined,
  }),
  spec({
    key: 'httpPort',
    flags: '--http-port <port>',
    env: 'FERRY_HTTP_PORT',
    description: 'HTTP port (HTTP/1.1 and cleartext HTTP/2)',
    default: 8080,
    parse: port,
  }),
  spec({
    key: 'enableHttps',
    flags: '--enable-https',
    env: 'FERRY_ENABLE_HTTPS',
    description: 'also serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN)',
    default: false,
  }),
  spec({
    key: 'httpsPort',
    flags: '--https-port <port>',
    env: 'FERRY_HTTPS_PORT',
    description: 'HTTPS port (required with --enable-https)',
    default: undefined,
    parse: port,
  }),
  spec({
    key: 'keyPath',
    flags: '--key-path <file>',
    env: 'FERRY_KEY_PATH',
    description: 'TLS private key, PEM (reloaded when it changes)',
    default: undefined,
  }),
  spec({
    key: 'crtPath',
    flags: '--crt-path <file>',
    env: 'FERRY_CRT_PATH',
    description: 'TLS certificate chain, PEM (reloaded when it changes)',
    default: undefined,
  }),
  spec({
    key: 'logLevel',
    flags: '--log-level <level>',
    env: 'FERRY_LOG_LEVEL',
    description: `log level: ${LOG_LEVELS.join(', ')}`,
    default: 'warn',
    parse: logLevel,
  }),
  spec({
    key: 'headerTimeout',
    flags: '--header-timeout <seconds>',
    env: 'FERRY_HEADER_TIMEOUT',
    description: 'seconds a client gets to send its request headers',
    default: 30,
    parse: integer(1, 3600),
  }),
  spec({
    key: 'idleTimeout',
    flags: '--idle-timeout <seconds>',
    env: 'FERRY_IDLE_TIMEOUT',
    description: 'seconds an HTTP/2 connection may go without an open stream before it is closed',
    default: 60,
    parse: integer(1, 86400),
  }),
  spec({
    key: 'maxConnectionsPerClient',
    flags: '--max-connections-per-client <count>',
    env: 'FERRY_MAX_CONNECTIONS_PER_CLIENT',
    description: 'TCP connections one client address may hold at once, HTTP and HTTPS together',
    default: 256,
    parse: integer(1, 10_000_000),
  }),
  spec({
    key: 'shutdownGrace',
    flags: '--shutdown-grace <seconds>',
    env: 'FERRY_SHUTDOWN_GRACE',
    description: 'seconds running transfers get to finish on SIGTERM/SIGINT',
    default: 30,
    parse: integer(0, 86400),
  }),
  spec({
    key: 'maxWaitingPipes',
    flags: '--max-waiting-pipes <count>',
    env: 'FERRY_MAX_WAITING_PIPES',
    description: 'pipes that may wait for their other side at once',
    default: 100_000,
    parse: integer(1, 10_000_000),
  }),
  spec({
    key: 'maxReceivers',
    flags: '--max-receivers <n>',
    env: 'FERRY_MAX_RECEIVERS',
    description: 'largest n (receivers of one pipe)',
    default: 100,
    parse: integer(1, 100_000),
  }),
  spec({
    key: 'maxPathLength',
    flags: '--max-path-length <bytes>',
    env: 'FERRY_MAX_PATH_LENGTH',
    description: 'longest pipe path, in bytes',
    default: 1024,
    parse: integer(1, 16_384),
  }),
  spec({
    key: 'maxPipesPerClient',
    flags: '--max-pipes-per-client <count>',
    env: 'FERRY_MAX_PIPES_PER_CLIENT',
    description: 'senders and receivers one client address may have waiting or active',
    default: 1000,
    parse: integer(1, 10_000_000),
  }),
  spec({
    key: 'maxWait',
    flags: '--max-wait <seconds>',
    env: 'FERRY_MAX_WAIT',
    description: 'seconds a pipe waits for its other side (0: no limit)',
    default: 0,
    parse: integer(0, 31_536_000),
  }),
  spec({
    key: 'stunPort',
    flags: '--stun-port <port>',
    env: 'FERRY_STUN_PORT',
    description: 'UDP port of the built-in STUN server, on --host (0: off)',
    default: 3478,
    parse: port,
  }),
  spec({
    key: 'heartbeatInterval',
    flags: '--heartbeat-interval <seconds>',
    env: 'FERRY_HEARTBEAT_INTERVAL',
    description: 'seconds between signaling heartbeats; a peer silent for a whole interval is dropped',
    default: 30,
    parse: decimal(0.05, 3600),
  }),
  spec({
    key: 'maxMessageSize',
    flags: '--max-message-size <bytes>',
    env: 'FERRY_MAX_MESSAGE_SIZE',
    description: 'largest signaling message (4x this closes the connection)',
    default: 65_536,
    parse: integer(256, 16_777_216),
  }),
  spec({
    key: 'messageRate',
    flags: '--message-rate <per-second>',
    env: 'FERRY_MESSAGE_RATE',
    description: 'signaling messages per second per connection (a peer that keeps flooding is disconnected)',
    default: 100,
    parse: integer(1, 1_000_000),
  }),
  spec({
    key: 'maxRoomsPerPeer',
    flags: '--max-rooms-per-peer <count>',
    env: 'FERRY_MAX_ROOMS_PER_PEER',
    description: 'rooms one signaling peer may be in at once',
    default: 32,
    parse: integer(1, 100_000),
  }),
  spec({
    key: 'maxPeersPerRoom',
    flags: '--max-peers-per-room <count>',
    env: 'FERRY_MAX_PEERS_PER_ROOM',
    description: 'members one room may hold, whatever capacity its creator asked for',
    default: 100,
    parse: integer(1, 1_000_000),
  }),
  spec({
    key: 'maxPeers',
    flags: '--max-peers <count>',
    env: 'FERRY_MAX_PEERS',
    description: 'signaling connections at once (all endpoints)',
    default: 20_000,
    parse: integer(1, 10_000_000),
  }),
  spec({
    key: 'maxPeersPerClient',
    flags: '--max-peers-per-client <count>',
    env: 'FERRY_MAX_PEERS_PER_CLIENT',
    description: 'signaling connections one client address may hold at once (IPv6: per /64)',
    default: 200,
    parse: integer(1, 10_000_000),
  }),
  spec({
    key: 'maxRoomsPerClient',
    flags: '--max-rooms-per-client <count>',
    env: 'FERRY_MAX_ROOMS_PER_CLIENT',
    description: 'room memberships the signaling peers of one client address may hold together',
    default: 1000,
    parse: integer(1, 10_000_000),
  }),
  spec({
    key: 'messageRatePerClient',
    flags: '--message-rate-per-client <per-second>',
    env: 'FERRY_MESSAGE_RATE_PER_CLIENT',
    description: 'signaling messages per second from one client address, all its connections together',
    default: 1000,
    parse: integer(1, 10_000_000),
  }),
  spec({
    key: 'maxCodesPerClient',
    flags: '--max-codes-per-client <count>',
    env: 'FERRY_MAX_CODES_PER_CLIENT',
    description: 'code nameplates one client address may hold at once (sending and receiving together)',
    default: 8,
    parse: integer(1, 100_000),
  }),
  spec({
    key: 'iceServers',
    flags: '--ice-server <uri>',
    env: 'FERRY_ICE_SERVERS',
    description: 'STUN/TURN server for peers, repeatable: stun:HOST[:PORT], turn:USER:PASS@HOST[:PORT][?transport=tcp]',
    default: [],
    parse: iceServers,
  }),
  spec({
    key: 'publicHost',
    flags: '--public-host <host>',
    env: 'FERRY_PUBLIC_HOST',
    description:
      'name or address peers are told to reach our STUN server at (default: a specific --host, else the Host header)',
    default: undefined,
    parse: publicHost,
  }),
  spec({
    key: 'turnUrls',
    flags: '--turn-url <uri>',
    env: 'FERRY_TURN_URLS',
    description:
      'TURN server sharing --turn-secret, repeatable: turn:HOST[:PORT][?transport=udp|tcp], turns:HOST[:PORT]',
    default: [],
    parse: turnUrls,
  }),
  spec({
    key: 'turnSecret',
    flags: '--turn-secret <secret>',
    env: 'FERRY_TURN_SECRET',
    description: "the TURN server's shared secret (coturn static-auth-secret); peers get credentials minted from it",
    default: undefined,
  }),
  spec({
    key: 'turnTtl',
    flags: '--turn-ttl <seconds>',
    env: 'FERRY_TURN_TTL',
    description: 'seconds a minted TURN credential stays valid',
    default: 3600,
    parse: integer(60, 2_592_000),
  }),
  spec({
    key: 'tokens',
    flags: '--tokens <tokens>',
    env: 'FERRY_TOKENS',
    description: 'access tokens, [NAME:]TOKEN, comma-separated or repeated (at least 16 characters each)',
    default: [],
    parse: list(parseTokenEntry),
  }),
  spec({
    key: 'tokensFile',
    flags: '--tokens-file <file>',
    env: 'FERRY_TOKENS_FILE',
    description: 'file of access tokens, one [NAME:]TOKEN a line (reloaded when it changes)',
    default: undefined,
  }),
  spec({
    key: 'protect',
    flags: '--protect <rule>',
    env: 'FERRY_PROTECT',
    description: 'what needs a token, repeatable: send:/PREFIX, receive:/PREFIX, all:/PREFIX, hub, ice (default: all)',
    default: [],
    parse: list(parseProtectRule),
  }),
  spec({
    key: 'allowedOrigins',
    flags: '--allowed-origins <origins>',
    env: 'FERRY_ALLOWED_ORIGINS',
    description: "browser origins besides the server's own that may use it, comma-separated or repeated; * for any",
    default: [],
    parse: list(parseOrigin),
  }),
];

export function defaultConfig(): ServeConfig {
  return Object.fromEntries(SERVE_OPTIONS.map((o) => [o.key, o.default])) as unknown as ServeConfig;
}

/** Cross-option checks that a single parser cannot make. Returns a message for the user, or undefined. */
export function validateConfig(config: ServeConfig): string | undefined {
  if (config.enableHttps) {
    if (config.httpsPort === undefined) return '--https-port is required with --enable-https';
    if (config.keyPath === undefined) return '--key-path is required with --enable-https';
    if (config.crtPath === undefined) return '--crt-path is required with --enable-https';
  }
  const hasSecret = config.turnSecret !== undefined && config.turnSecret !== '';
  if (config.turnUrls.length > 0 && !hasSecret)
    return "--turn-url needs --turn-secret (the TURN server's shared secret)";
  if (hasSecret && config.turnUrls.length === 0) return '--turn-secret needs at least one --turn-url';
  if (config.protect.length > 0 && config.tokens.length === 0 && config.tokensFile === undefined)
    return '--protect needs --tokens or --tokens-file';
  return undefined;
}
