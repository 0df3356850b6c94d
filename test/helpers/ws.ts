// A real `ws` client for tests that reads messages in order: `next()` awaits the next one (with a deadline,
// never a sleep), `closed` resolves with the close code. Speaks raw JSON so tests see exactly the wire.
import WebSocket, { type ClientOptions } from 'ws';

export type Json = Record<string, unknown>;

export class TestSocket {
  private readonly queue: string[] = [];
  private readonly waiters: Array<(text: string) => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      const waiter = this.waiters.shift();
      if (waiter) waiter(text);
      else this.queue.push(text);
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  static open(url: string, options: ClientOptions = {}): Promise<TestSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    const socket = new TestSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(socket));
      ws.once('error', reject);
    });
  }

  /** Open `/_/ws` and say hello; resolves with the socket and its welcome. */
  static async peer(
    baseUrl: string,
    hello: Json = {},
    options: ClientOptions = {},
  ): Promise<TestSocket & { id: string }> {
    const socket = await TestSocket.open(`${baseUrl.replace(/^http/, 'ws')}/_/ws`, options);
    socket.send({ type: 'hello', versions: [1], ...hello });
    const welcome = await socket.next();
    if (welcome.type !== 'welcome') throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
    return Object.assign(socket, { id: welcome.id as string });
  }

  /** Everything received and not yet read (after `closed`, that is all the socket will ever get). */
  drain(): Json[] {
    return this.queue.splice(0).map((text) => JSON.parse(text) as Json);
  }

  send(message: Json | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  async nextText(timeoutMs = 3000): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return queued;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (text: string) => {
        clearTimeout(timer);
        resolve(text);
      };
      this.waiters.push(waiter);
    });
  }

  async next(timeoutMs?: number): Promise<Json> {
    return JSON.parse(await this.nextText(timeoutMs)) as Json;
  }

  /**
   * Prove nothing is queued for this socket: a ping's pong comes back next. The hub writes to one socket in
   * order, so anything it had forwarded here before the ping would arrive first.
   */
  async expectNothingPending(): Promise<void> {
    this.send({ type: 'ping', rid: 'probe' });
    const message = await this.next();
    if (message.type !== 'pong' || message.rid !== 'probe') {
      throw new Error(`expected nothing pending, got ${JSON.stringify(message)}`);
    }
  }

  close(): Promise<unknown> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    return this.closed;
  }
}
