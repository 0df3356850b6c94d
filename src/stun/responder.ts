// The STUN Binding responder (RFC 8489 §12, "basic server"): UDP sockets that answer each well-formed Binding
// request with the address it came from, so peers behind NATs learn their server-reflexive candidates.
// Everything else is dropped without a word and counted; a datagram can never throw out of here.
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import net from 'node:net';
import { VERSION } from '../version.ts';
import {
  encodeBindingSuccess,
  encodeSoftware,
  HEADER_BYTES,
  parseBindingRequest,
  STUN_DROP_REASONS,
  type StunDropReason,
} from './message.ts';

export { MAX_REPLY_OVERHEAD, STUN_DROP_REASONS, type StunDropReason } from './message.ts';

/**
 * Default bound on an accepted request, in bytes. RFC 8489 §6.2.1 asks senders to stay under the path MTU (1280
 * bytes for IPv6 when unknown); a real Binding request is 20 to ~150 bytes, so anything larger is not one of them.
 */
export const STUN_MAX_REQUEST_BYTES = 1280;

export interface StunResponderOptions {
  /** UDP port; 0 picks a free one (see {@link StunResponder.start} for how it is shared by two sockets). */
  port: number;
  /** Address to bind. Undefined means every interface, IPv4 and IPv6. A name is resolved once, like `--host`. */
  host?: string | undefined;
  /** SOFTWARE attribute (RFC 8489 §14.14), 1..127 UTF-8 bytes. Default `ferry <version>`. */
  software?: string | undefined;
  /**
   * Test-only: added to the port we report (wrapping within 1..65535). On loopback the true mapped address equals
   * the host candidate, so ICE agents discard the server-reflexive candidate as redundant; a shifted port keeps it
   * visible. Never set this in production: the reported address would be wrong.
   */
  reportedPortShift?: number | undefined;
  /** Largest datagram considered at all; larger ones are dropped as `oversized`. Default {@link STUN_MAX_REQUEST_BYTES}. */
  maxRequestBytes?: number | undefined;
  /** Socket errors after start-up, and bugs of ours caught while handling a datagram. Never client input. */
  onError?: ((err: Error) => void) | undefined;
}

export interface StunBoundAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export interface StunStats {
  /** Binding success responses handed to the socket. */
  answered: number;
  /** Datagrams that got no reply, by reason (every reason present, zero or not: ready for metric labels). */
  dropped: Record<StunDropReason, number>;
  /** Replies the operating system refused to send (counted in `answered` too). */
  sendErrors: number;
}

/** `stun:` URL for an address as ICE configuration wants it (RFC 7064 §3.1: IPv6 literals in brackets). */
export function stunUrl(host: string, port: number): string {
  return `stun:${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

// Errors that mean "this machine has no IPv6", as opposed to "the port is taken".
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);
const MAX_PORT_ATTEMPTS = 10;

export class StunResponder {
  #sockets: dgram.Socket[] = [];
  #addresses: StunBoundAddress[] = [];
  #state: 'new' | 'starting' | 'running' | 'closed' = 'new';
  #closing: Promise<void> | undefined;
  #starting: Promise<dgram.Socket[]> | undefined;
  #software: Buffer = Buffer.alloc(0);
  #portShift = 0;
  #maxRequestBytes = STUN_MAX_REQUEST_BYTES;
  #onError: (err: Error) => void = () => {};
  #answered = 0;
  #sendErrors = 0;
  #dropped = Object.fromEntries(STUN_DROP_REASONS.map((r) => [r, 0])) as Record<StunDropReason, number>;

  /**
   * Bind and start answering; resolves with the bound addresses. With a `host`, one socket on that address (an
   * explicit `::` is dual-stack where the OS allows it; IPv4 clients then arrive as `::ffff:a.b.c.d` and are told
   * their IPv4 address). Without one, two sockets on the same port: `0.0.0.0`, and `::` restricted to IPv6, because
   * whether a single `::` UDP socket also receives IPv4 depends on the OS (`net.ipv6.bindv6only` on Linux); a
   * machine without IPv6 gets the IPv4 socket only. Rejects (and holds nothing) if a socket cannot be bound.
   */
  async start(options: StunResponderOptions): Promise<StunBoundAddress[]> {
    if (this.#state !== 'new') throw new Error('StunResponder.start() may be called once.');
    const { port, host, reportedPortShift = 0, maxRequestBytes = STUN_MAX_REQUEST_BYTES } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid STUN port: ${port}`);
    if (!Number.isInteger(reportedPortShift) || Math.abs(reportedPortShift) > 65535) {
      throw new RangeError(`invalid reportedPortShift: ${reportedPortShift}`);
    }
    if (
      !Number.isInteger(maxRequestBytes) ||
      maxRequestBytes < HEADER_BYTES ||
      maxRequestBytes > 65535 + HEADER_BYTES
    ) {
      throw new RangeError(`invalid maxRequestBytes: ${maxRequestBytes}`);
    }
    this.#software = encodeSoftware(options.software ?? `ferry ${VERSION}`);
    this.#portShift = reportedPortShift;
    this.#maxRequestBytes = maxRequestBytes;
    this.#onError = options.onError ?? (() => {});
    this.#state = 'starting';
    const binding = host === undefined ? bindAllInterfaces(port) : bindHost(host, port).then((s) => [s]);
    this.#starting = binding;
    try {
      this.#sockets = await binding;
    } catch (err) {
      this.#state = 'closed';
      throw err;
    }
    // close() during the bind closes these sockets itself (see there).
    if (this.#closedWhileStarting()) throw new Error('StunResponder was closed while starting.');
    for (const socket of this.#sockets) {
      socket.on('message', (msg, rinfo) => this.#onMessage(socket, msg, rinfo));
      // Without a listener an 'error' event would crash the process.
      socket.on('error', (err) => this.#onError(err));
    }
    this.#addresses = this.#sockets.map((s) => {
      const a = s.address();
      return { address: a.address, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4', port: a.port };
    });
    this.#state = 'running';
    return this.addresses;
  }

  /** The bound addresses (empty before start). */
  get addresses(): StunBoundAddress[] {
    return this.#addresses.map((a) => ({ ...a }));
  }

  /** A snapshot of the counters; they keep their values after close. */
  stats(): StunStats {
    return { answered: this.#answered, dropped: { ...this.#dropped }, sendErrors: this.#sendErrors };
  }

  /** Close every socket. Idempotent; safe before or after start. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const state = this.#state;
    this.#state = 'closed';
    if (state === 'starting') {
      // start() sees the state change once its sockets are bound, and rejects.
      this.#closing = (this.#starting ?? Promise.resolve([])).then(
        async (sockets) => {
          await Promise.all(sockets.map(closeSocket));
        },
        () => {},
      );
    } else {
      this.#closing = Promise.all((state === 'running' ? this.#sockets : []).map(closeSocket)).then(() => {});
    }
    return this.#closing;
  }

  // A method, so that TypeScript does not narrow #state across start()'s await.
  #closedWhileStarting(): boolean {
    return this.#state === 'closed';
  }

  #onMessage(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      const request = parseBindingRequest(msg, this.#maxRequestBytes);
      if (!request.ok) return this.#drop(request.reason);
      // A reply to port 0 cannot be sent; such a datagram was crafted.
      if (rinfo.port === 0) return this.#drop('badSource');
      // RFC 8489 §6.3.1.1: the response carries the request's transaction id; §12: its source transport address.
      const reply = encodeBindingSuccess(
        request.transactionId,
        rinfo.address,
        shiftPort(rinfo.port, this.#portShift),
        this.#software,
      );
      if (reply === undefined) return this.#drop('badSource');
      // RFC 8489 §6.3.1.2: over UDP, the response goes to the source address and port of the request.
      // A response is never itself answered (`notRequest`), so two STUN servers cannot be set bouncing.
      socket.send(reply, rinfo.port, rinfo.address, (err) => {
        if (err) this.#sendErrors++;
      });
      this.#answered++;
    } catch (err) {
      this.#drop('internal');
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #drop(reason: StunDropReason): void {
    this.#dropped[reason]++;
  }
}

/** Port + shift, wrapped into 1..65535. */
function shiftPort(port: number, shift: number): number {
  if (shift === 0) return port;
  return ((((port - 1 + shift) % 65535) + 65535) % 65535) + 1;
}

async function bindHost(host: string, port: number): Promise<dgram.Socket> {
  let address = host;
  let family = net.isIP(host);
  if (family === 0) {
    // A name: bind its first address, as net.Server.listen does for `--host` (so HTTP and STUN agree).
    const found = await dns.lookup(host);
    address = found.address;
    family = found.family;
  }
  return bindSocket(family === 6 ? 'udp6' : 'udp4', port, address, false);
}

async function bindAllInterfaces(port: number): Promise<dgram.Socket[]> {
  for (let attempt = 1; ; attempt++) {
    const v4 = await bindSocket('udp4', port, '0.0.0.0', false);
    try {
      return [v4, await bindSocket('udp6', v4.address().port, '::', true)];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (NO_IPV6.has(code)) return [v4];
      await closeSocket(v4);
      // With port 0 the kernel chose a port free for IPv4 only; try another.
      if (code === 'EADDRINUSE' && port === 0 && attempt < MAX_PORT_ATTEMPTS) continue;
      throw err;
    }
  }
}

function bindSocket(type: 'udp4' | 'udp6', port: number, address: string, ipv6Only: boolean): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type, ipv6Only });
    const onError = (err: Error) => {
      try {
        socket.close();
      } catch {
        // Already closed by the failed bind; the bind error is what the caller needs.
      }
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
