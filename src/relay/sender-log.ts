// The sender's response body: a live `[INFO]` progress log. HTTP/1.0 clients cannot take a chunked body,
// so theirs is collected and sent whole at the end with a Content-Length, as piping-server does.
import type { Socket } from 'node:net';
import { cut, end, http1Socket, isHttp10, type Req, type Res, write, writeHead } from './http.ts';

const HEADERS = { 'Content-Type': 'text/plain', 'Access-Control-Allow-Origin': '*' };

export class SenderLog {
  private readonly buffered: string[] | undefined;
  private closed = false;
  private corked: Socket | undefined;

  /** Starts the log with its first line; over HTTP/1.1 and HTTP/2 the status line goes out with it, at once. */
  constructor(
    req: Req,
    private readonly res: Res,
    first: string,
  ) {
    if (isHttp10(req)) {
      this.buffered = [];
    } else {
      // No flushHeaders: the first line's write carries the status line and headers with it (one write, not two),
      // so the sender still learns at once that it is waiting, not when bytes flow.
      writeHead(res, 200, HEADERS);
    }
    this.line(first);
  }

  line(text: string): void {
    if (this.closed) return;
    if (this.buffered) {
      this.buffered.push(text);
    } else if (!this.res.writableEnded) {
      this.holdForTurn();
      write(this.res, text);
    }
  }

  /**
   * Lines written in one turn of the event loop leave in one write: an HTTP/1 sender's socket stays corked until
   * the turn's immediates run. A small transfer's "Sent successfully!" and its final report (the receivers close
   * a few ticks after the body ends) then share a write, where Node's own cork lasts only to the next tick.
   */
  private holdForTurn(): void {
    if (this.corked) return;
    const socket = http1Socket(this.res);
    if (!socket) return;
    socket.cork();
    this.corked = socket;
    setImmediate(() => {
      this.corked = undefined;
      socket.uncork();
    });
  }

  end(text?: string): void {
    if (this.closed) return;
    if (text !== undefined) this.line(text);
    this.closed = true;
    if (this.res.writableEnded) return;
    if (this.buffered) {
      const body = Buffer.from(this.buffered.join(''));
      writeHead(this.res, 200, { ...HEADERS, 'Content-Length': body.length });
      end(this.res, body);
    } else {
      this.res.end();
    }
  }

  /** End the log, then drop the connection (the sender is still uploading into a transfer that is over). */
  endAndDisconnect(text: string): void {
    this.end(text);
    this.res.once('finish', () => cut(this.res));
  }
}
