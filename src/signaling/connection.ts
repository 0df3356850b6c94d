// One WebSocket connection to the hub, whichever endpoint it came through: the limits every message passes
// (size, rate), liveness for the heartbeat, a bounded send buffer, and why it ended.
import type { WebSocket } from 'ws';
import { CloseCode, RateLimiter, SEND_BUFFER_FACTOR } from './limits.ts';

export type EndReason = 'closed' | 'timeout' | 'kicked';

export type Admission = { ok: true; text: string } | { ok: false; problem: 'too_large' | 'rate_limited' };

export class Connection {
  /** Set by any frame from the client (pongs included); cleared by each heartbeat. */
  alive = true;
  /** True once the client has introduced itself (hello, or the seed protocol's first command). */
  registered = false;
  readonly openedAt = Date.now();
  endReason: EndReason = 'closed';
  private ending = false;
  private readonly limiter: RateLimiter;
  private readonly sendBufferLimit: number;

  /** The key of the client's address (src/net/client.ts), which its per-client shares count under. */
  readonly client: string;
  private readonly maxMessageSize: number;
  private readonly onBug: (err: Error) => void;
  private readonly budget: RateLimiter | undefined;

  constructor(
    readonly socket: WebSocket,
    options: {
      client: string;
      maxMessageSize: number;
      messageRate: number;
      /** Told of a throw while serving a frame: a bug of ours, which ends this connection and no other. */
      onBug: (err: Error) => void;
      /**
       * The message budget shared by every connection from the same client (src/signaling/clients.ts); absent
       * only on a connection refused at the door, which is closed before it is served.
       */
      budget?: RateLimiter;
    },
  ) {
    const { client, maxMessageSize, messageRate, onBug, budget } = options;
    this.client = client;
    this.maxMessageSize = maxMessageSize;
    this.onBug = onBug;
    this.budget = budget;
    this.limiter = new RateLimiter(messageRate);
    this.sendBufferLimit = maxMessageSize * SEND_BUFFER_FACTOR;
    socket.on('pong', () => {
      this.alive = true;
    });
    // After a protocol error (a frame ws cannot take) ws sends its close frame but stops reading, so it would not
    // see the client go and would hold the connection until its own 30 s timer: end it like any kick, in 2 s.
    socket.once('error', () => this.end('kicked', CloseCode.ProtocolError, 'protocol error'));
  }

  /** Serve each incoming frame with `handler`; if it throws, the connection ends (1011) and the process goes on. */
  onMessage(handler: (data: Buffer) => void): void {
    this.socket.on('message', (data: Buffer) => {
      try {
        handler(data);
      } catch (err) {
        this.onBug(err as Error);
        this.end('kicked', CloseCode.InternalError, 'internal error');
      }
    });
  }

  /**
   * Check one incoming frame against the limits. A flood ends the connection here (after the error the
   * caller sends for the previous refusals), so the caller simply stops.
   */
  admit(data: Buffer): Admission | undefined {
    // Frames already in flight from a connection we are closing are not served.
    if (this.ending) return undefined;
    this.alive = true;
    const now = Date.now();
    let verdict = this.limiter.take(now);
    if (verdict === 'ok' && this.budget) verdict = this.budget.take(now);
    if (verdict === 'flooding') {
      this.end('kicked', CloseCode.PolicyViolation, 'rate limit exceeded: too many messages');
      return undefined;
    }
    if (verdict === 'refused') return { ok: false, problem: 'rate_limited' };
    if (data.length > this.maxMessageSize) return { ok: false, problem: 'too_large' };
    return { ok: true, text: data.toString('utf8') };
  }

  send(text: string): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    // A client that does not read its socket must not grow our memory: it goes, and its rooms are told.
    if (this.socket.bufferedAmount > this.sendBufferLimit) {
      this.end('kicked', CloseCode.PolicyViolation, 'not reading its messages');
      return;
    }
    this.socket.send(text);
  }

  /** Close with a code and reason the client can read; `terminate` when the peer is not there to hear it. */
  end(reason: EndReason, code: number, message: string): void {
    if (this.ending || this.socket.readyState === this.socket.CLOSED) return;
    this.ending = true;
    this.endReason = reason;
    if (reason === 'timeout') {
      this.socket.terminate();
      return;
    }
    this.socket.close(code, message);
    // A client that ignores the closing handshake would keep the socket; don't wait for it for long.
    const timer = setTimeout(() => this.socket.terminate(), 2000);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }
}
