// The browser's side of the signaling hub at /_/ws (docs/signaling.md): one WebSocket, `hello` → `welcome`, then
// requests answered by request id and forwarded messages delivered to a listener. Every frame from the hub goes
// through the shared zod schemas, so a malformed one is dropped here and never reaches a screen.
import {
  type ClientMessage,
  PROTOCOL_VERSIONS,
  parseServerMessage,
  type ServerMessage,
  type ServerMessageOf,
  SIGNALING_PATH,
} from '../../../src/protocol/signaling.ts';
import { withToken } from './access.ts';

export class SignalingError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}

type Pending = { resolve(message: ServerMessage): void; reject(error: Error): void };
type Listener = (message: never) => void;
/** A message without a request id: a forwarded one, a member change, or an error the hub could not tie to a rid. */
export type PushListener = (message: ServerMessage) => void;

export class SignalingClient {
  private nextRid = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  // Listeners by message type (and 'close'), besides the one push listener: what the code-transfer rendezvous uses.
  private readonly listeners = new Map<string, Set<Listener>>();

  private constructor(
    private readonly socket: WebSocket,
    readonly welcome: ServerMessageOf<'welcome'>,
    private readonly onPush: PushListener,
    private readonly onClose: (reason: string) => void,
  ) {
    socket.addEventListener('message', (event) => this.receive(event.data));
    socket.addEventListener('close', (event) => this.shut(event.reason || `the connection closed (${event.code})`));
  }

  /** Open the hub of `origin` and register; resolves once `welcome` arrives. */
  static async connect(
    origin: string,
    onPush: PushListener,
    onClose: (reason: string) => void,
  ): Promise<SignalingClient> {
    const url = new URL(SIGNALING_PATH, origin);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(withToken(url));
    const welcome = await new Promise<ServerMessageOf<'welcome'>>((resolve, reject) => {
      const fail = () => reject(new SignalingError('unreachable', 'could not reach the signaling server'));
      socket.addEventListener('error', fail, { once: true });
      socket.addEventListener('close', fail, { once: true });
      socket.addEventListener(
        'open',
        () => socket.send(JSON.stringify({ type: 'hello', versions: [...PROTOCOL_VERSIONS], rid: 0 })),
        {
          once: true,
        },
      );
      socket.addEventListener('message', function first(event) {
        const message = typeof event.data === 'string' ? parseServerMessage(event.data) : undefined;
        if (message?.type === 'welcome') {
          socket.removeEventListener('message', first);
          socket.removeEventListener('error', fail);
          socket.removeEventListener('close', fail);
          resolve(message);
        } else if (message?.type === 'error') {
          socket.close();
          reject(new SignalingError(message.code, message.message));
        }
      });
    });
    return new SignalingClient(socket, welcome, onPush, onClose);
  }

  get id(): string {
    return this.welcome.id;
  }

  get open(): boolean {
    return !this.closed;
  }

  // Listeners take the message of their type (none for 'close'); `never` lets each be typed by its caller.
  on(type: ServerMessage['type'] | 'close', listener: (message: never) => void): this {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener);
    this.listeners.set(type, set);
    return this;
  }

  off(type: ServerMessage['type'] | 'close', listener: (message: never) => void): this {
    this.listeners.get(type)?.delete(listener);
    return this;
  }

  private emit(type: string, message?: ServerMessage): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) (listener as (m?: ServerMessage) => void)(message);
  }

  /** Send a message and wait for its reply (`joined`, `left`, `ack`…); an `error` reply rejects. */
  request(message: ClientMessage): Promise<ServerMessage> {
    if (this.closed) return Promise.reject(new SignalingError('closed', 'not connected to the signaling server'));
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      this.pending.set(rid, { resolve, reject });
      this.socket.send(JSON.stringify({ ...message, rid }));
    });
  }

  /** Fire and forget; the hub reports a refusal as an `error` without rid, which reaches the push listener. */
  send(message: ClientMessage): void {
    if (!this.closed) this.socket.send(JSON.stringify(message));
  }

  close(): void {
    this.socket.close(1000);
    this.shut('closed');
  }

  private receive(data: unknown): void {
    const message = typeof data === 'string' ? parseServerMessage(data) : undefined;
    if (!message) return;
    const rid = 'rid' in message ? message.rid : undefined;
    const waiting = typeof rid === 'number' ? this.pending.get(rid) : undefined;
    if (waiting && typeof rid === 'number') {
      this.pending.delete(rid);
      if (message.type === 'error') waiting.reject(new SignalingError(message.code, message.message));
      else waiting.resolve(message);
      return;
    }
    this.onPush(message);
    this.emit(message.type, message);
  }

  private shut(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiting of this.pending.values()) waiting.reject(new SignalingError('closed', reason));
    this.pending.clear();
    this.onClose(reason);
    this.emit('close');
  }
}
