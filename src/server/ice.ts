// The ICE configuration Ferry hands to WebRTC peers, in the browser's RTCIceServer shape: our own STUN responder,
// the operator's --ice-server entries, and TURN servers with time-limited credentials minted for each peer.
// Composition-level: the signaling hub (in `welcome`) and `GET /_/ice` both ask this module, and neither knows
// the other.
import { createHmac } from 'node:crypto';
import net from 'node:net';
import { parseIceUrl } from '../protocol/ice-url.ts';
import type { IceServer } from '../protocol/signaling.ts';
import { stunUrl } from '../stun/responder.ts';

export interface IceSettings {
  /** `--public-host`: the name or address clients are told to reach our STUN responder at. */
  publicHost: string | undefined;
  /** `--host`: the bind address; a specific one (not a wildcard) is the next best thing to a public host. */
  host: string | undefined;
  /** The port our STUN responder is bound to; undefined when it is off. */
  stunPort: number | undefined;
  /** `--ice-server` entries, handed out as they are. */
  iceServers: IceServer[];
  /** `--turn-url`: turn:/turns: URIs (RFC 7065) of TURN servers that share `turnSecret`. */
  turnUrls: string[];
  /** `--turn-secret`: the shared secret (coturn's `static-auth-secret`). */
  turnSecret: string | undefined;
  /** `--turn-ttl`: seconds a minted credential stays valid. */
  turnTtl: number;
}

export interface TurnCredentials {
  username: string;
  credential: string;
  /** Unix seconds after which the TURN server refuses the credential. */
  expires: number;
}

/**
 * Time-limited TURN credentials in the shared-secret scheme of "A REST API for Access to TURN Services"
 * (draft-uberti-behave-turn-rest-00 §2.2), which coturn implements as `use-auth-secret`: the username is
 * `<unix expiry>:<user>`, the password base64(HMAC-SHA1(secret, username)). The TURN server recomputes the
 * password from the username alone, so nothing is stored and nothing needs revoking; it refuses the username once
 * its expiry has passed. The password then serves as the long-term credential of RFC 8489 §9.2 (the key being
 * MD5(username ":" realm ":" password)), so any TURN client can use it unchanged.
 */
export function mintTurnCredentials(
  secret: string,
  user: string,
  ttlSeconds: number,
  now = Date.now(),
): TurnCredentials {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  const username = `${expires}:${user}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expires };
}

/**
 * The host name of an HTTP Host header or HTTP/2 `:authority` ("example.org:8080", "[::1]:8080"), without port or
 * brackets; undefined if it is missing or not something a `stun:` URI can carry.
 */
export function authorityHostname(authority: string | undefined): string | undefined {
  // RFC 9110 §7.2: uri-host [":" port]; anything else (a path, userinfo, spaces) is not an authority.
  if (!authority || !/^(\[[0-9A-Fa-f:.]+\]|[^\s/?#@[\]:]+)(:\d{1,5})?$/.test(authority)) return undefined;
  let hostname: string;
  try {
    hostname = new URL(`http://${authority}`).hostname;
  } catch {
    return undefined;
  }
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return isUsableHost(host) ? host : undefined;
}

/** Whether `host` (a name, an IPv4 or an unbracketed IPv6 literal) fits in a stun: URI (RFC 7064 §3.1). */
export function isUsableHost(host: string): boolean {
  if (host === '') return false;
  try {
    parseIceUrl(stunUrl(host, 3478));
    return true;
  } catch {
    return false;
  }
}

export class IceConfiguration {
  constructor(private readonly settings: IceSettings) {}

  /**
   * The TURN user part for a client: the name of the access token it presented, else a keyed hash of its address
   * (net/client.ts clientKey). Stable for one client across requests, peers and restarts, so that the TURN server's
   * per-user quota (coturn `user-quota`) counts clients, and it names no address to whoever reads the username.
   */
  userFor(client: string, tokenName: string | undefined): string {
    if (tokenName !== undefined) return tokenName;
    const key = this.settings.turnSecret ?? '';
    return createHmac('sha256', key).update(`ferry turn user\0${client}`).digest('base64url').slice(0, 16);
  }

  /**
   * The ICE servers for one peer: STUN first (ours, then the operator's), TURN last, with credentials minted
   * now for `user` (see userFor), or no TURN when `user` is undefined (a peer access control keeps from it).
   * `requestHost` is the Host header the client reached us with, used for our STUN address when neither
   * --public-host nor a specific --host names it.
   */
  forPeer(user: string | undefined, requestHost: string | undefined, now = Date.now()): IceServer[] {
    const servers: IceServer[] = [];
    const { stunPort, turnUrls, turnSecret, turnTtl } = this.settings;
    const stunHost = stunPort === undefined ? undefined : this.advertisedHost(requestHost);
    if (stunPort !== undefined && stunHost !== undefined) servers.push({ urls: stunUrl(stunHost, stunPort) });
    servers.push(...this.settings.iceServers);
    if (user !== undefined && turnUrls.length > 0 && turnSecret !== undefined) {
      const { username, credential } = mintTurnCredentials(turnSecret, user, turnTtl, now);
      servers.push({ urls: [...turnUrls], username, credential });
    }
    return servers;
  }

  private advertisedHost(requestHost: string | undefined): string | undefined {
    const { publicHost, host } = this.settings;
    if (publicHost !== undefined) return publicHost;
    if (host !== undefined && !isWildcard(host)) return host;
    return authorityHostname(requestHost);
  }
}

/** `0.0.0.0`, `::` and their spellings: bound to every interface, so they say nothing about where we are. */
function isWildcard(host: string): boolean {
  return net.isIP(host) !== 0 && /^[0:.]+$/.test(host);
}
