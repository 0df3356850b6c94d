// The hub's limits as one named, documented set (mirrored by `ferry serve` flags), the bounds derived from
// them, and the per-connection rate limiter that turns "too many messages" into an error, then a disconnect.
/** The hub's share of `ferry serve`'s options; names, defaults and parsers live in src/server/config.ts. */
export interface HubOptions {
  /** Seconds between heartbeats; a connection silent for a whole interval is dropped. */
  heartbeatInterval: number;
  /** Largest message a client may send, in bytes. */
  maxMessageSize: number;
  /** Messages per second one connection may send, sustained (bursts up to one second's worth). */
  messageRate: number;
  maxRoomsPerPeer: number;
  maxPeersPerRoom: number;
  /** Connections the hub holds at once, on every endpoint together. */
  maxPeers: number;
  /** Connections one client address may hold, on every endpoint together. */
  maxPeersPerClient: number;
  /** Room memberships the peers of one client address may hold together. */
  maxRoomsPerClient: number;
  /** Messages per second all connections of one client address may send together. */
  messageRatePerClient: number;
  /** Code nameplates one client address may hold at once, allocated and claimed together. */
  maxCodesPerClient: number;
}

/**
 * A frame this many times the message limit is not even read to the end: the connection is closed (1009).
 * Between the two the client gets a `too_large` error and stays connected.
 */
export const FRAME_LIMIT_FACTOR = 4;
/** A peer that leaves this many maximum-size messages unread in its socket is disconnected (it is not reading). */
export const SEND_BUFFER_FACTOR = 32;

/** WebSocket close codes the hub uses (RFC 6455 §7.4.1). */
export const CloseCode = {
  GoingAway: 1001,
  ProtocolError: 1002,
  PolicyViolation: 1008,
  TooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
} as const;

/**
 * A token bucket of `rate` tokens refilled continuously. Over the limit a message is refused; a connection that
 * has more than `rate` messages refused within one second keeps flooding despite the errors and must go.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private refusedInWindow = 0;
  private windowStart = 0;

  constructor(private readonly rate: number) {
    this.tokens = rate;
    this.last = Date.now();
  }

  /** 'ok' to process the message, 'refused' to answer rate_limited, 'flooding' to disconnect. */
  take(now = Date.now()): 'ok' | 'refused' | 'flooding' {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'ok';
    }
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.refusedInWindow = 0;
    }
    return ++this.refusedInWindow > this.rate ? 'flooding' : 'refused';
  }
}
