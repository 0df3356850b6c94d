// Who is on the other end of a connection, for the per-client limits that every capability applies (relay pipes,
// signaling peers and rooms, code nameplates, open connections): one key per client address, and a counter of what
// each key holds. Shared by relay/, signaling/ and server/, and knowing none of them.
import net from 'node:net';

/**
 * The key a client's address counts under. IPv4-mapped IPv6 and plain IPv4 are one client; an IPv6 address counts
 * by its /64, the block one home or one host is usually given, so a client cannot escape a limit by walking the
 * addresses of its own prefix.
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) return address.slice(7);
  if (!net.isIPv6(address)) return address;
  const block = new net.SocketAddress({ address, family: 'ipv6' }).address;
  const groups = expandIpv6(block).slice(0, 4);
  return `${groups.join(':')}::/64`;
}

function expandIpv6(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}

/** How many of one thing each client holds, against a per-client limit. */
export class PerClientCounter {
  readonly #counts = new Map<string, number>();

  constructor(readonly limit: number) {}

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** Take one for `key`; false (and nothing taken) when it already holds `limit`. */
  acquire(key: string): boolean {
    const count = this.#counts.get(key) ?? 0;
    if (count >= this.limit) return false;
    this.#counts.set(key, count + 1);
    return true;
  }

  /** Give back one taken by acquire. */
  release(key: string): void {
    const count = (this.#counts.get(key) ?? 0) - 1;
    if (count <= 0) this.#counts.delete(key);
    else this.#counts.set(key, count);
  }
}
