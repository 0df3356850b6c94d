// Each client address's share of the hub, next to the per-connection and global limits: how many connections it
// holds, how many room memberships its peers hold together, and one message budget all its connections draw on.
// Without them one address could take every peer slot of --max-peers, or spread a flood over many connections
// that each stay under --message-rate.
import { PerClientCounter } from '../net/client.ts';
import { RateLimiter } from './limits.ts';

export interface ClientLimits {
  maxPeersPerClient: number;
  maxRoomsPerClient: number;
  messageRatePerClient: number;
}

export class ClientShares {
  readonly #connections: PerClientCounter;
  readonly #memberships: PerClientCounter;
  /** One bucket per client that holds a connection; gone with its last connection. */
  readonly #budgets = new Map<string, RateLimiter>();

  constructor(private readonly limits: ClientLimits) {
    this.#connections = new PerClientCounter(limits.maxPeersPerClient);
    this.#memberships = new PerClientCounter(limits.maxRoomsPerClient);
  }

  /** Take a connection slot for `client`: its shared message budget, or undefined when it holds its share. */
  connect(client: string): RateLimiter | undefined {
    if (!this.#connections.acquire(client)) return undefined;
    let budget = this.#budgets.get(client);
    if (!budget) {
      budget = new RateLimiter(this.limits.messageRatePerClient);
      this.#budgets.set(client, budget);
    }
    return budget;
  }

  disconnect(client: string): void {
    this.#connections.release(client);
    if (this.#connections.count(client) === 0) this.#budgets.delete(client);
  }

  /** Take one room membership for `client`; false when its peers hold --max-rooms-per-client together. */
  get maxRooms(): number {
    return this.limits.maxRoomsPerClient;
  }

  join(client: string): boolean {
    return this.#memberships.acquire(client);
  }

  leave(client: string): void {
    this.#memberships.release(client);
  }
}
