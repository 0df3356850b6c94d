// Keeps a long-lived peer's TURN credentials usable. The hub's `welcome` carries credentials that expire (the TURN
// REST API scheme puts the expiry in the username, "<unix expiry>:<user>"), and a TURN server refuses to allocate
// with an expired one; `ferry listen` may run for days. So before they expire, fetch fresh ones from the server's
// `GET /_/ice`, and give new connections whatever is current.
import { z } from 'zod';
import { IceServer } from '../protocol/signaling.ts';
import { accessRefused, authorization } from './access.ts';

const IceConfiguration = z.object({ iceServers: z.array(IceServer) });

/** The earliest expiry (unix seconds) among TURN REST API usernames in `servers`; undefined if there is none. */
export function turnExpiry(servers: IceServer[]): number | undefined {
  let earliest: number | undefined;
  for (const server of servers) {
    const turn = [server.urls].flat().some((url) => /^turns?:/.test(url));
    const expiry = turn ? /^(\d{9,12}):/.exec(server.username ?? '')?.[1] : undefined;
    if (expiry !== undefined) earliest = Math.min(earliest ?? Number.POSITIVE_INFINITY, Number(expiry));
  }
  return earliest;
}

/** `GET /_/ice` on the server whose base URL is `server` (http(s):// or ws(s)://, optionally with a path). */
export function iceConfigurationUrl(server: string): string {
  const url = new URL(server);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  if (url.protocol === 'wss:') url.protocol = 'https:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/_/ice`;
  url.search = '';
  return url.toString();
}

export interface IceRefreshOptions {
  /** Milliseconds a fetch may take. Default 5000. */
  timeoutMs?: number;
  /** Milliseconds before trying again after a failed fetch. Default 30 000. */
  retryMs?: number;
  /** The server's access token, sent as `Authorization: Bearer`. */
  token?: string;
  onRefresh?: (servers: IceServer[]) => void;
  onError?: (err: Error) => void;
}

export class IceServerRefresher {
  #current: IceServer[];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly server: string,
    initial: IceServer[],
    private readonly options: IceRefreshOptions = {},
  ) {
    this.#current = initial;
    this.#schedule(0);
  }

  /** The ICE servers a connection made now should use. */
  get current(): IceServer[] {
    return this.#current;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * Refresh when a quarter of the credential's remaining life is left (a minute at least), so a connection started
   * just before the refresh still has time to allocate. `floorMs` keeps a very short --turn-ttl from spinning.
   */
  #schedule(floorMs: number, delayMs?: number): void {
    if (this.#stopped) return;
    const expiry = turnExpiry(this.#current);
    if (expiry === undefined && delayMs === undefined) return;
    const remaining = (expiry ?? 0) - Date.now() / 1000;
    const due = delayMs ?? Math.max(floorMs, (remaining - Math.max(60, remaining / 4)) * 1000);
    // A timer must not keep the process alive, and setTimeout caps at about 24.8 days.
    this.#timer = setTimeout(() => void this.#refresh(), Math.min(due, 2 ** 31 - 1)).unref();
  }

  async #refresh(): Promise<void> {
    try {
      const response = await fetch(iceConfigurationUrl(this.server), {
        headers: authorization(this.options.token),
        // A redirect could carry the token to another host.
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
      });
      if (response.status === 401) throw accessRefused('GET /_/ice', this.options.token !== undefined);
      if (!response.ok) throw new Error(`GET /_/ice answered ${response.status}`);
      const parsed = IceConfiguration.safeParse(await response.json());
      if (!parsed.success) throw new Error('GET /_/ice did not answer an ICE configuration');
      if (this.#stopped) return;
      this.#current = parsed.data.iceServers;
      this.options.onRefresh?.(this.#current);
      this.#schedule(10_000);
    } catch (err) {
      if (this.#stopped) return;
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
      this.#schedule(0, this.options.retryMs ?? 30_000);
    }
  }
}
