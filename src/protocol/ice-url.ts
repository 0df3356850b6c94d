// STUN and TURN server URIs (RFC 7064 `stun:`/`stuns:`, RFC 7065 `turn:`/`turns:` with `?transport=`), read
// the same way by the server's `--ice-server` flag and the Node peer adapter. Isomorphic: no `node:` imports.
import type { IceServer } from './signaling.ts';

export interface IceUrl {
  scheme: 'stun' | 'stuns' | 'turn' | 'turns';
  host: string;
  port: number;
  transport: 'udp' | 'tcp' | undefined;
}

const DEFAULT_PORTS = { stun: 3478, stuns: 5349, turn: 3478, turns: 5349 } as const;
// scheme ":" host [ ":" port ] [ "?transport=" ( "udp" / "tcp" ) ], host being a name, IPv4 or [IPv6].
const URI = /^(stuns?|turns?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

/** Parse one ICE server URI; throws with a message fit for a user. */
export function parseIceUrl(url: string): IceUrl {
  const match = URI.exec(url);
  if (!match) throw new Error(`'${url}' is not a stun:, stuns:, turn: or turns: URI (RFC 7064/7065)`);
  const scheme = match[1] as IceUrl['scheme'];
  const port = match[3] === undefined ? DEFAULT_PORTS[scheme] : Number(match[3]);
  if (port < 1 || port > 65535) throw new Error(`'${url}': port ${port} is out of range`);
  const transport = match[4] as IceUrl['transport'];
  if (transport && scheme.startsWith('stun')) throw new Error(`'${url}': ?transport= belongs to turn: URIs only`);
  const host = match[2] as string;
  return { scheme, host: host.startsWith('[') ? host.slice(1, -1) : host, port, transport };
}

/**
 * Read the `--ice-server` form: a URI, with TURN credentials as `turn:USER:PASS@host…`. USER and PASS are
 * percent-decoded, so a time-limited username ("expiry:user") is written with `%3A`.
 */
export function parseIceServerSpec(spec: string): IceServer {
  const credentials = /^(turns?):([^@]*)@(.*)$/.exec(spec);
  if (!credentials) {
    parseIceUrl(spec);
    return { urls: spec };
  }
  const [, scheme, userinfo = '', rest] = credentials;
  const urls = `${scheme}:${rest}`;
  parseIceUrl(urls);
  const colon = userinfo.indexOf(':');
  if (colon < 0) throw new Error(`'${spec}': credentials are written USER:PASS@`);
  return {
    urls,
    username: decodeURIComponent(userinfo.slice(0, colon)),
    credential: decodeURIComponent(userinfo.slice(colon + 1)),
  };
}
