// Meeting the other side of a code transfer on the hub: join the code's room (capacity 2), learn the peer's id from
// `joined` or `member-joined`, and carry the handshake messages (session.ts) in the hub's addressed `message`. The
// peer's messages come out in order, through next() (the handshake's loop) or a listener (the transport setup, which
// waits on several things at once). Isomorphic: the CLI's and the web app's hub clients both fit RendezvousHub.

import { generateCode, type ParsedCode } from './code.ts';
import { codeRoom, parseSessionMessage, type SessionMessage, type SessionSignals } from './session.ts';
import type { ClientMessage, ServerMessage, ServerMessageOf } from './signaling.ts';

type HubListener<T extends ServerMessage['type']> = (message: ServerMessageOf<T>) => void;

/** What the rendezvous needs of a hub connection (src/peer/signaling-client.ts, web/src/net/signaling.ts). */
export interface RendezvousHub {
  readonly open: boolean;
  on(type: 'message', listener: HubListener<'message'>): unknown;
  on(type: 'member-joined', listener: HubListener<'member-joined'>): unknown;
  on(type: 'member-left', listener: HubListener<'member-left'>): unknown;
  on(type: 'error', listener: HubListener<'error'>): unknown;
  on(type: 'close', listener: () => void): unknown;
  off(type: 'message', listener: HubListener<'message'>): unknown;
  off(type: 'member-joined', listener: HubListener<'member-joined'>): unknown;
  off(type: 'member-left', listener: HubListener<'member-left'>): unknown;
  off(type: 'error', listener: HubListener<'error'>): unknown;
  off(type: 'close', listener: () => void): unknown;
  send(message: ClientMessage): void;
  /** Rejects with an error whose `code` is the hub's error code (e.g. `room_full`). */
  request(message: ClientMessage): Promise<ServerMessage>;
}

export class RendezvousError extends Error {
  override readonly name = 'RendezvousError';
  constructor(
    /** `room_full`: a third party holds the code's number; `peer_left`: the other side gave up; `hub_lost`. */
    readonly code: 'room_full' | 'peer_left' | 'hub_lost' | 'hub_error',
    message: string,
  ) {
    super(message);
  }
}

type Listener = { message: (message: SessionMessage) => void; fail: (error: Error) => void };

export class Rendezvous<Hub extends RendezvousHub = RendezvousHub> implements SessionSignals {
  #peer: string | undefined;
  #early = new Map<string, unknown[]>();
  #queued: SessionMessage[] = [];
  #waiters: Array<{ resolve: (m: SessionMessage) => void; reject: (e: Error) => void }> = [];
  #listener: Listener | undefined;
  #error: Error | undefined;
  #peerWaiters: Array<{ resolve: (peer: string) => void; reject: (e: Error) => void }> = [];
  readonly #offs: Array<() => void> = [];

  private constructor(
    readonly signaling: Hub,
    readonly room: string,
  ) {
    const onMessage = (message: ServerMessageOf<'message'>) => {
      if (this.#peer === undefined) {
        // A fast peer may speak before its member-joined has reached us: keep its words until we know it.
        const list = this.#early.get(message.from) ?? [];
        if (list.length < 16) list.push(message.data);
        this.#early.set(message.from, list);
      } else if (message.from === this.#peer) this.#deliver(message.data);
    };
    const onJoined = (event: ServerMessageOf<'member-joined'>) => {
      if (event.room === room && this.#peer === undefined) this.#setPeer(event.peer);
    };
    const onLeft = (event: ServerMessageOf<'member-left'>) => {
      if (event.room === room && event.peer === this.#peer) {
        this.#fail(new RendezvousError('peer_left', 'the other side left before the transfer started'));
      }
    };
    // Errors for messages we sent without a request id: the peer vanished between our send and the hub's lookup.
    const onError = (event: ServerMessageOf<'error'>) =>
      this.#fail(new RendezvousError('hub_error', `the signaling server refused a message: ${event.message}`));
    const onClose = () => this.#fail(new RendezvousError('hub_lost', 'the signaling server went away'));
    signaling.on('message', onMessage);
    signaling.on('member-joined', onJoined);
    signaling.on('member-left', onLeft);
    signaling.on('error', onError);
    signaling.on('close', onClose);
    this.#offs.push(() => {
      signaling.off('message', onMessage);
      signaling.off('member-joined', onJoined);
      signaling.off('member-left', onLeft);
      signaling.off('error', onError);
      signaling.off('close', onClose);
    });
  }

  /** Joins `room` (capacity 2). Resolves with the rendezvous and the members already there. */
  static async join<Hub extends RendezvousHub>(
    signaling: Hub,
    room: string,
  ): Promise<{ rendezvous: Rendezvous<Hub>; members: string[] }> {
    const rendezvous = new Rendezvous(signaling, room);
    try {
      const reply = (await signaling.request({ type: 'join', room, capacity: 2 })) as ServerMessageOf<'joined'>;
      const [first] = reply.members;
      if (first !== undefined) rendezvous.#setPeer(first);
      return { rendezvous, members: reply.members };
    } catch (error) {
      rendezvous.detach();
      if ((error as { code?: unknown }).code === 'room_full') {
        throw new RendezvousError('room_full', `the room ${room} is full`);
      }
      throw error;
    }
  }

  /** The peer's id, once it is in the room. */
  get peer(): string | undefined {
    return this.#peer;
  }

  /** Resolves with the peer's id when it is (or already was) in the room; rejects if the hub goes away. */
  waitForPeer(): Promise<string> {
    if (this.#peer !== undefined) return Promise.resolve(this.#peer);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#peerWaiters.push({ resolve, reject }));
  }

  send(message: SessionMessage): void {
    if (this.#peer === undefined) throw new Error('no peer yet');
    if (!this.signaling.open) throw new RendezvousError('hub_lost', 'the signaling server went away');
    this.signaling.send({ type: 'message', to: this.#peer, data: message });
  }

  next(): Promise<SessionMessage> {
    const queued = this.#queued.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** From now on the peer's messages (queued ones first) go to `message`; a failure of the meeting to `fail`. */
  listen(listener: Listener): () => void {
    this.#listener = listener;
    for (const message of this.#queued.splice(0)) listener.message(message);
    if (this.#error) listener.fail(this.#error);
    return () => {
      if (this.#listener === listener) this.#listener = undefined;
    };
  }

  /** Stop listening to the hub (the transfer runs on its own transport now); the connection stays the caller's. */
  detach(): void {
    for (const off of this.#offs.splice(0)) off();
    this.#listener = undefined;
  }

  #setPeer(peer: string): void {
    this.#peer = peer;
    for (const data of this.#early.get(peer) ?? []) this.#deliver(data);
    this.#early.clear();
    for (const waiter of this.#peerWaiters.splice(0)) waiter.resolve(peer);
  }

  #deliver(data: unknown): void {
    let message: SessionMessage;
    try {
      message = parseSessionMessage(data);
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    if (this.#listener) return this.#listener.message(message);
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(message);
    else this.#queued.push(message);
  }

  #fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    this.#listener?.fail(error);
    for (const waiter of [...this.#waiters.splice(0), ...this.#peerWaiters.splice(0)]) waiter.reject(error);
  }
}

/** How many generated codes a sender tries before giving up on finding a free number. */
const CODE_TRIES = 5;

/**
 * Joins the room of `code`. A generated code (`chosen` false) whose room is busy — somebody already waits in it for a
 * code nobody has seen yet, or it is full — is replaced by a fresh one, up to CODE_TRIES times; a code the user typed
 * is joined as it is. Resolves with the code that was used.
 */
export async function joinCodeRoom<Hub extends RendezvousHub>(
  hub: Hub,
  code: ParsedCode,
  chosen: boolean,
): Promise<{ rendezvous: Rendezvous<Hub>; code: ParsedCode }> {
  for (let attempt = 1; ; attempt++) {
    const room = codeRoom(code.code);
    try {
      const { rendezvous, members } = await Rendezvous.join(hub, room);
      if (members.length === 0 || chosen) return { rendezvous, code };
      rendezvous.detach();
      await hub.request({ type: 'leave', room });
    } catch (error) {
      if (!(error instanceof RendezvousError && error.code === 'room_full') || chosen) throw error;
    }
    if (attempt >= CODE_TRIES) throw new RendezvousError('room_full', 'no free code number found');
    code = generateCode();
  }
}
