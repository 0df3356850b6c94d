// Optional access control (SPEC §1): which requests need a token, whether the one presented is good, and which
// browser origins may drive the server. Off by default: with no token configured every pipe, the hub and /_/ice are
// open, as on piping-server; only WebSocket upgrades and private-network preflights look at `Origin` (a page on
// another site must not drive a server it found on its visitor's LAN). Knows requests, not the relay or the hub.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Logger } from './log.ts';

type Request = IncomingMessage | Http2ServerRequest;

/** What a rule protects: sending or receiving on pipes under a prefix, the signaling hub, TURN credentials. */
export type Scope = 'send' | 'receive' | 'hub' | 'ice';

/** One `--protect` rule; `prefix` is a request path prefix, percent-encoded as pipes are named. */
export interface ProtectRule {
  scope: Scope;
  prefix?: string;
}

export interface TokenEntry {
  /** The name before `:` on a tokens line: it becomes the TURN user part of whoever presents the token. */
  name: string | undefined;
  token: string;
}

export type AccessCode = 'token_required' | 'token_invalid' | 'origin_not_allowed';

export interface Refusal {
  status: 401 | 403;
  code: AccessCode;
  message: string;
}

/** What a request presented: no token, a good one (with its name, if it has one), or a wrong one. */
export type Credential = { kind: 'none' } | { kind: 'valid'; name: string | undefined } | { kind: 'invalid' };

export interface AccessSettings {
  /** `--tokens`: tokens given on the command line or in FERRY_TOKENS. */
  tokens: TokenEntry[];
  /** `--tokens-file`: one `[NAME:]TOKEN` a line, reloaded when it changes. */
  tokensFile: string | undefined;
  /** `--protect`; none while tokens exist means everything. */
  protect: ProtectRule[];
  /** `--allowed-origins`: origins besides the server's own; `*` for any. */
  allowedOrigins: string[];
}

/** A token or tokens-file problem found at start-up: a usage error, not a failure to listen. */
export class AccessConfigError extends Error {}

export const MIN_TOKEN_LENGTH = 16;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
// Visible ASCII: a token travels in headers, in basic auth and in a query string.
const TOKEN = /^[\x21-\x7e]+$/;

/** One `[NAME:]TOKEN` entry; throws a message for the user when it is not one. */
export function parseTokenEntry(text: string): TokenEntry {
  const colon = text.indexOf(':');
  const name = colon === -1 ? undefined : text.slice(0, colon);
  const token = colon === -1 ? text : text.slice(colon + 1);
  if (name !== undefined && !NAME.test(name)) {
    throw new AccessConfigError(`token name '${name}' may only hold letters, digits, '.', '_' and '-' (1-64)`);
  }
  if (!TOKEN.test(token)) throw new AccessConfigError('a token is visible ASCII, without spaces');
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new AccessConfigError(`a token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  return { name, token };
}

/** A tokens file: one entry a line; blank lines and `#` comments are skipped. */
export function parseTokensFile(text: string): TokenEntry[] {
  const entries: TokenEntry[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      entries.push(parseTokenEntry(line));
    } catch (err) {
      throw new AccessConfigError(`line ${index + 1}: ${(err as Error).message}`);
    }
  }
  return entries;
}

/** One `--protect` rule: `send:/PREFIX`, `receive:/PREFIX`, `all:/PREFIX`, `hub` or `ice`. */
export function parseProtectRule(text: string): ProtectRule[] {
  if (text === 'hub' || text === 'ice') return [{ scope: text }];
  const match = /^(send|receive|all):(\/.*)$/.exec(text);
  if (!match) throw new AccessConfigError(`'${text}' is not send:/PREFIX, receive:/PREFIX, all:/PREFIX, hub or ice`);
  // Pipes are named by their percent-encoded path (relay/path.ts); a prefix written as `/€` must match `/%E2%82%AC`.
  const prefix = new URL(match[2] as string, 'a:///').pathname;
  const scopes: Scope[] = match[1] === 'all' ? ['send', 'receive'] : [match[1] as Scope];
  return scopes.map((scope) => ({ scope, prefix }));
}

/** An `--allowed-origins` entry, normalized as browsers send `Origin` (`scheme://host[:port]`), or `*`. */
export function parseOrigin(text: string): string {
  if (text === '*') return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AccessConfigError(`'${text}' is not an origin such as https://app.example.org`);
  }
  if (url.origin === 'null' || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new AccessConfigError(`'${text}' is not an origin such as https://app.example.org (no path)`);
  }
  return url.origin;
}

const digest = (token: string) => createHash('sha256').update(token).digest();

interface StoredToken {
  digest: Buffer;
  name: string | undefined;
}

const CHALLENGE = 'Bearer realm="ferry", Basic realm="ferry"';

export class AccessControl {
  /** Whether any token source is configured: without one, no request ever needs a token. */
  readonly enabled: boolean;
  readonly #static: StoredToken[];
  #fromFile: StoredToken[] = [];
  readonly #rules: ProtectRule[];
  readonly #origins: Set<string>;
  #stopWatching = () => {};

  constructor(
    settings: AccessSettings,
    private readonly log: Logger,
  ) {
    this.enabled = settings.tokens.length > 0 || settings.tokensFile !== undefined;
    this.#static = settings.tokens.map(store);
    // Tokens and no rule: the operator wants a private server, every pipe, the hub and TURN.
    this.#rules =
      settings.protect.length > 0
        ? settings.protect
        : [{ scope: 'send', prefix: '' }, { scope: 'receive', prefix: '' }, { scope: 'hub' }, { scope: 'ice' }];
    this.#origins = new Set(settings.allowedOrigins);
    const file = settings.tokensFile;
    if (file !== undefined) {
      this.#fromFile = readTokensFile(file);
      const reload = () => {
        try {
          this.#fromFile = readTokensFile(file);
          this.log.warn({ file, tokens: this.#fromFile.length }, 'tokens file reloaded');
        } catch (err) {
          this.log.error(
            { file, err: (err as Error).message },
            'tokens file not reloaded; keeping the previous tokens',
          );
        }
      };
      watchFile(file, { interval: 500 }, reload);
      this.#stopWatching = () => unwatchFile(file, reload);
    }
  }

  close(): void {
    this.#stopWatching();
  }

  /** Whether `scope` (on `path`, for pipes) needs a token. */
  needsToken(scope: Scope, path = ''): boolean {
    if (!this.enabled) return false;
    return this.#rules.some(
      (rule) => rule.scope === scope && (rule.prefix === undefined || path.startsWith(rule.prefix)),
    );
  }

  /**
   * The token a request carries: `Authorization: Bearer T`, `Authorization: Basic base64(user:T)` (curl -u any:T),
   * or, on a WebSocket upgrade only (browsers cannot set headers there), `?token=T`.
   */
  credential(req: Request, upgrade = false): Credential {
    if (!this.enabled) return { kind: 'none' };
    const token = presentedToken(req, upgrade);
    if (token === undefined) return { kind: 'none' };
    const presented = digest(token);
    let found: StoredToken | undefined;
    // Every stored token is compared, in constant time each, whichever matches.
    for (const stored of [...this.#static, ...this.#fromFile]) {
      if (timingSafeEqual(stored.digest, presented) && !found) found = stored;
    }
    return found ? { kind: 'valid', name: found.name } : { kind: 'invalid' };
  }

  /** Whether a browser page at the request's `Origin` may drive this server; a request without one is no page's. */
  originAllowed(req: Request): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (this.#origins.has('*') || this.#origins.has(origin)) return true;
    const host = req.headers.host ?? req.headers[':authority'];
    if (typeof host !== 'string') return false;
    // The server's own origin: the page came from the host it is now talking to.
    try {
      const page = new URL(origin);
      return page.host === new URL(`${page.protocol}//${host}`).host;
    } catch {
      return false;
    }
  }

  /**
   * Whether a request may go on: its origin, when it is a WebSocket upgrade (browsers apply no CORS there), a
   * private-network preflight (a public page asking to reach this server on its visitor's network) or carries a
   * token (which a page might have had the browser attach); then its token, when `scope` needs one.
   */
  check(req: Request, scope: Scope | undefined, path = '', upgrade = false): Refusal | undefined {
    const credential = this.credential(req, upgrade);
    const privateNetwork = req.method === 'OPTIONS' && req.headers['access-control-request-private-network'] === 'true';
    if ((upgrade || privateNetwork || credential.kind !== 'none') && !this.originAllowed(req)) {
      return {
        status: 403,
        code: 'origin_not_allowed',
        message: `pages from ${req.headers.origin} may not use this server (see --allowed-origins)`,
      };
    }
    if (scope === undefined || !this.needsToken(scope, path) || credential.kind === 'valid') return undefined;
    const what = scope === 'hub' ? 'the signaling hub' : scope === 'ice' ? 'TURN credentials' : `${scope} on ${path}`;
    return credential.kind === 'none'
      ? { status: 401, code: 'token_required', message: `an access token is needed for ${what}` }
      : { status: 401, code: 'token_invalid', message: `the access token is not valid for ${what}` };
  }

  /** Whether a request may be handed TURN credentials, and under which token name. */
  iceCredential(req: Request, upgrade: boolean): Credential | undefined {
    const credential = this.credential(req, upgrade);
    if (this.needsToken('ice') && credential.kind !== 'valid') return undefined;
    return credential;
  }
}

/** The headers of a refusal: a 401 says which schemes it takes (RFC 9110 §11.6.1). */
export function refusalHeaders(refusal: Refusal): Record<string, string> {
  return refusal.status === 401 ? { 'WWW-Authenticate': CHALLENGE } : {};
}

/** A refusal's text body, in the relay's `[ERROR]` style with its code first, for scripts to match on. */
export function refusalText(refusal: Refusal): string {
  return `[ERROR] ${refusal.code}: ${refusal.message}.\n`;
}

/** The raw HTTP answer refusing a WebSocket upgrade. */
export function refusalResponse(refusal: Refusal): string {
  const body = refusalText(refusal);
  const reason = refusal.status === 401 ? 'Unauthorized' : 'Forbidden';
  const extra = refusal.status === 401 ? `WWW-Authenticate: ${CHALLENGE}\r\n` : '';
  return (
    `HTTP/1.1 ${refusal.status} ${reason}\r\n${extra}Content-Type: text/plain\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

function store(entry: TokenEntry): StoredToken {
  return { digest: digest(entry.token), name: entry.name };
}

function readTokensFile(file: string): StoredToken[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AccessConfigError(`cannot read the tokens file ${file}: ${(err as Error).message}`);
  }
  try {
    return parseTokensFile(text).map(store);
  } catch (err) {
    throw new AccessConfigError(`tokens file ${file}, ${(err as Error).message}`);
  }
}

function presentedToken(req: Request, upgrade: boolean): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const [scheme = '', value = ''] = header.trim().split(/\s+/, 2);
    if (scheme.toLowerCase() === 'bearer') return value;
    if (scheme.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      // The user part is free (curl -u any:TOKEN); the password is the token.
      return colon === -1 ? decoded : decoded.slice(colon + 1);
    }
    return undefined;
  }
  if (!upgrade) return undefined;
  try {
    return new URL(req.url ?? '/', 'a:///').searchParams.get('token') ?? undefined;
  } catch {
    return undefined;
  }
}
