// A Node client for the hub at `/_/ws` over the `ws` package: connect and say hello, send messages, await
// replies by request id, and hear forwarded messages and room events by type. The CLI and the benchmarks
// use it; it speaks only the wire protocol, as any third-party client would.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  type ClientMessage,
  type ErrorCode,
  type IceServer,
  type Limits,
  PROTOCOL_VERSIONS,
  parseServerMessage,
  type RequestId,
  type ServerMessage,
  type ServerMessageOf,
  SIGNALING_PATH,
} from '../protocol/signaling.ts';
import { type AccessRefusalCode, accessRefused, authorization } from './access.ts';

/** Failures a client sees: the hub's error codes, and the ones that happen before or after it can answer. */
export type ClientErrorCode = ErrorCode | AccessRefusalCode | 'unreachable' | 'closed' | 'timeout' | 'protocol_error';

export class SignalingError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}

export interface SignalingClientOptions {
  /** Register under this id (the hub answers `id_taken` if someone has it). */
  id?: string;
  /** Milliseconds to wait for the connection and for each reply. */
  timeoutMs?: number;
  /** The server's access token, sent as `Authorization: Bearer` on the upgrade. */
  token?: string;
}

/** The hub's WebSocket URL for a server base URL (`http://host:port` → `ws://host:port/_/ws`). */
export function signalingUrl(server: string): string {
  const url = new URL(server);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new SignalingError('unreachable', `'${server}' is not an http://, https://, ws:// or wss:// URL`);
  }
  url.pathname = url.pathname.replace(/\/+$/, '') + SIGNALING_PATH;
  return url.toString();
}

type Pending = { resolve: (m: ServerMessage) => void; reject: (e: SignalingError) => void; timer: NodeJS.Timeout };
type Events = { [T in ServerMessage['type']]: [ServerMessageOf<T>] } & { close: [code: number, reason: string] };

export class SignalingClient {
  private readonly events = new EventEmitter<Events>();
  private readonly pending = new Map<RequestId, Pending>();
  private nextRid = 1;

  private constructor(
    private readonly socket: WebSocket,
    private readonly timeoutMs: number,
    readonly id: string,
    readonly iceServers: IceServer[],
    readonly limits: Limits,
    readonly version: number,
  ) {
    // Node's EventEmitter throws an 'error' event nobody listens to; an unsolicited error from the hub (for a
    // message sent without a request id) is news for whoever subscribed, not a reason to crash.
    this.events.on('error', () => {});
    socket.on('message', (data: Buffer) => {
      const message = parseServerMessage(data.toString('utf8'));
      if (!message) return;
      const rid = 'rid' in message ? message.rid : undefined;
      const waiting = rid === undefined ? undefined : this.pending.get(rid);
      if (waiting) {
        this.pending.delete(rid as RequestId);
        clearTimeout(waiting.timer);
        if (message.type === 'error') waiting.reject(new SignalingError(message.code, message.message));
        else waiting.resolve(message);
        return;
      }
      (this.events.emit as (type: string, m: ServerMessage) => boolean)(message.type, message);
    });
    socket.on('close', (code, reason) => {
      for (const waiting of this.pending.values()) {
        clearTimeout(waiting.timer);
        waiting.reject(new SignalingError('closed', `the signaling connection closed (${code})`));
      }
      this.pending.clear();
      this.events.emit('close', code, reason.toString());
    });
  }

  /** Open a connection to `server` (a base URL such as `http://localhost:8080`) and register. */
  static async connect(server: string, options: SignalingClientOptions = {}): Promise<SignalingClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const url = signalingUrl(server);
    const socket = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      headers: authorization(options.token),
    });
    return new Promise<SignalingClient>((resolve, reject) => {
      const fail = (error: SignalingError) => {
        clearTimeout(timer);
        socket.removeAllListeners('message');
        socket.terminate();
        reject(error);
      };
      const timer = setTimeout(() => fail(new SignalingError('timeout', `no welcome from ${url}`)), timeoutMs);
      socket.once('error', (err) => fail(new SignalingError('unreachable', `cannot reach ${url}: ${err.message}`)));
      socket.once('unexpected-response', (_req, res) => {
        if (res.statusCode === 401) {
          const refusal = accessRefused('the signaling hub', options.token !== undefined);
          return fail(new SignalingError(refusal.code, refusal.message));
        }
        fail(new SignalingError('unreachable', `${url} answered HTTP ${res.statusCode}: is it a Ferry server?`));
      });
      socket.once('close', (code) => fail(new SignalingError('closed', `${url} closed the connection (${code})`)));
      socket.once('open', () => {
        const hello: ClientMessage = { type: 'hello', rid: 0, versions: [...PROTOCOL_VERSIONS], id: options.id };
        socket.send(JSON.stringify(hello));
      });
      socket.on('message', (data: Buffer) => {
        const message = parseServerMessage(data.toString('utf8'));
        if (message?.type === 'error') return fail(new SignalingError(message.code, message.message));
        if (message?.type !== 'welcome') return fail(new SignalingError('protocol_error', 'expected welcome'));
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => {}); // reported through 'close'
        const { id, iceServers, limits, version } = message;
        resolve(new SignalingClient(socket, timeoutMs, id, iceServers, limits, version));
      });
    });
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  on<T extends keyof Events>(type: T, listener: (...args: Events[T]) => void): this {
    (this.events.on as (t: T, l: (...args: Events[T]) => void) => void)(type, listener);
    return this;
  }

  off<T extends keyof Events>(type: T, listener: (...args: Events[T]) => void): this {
    (this.events.off as (t: T, l: (...args: Events[T]) => void) => void)(type, listener);
    return this;
  }

  /** Send without waiting; errors for it arrive as 'error' events. */
  send(message: ClientMessage): void {
    if (!this.open) throw new SignalingError('closed', 'the signaling connection is closed');
    this.socket.send(JSON.stringify(message));
  }

  /** Send with a fresh request id and resolve with the reply (`ack` for forwarded messages), or reject. */
  request(message: ClientMessage): Promise<ServerMessage> {
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new SignalingError('timeout', `no reply to '${message.type}' within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(rid, { resolve, reject, timer });
      try {
        this.send({ ...message, rid });
      } catch (err) {
        this.pending.delete(rid);
        clearTimeout(timer);
        reject(err);
      }
    });
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close(1000);
    });
  }
}
