// Liveness: one timer for every connection. Each tick drops the connections that stayed silent since the
// previous tick (no pong, no message) and pings the rest with a WebSocket ping frame (RFC 6455 §5.5.2), which
// browsers answer on their own. A connection that has not introduced itself within one interval goes too.
import type { Connection } from './connection.ts';
import { CloseCode } from './limits.ts';

export class Heartbeat {
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly intervalMs: number,
    private readonly connections: ReadonlySet<Connection>,
  ) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = Date.now();
    for (const connection of this.connections) {
      if (!connection.alive) {
        connection.end('timeout', CloseCode.GoingAway, 'no heartbeat');
      } else if (!connection.registered && now - connection.openedAt >= this.intervalMs) {
        connection.end('kicked', CloseCode.PolicyViolation, 'no hello within the heartbeat interval');
      } else {
        connection.alive = false;
        connection.socket.ping();
      }
    }
  }
}
