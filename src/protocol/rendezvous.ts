// Meeting the other side of a code transfer on the hub, through the code's nameplate (its number): the sender
// allocates one (docs/signaling.md, "Nameplates") and waits for a claimer; the receiver claims it and learns the
// sender's id. The handshake messages (session.ts) then ride in the hub's addressed `message`. A claimer that goes
// before its SPAKE2 share is forgotten by the hub and here: the sender waits on for the next one. The peer's messages
// come out in order, through next() (the handshake's loop) or a listener (the transport setup, which waits on several
// things at once). Isomorphic: the CLI's and the web app's hub clients both fit RendezvousHub.

import { generateCode, type ParsedCode } from './code.ts';
import { type HandshakeResult, parseSessionMessage, type SessionMessage, type SessionSignals } from './session.ts';
import type { ClientMessage, ServerMessage, ServerMessageOf } from './signaling.ts';

type HubListener<T extends ServerMessage['type']> = (message: ServerMessageOf<T>) => void;
type RendezvousEvent = 'message' | 'nameplate-claimed' | 'nameplate-unclaimed' | 'nameplate-peer-left' | 'error';

/** What the rendezvous needs of a hub connection (src/peer/signaling-client.ts, web/src/net/signaling.ts). */
export interface RendezvousHub {
  readonly open: boolean;
  on<T extends RendezvousEvent>(type: T, listener: HubListener<T>): unknown;
  on(type: 'close', listener: () => void): unknown;
  off<T extends RendezvousEvent>(type: T, listener: HubListener<T>): unknown;
  off(type: 'close', listener: () => void): unknown;
  send(message: ClientMessage): void;
  /** Rejects with an error whose `code` is the hub's error code (e.g. `unknown_nameplate`). */
  request(message: ClientMessage): Promise<ServerMessage>;
}

/** The hub's refusals of `allocate` and `claim` that a user can act on, kept as they are. */
const NAMEPLATE_ERRORS = ['unknown_nameplate', 'nameplate_busy', 'nameplate_taken', 'too_many_nameplates'] as const;
type NameplateErrorCode = (typeof NAMEPLATE_ERRORS)[number];

export class RendezvousError extends Error {
  override readonly name = 'RendezvousError';
  constructor(
    /**
     * `peer_left`: the other side gave up; `claim_dropped`: a claimer went before its SPAKE2 share (the sender waits
     * on); `hub_lost`; `hub_error`; or the hub's refusal of the nameplate (docs/signaling.md).
     */
    readonly code: 'peer_left' | 'claim_dropped' | 'hub_lost' | 'hub_error' | NameplateErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Messages kept, from whoever, while we do not know our peer yet (the claimer hears the owner's share early). */
const EARLY_LIMIT = 16;

type Listener = { message: (message: SessionMessage) => void; fail: (error: Error) => void };

export class Rendezvous<Hub extends RendezvousHub = RendezvousHub> implements SessionSignals {
  #peer: string | undefined;
  #early: Array<{ from: string; data: unknown }> = [];
  /** Set while the last claimer's departure is news to the handshake that ran with it. */
  #dropped: RendezvousError | undefined;
  #queued: SessionMessage[] = [];
  #waiters: Array<{ resolve: (m: SessionMessage) => void; reject: (e: Error) => void }> = [];
  #listener: Listener | undefined;
  #error: Error | undefined;
  #peerWaiters: Array<{ resolve: (peer: string) => void; reject: (e: Error) => void }> = [];
  readonly #offs: Array<() => void> = [];
  #nameplate: number | undefined;
  /** A claim the hub announced before the reply to our `allocate` was read (both can come in one read). */
  #earlyClaim: ServerMessageOf<'nameplate-claimed'> | undefined;

  private constructor(
    readonly signaling: Hub,
    nameplate: number | undefined,
  ) {
    this.#nameplate = nameplate;
    const onMessage = (message: ServerMessageOf<'message'>) => {
      if (this.#peer === undefined) {
        // The owner may speak before our claim's reply has been read: keep its words until we know it.
        if (this.#early.length < EARLY_LIMIT) this.#early.push({ from: message.from, data: message.data });
      } else if (message.from === this.#peer) this.#deliver(message.data);
    };
    const onClaimed = (event: ServerMessageOf<'nameplate-claimed'>) => {
      if (this.#nameplate === undefined) this.#earlyClaim ??= event;
      else if (event.nameplate === this.#nameplate && this.#peer === undefined) this.#setPeer(event.peer);
    };
    const onUnclaimed = (event: ServerMessageOf<'nameplate-unclaimed'>) => {
      if (event.nameplate === this.#nameplate && event.peer === this.#peer) this.#dropPeer();
    };
    const onLeft = (event: ServerMessageOf<'nameplate-peer-left'>) => {
      if (event.nameplate === this.#nameplate && event.peer === this.#peer) {
        this.#fail(new RendezvousError('peer_left', 'the other side left before the transfer started'));
      }
    };
    // Errors for messages we sent without a request id: the peer vanished between our send and the hub's lookup. One
    // to a claimer that has since gone before the key exchange is no news: that claimer is forgotten.
    const onError = (event: ServerMessageOf<'error'>) => {
      if (event.to !== undefined && event.to !== this.#peer) return;
      this.#fail(new RendezvousError('hub_error', `the signaling server refused a message: ${event.message}`));
    };
    const onClose = () => this.#fail(new RendezvousError('hub_lost', 'the signaling server went away'));
    signaling.on('message', onMessage);
    signaling.on('nameplate-claimed', onClaimed);
    signaling.on('nameplate-unclaimed', onUnclaimed);
    signaling.on('nameplate-peer-left', onLeft);
    signaling.on('error', onError);
    signaling.on('close', onClose);
    this.#offs.push(() => {
      signaling.off('message', onMessage);
      signaling.off('nameplate-claimed', onClaimed);
      signaling.off('nameplate-unclaimed', onUnclaimed);
      signaling.off('nameplate-peer-left', onLeft);
      signaling.off('error', onError);
      signaling.off('close', onClose);
    });
  }

  /** The sender's side: allocate `number` (a code chosen by the user) or one the hub picks, then wait for a claimer. */
  static async allocate<Hub extends RendezvousHub>(signaling: Hub, number?: number): Promise<Rendezvous<Hub>> {
    // Listening before the request: a claimer (a receiver started at the same time) may be announced at once.
    const rendezvous = new Rendezvous(signaling, undefined);
    const request: ClientMessage = { type: 'allocate', ...(number === undefined ? {} : { nameplate: number }) };
    try {
      const reply = (await nameplateRequest(signaling, request)) as ServerMessageOf<'allocated'>;
      rendezvous.#nameplate = reply.nameplate;
      const claim = rendezvous.#earlyClaim;
      rendezvous.#earlyClaim = undefined;
      if (claim?.nameplate === reply.nameplate) rendezvous.#setPeer(claim.peer);
      return rendezvous;
    } catch (error) {
      rendezvous.detach();
      throw error;
    }
  }

  /** The code's number on the hub (known once `allocate` has been answered). */
  get nameplate(): number {
    return this.#nameplate as number;
  }

  /** The receiver's side: claim `number`; the rendezvous knows its peer (the nameplate's owner) at once. */
  static async claim<Hub extends RendezvousHub>(signaling: Hub, number: number): Promise<Rendezvous<Hub>> {
    // Listening before the claim, so that nothing the owner says right after it is missed.
    const rendezvous = new Rendezvous(signaling, number);
    try {
      const reply = (await nameplateRequest(signaling, {
        type: 'claim',
        nameplate: number,
      })) as ServerMessageOf<'claimed'>;
      rendezvous.#setPeer(reply.peer);
      return rendezvous;
    } catch (error) {
      rendezvous.detach();
      throw error;
    }
  }

  /** The peer's id, once there is one. */
  get peer(): string | undefined {
    return this.#peer;
  }

  /** Resolves with the peer's id when there is (or already was) one; rejects if the hub goes away. */
  waitForPeer(): Promise<string> {
    if (this.#peer !== undefined) return Promise.resolve(this.#peer);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#peerWaiters.push({ resolve, reject }));
  }

  send(message: SessionMessage): void {
    if (this.#dropped) throw this.#dropped;
    if (this.#peer === undefined) throw new Error('no peer yet');
    if (!this.signaling.open) throw new RendezvousError('hub_lost', 'the signaling server went away');
    this.signaling.send({ type: 'message', to: this.#peer, data: message });
  }

  next(): Promise<SessionMessage> {
    const queued = this.#queued.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#error) return Promise.reject(this.#error);
    if (this.#dropped) return Promise.reject(this.#dropped);
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
    this.#dropped = undefined;
    for (const { from, data } of this.#early.splice(0)) if (from === peer) this.#deliver(data);
    for (const waiter of this.#peerWaiters.splice(0)) waiter.resolve(peer);
  }

  /** The claimer went before its SPAKE2 share: the handshake with it stops, and the next claimer starts afresh. */
  #dropPeer(): void {
    this.#peer = undefined;
    this.#queued = [];
    this.#dropped = new RendezvousError('claim_dropped', 'the receiver left before the key exchange');
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#dropped);
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

/** How requests for nameplates fail: the hub's refusal as a RendezvousError of the same code. */
async function nameplateRequest(signaling: RendezvousHub, message: ClientMessage): Promise<ServerMessage> {
  try {
    return await signaling.request(message);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if ((NAMEPLATE_ERRORS as readonly unknown[]).includes(code)) {
      throw new RendezvousError(code as NameplateErrorCode, (error as Error).message);
    }
    throw error;
  }
}

/**
 * The sender's rendezvous: the nameplate of `chosen` (a code the user typed), or one the hub picks with fresh words.
 * Resolves with the code to show.
 */
export async function allocateCode<Hub extends RendezvousHub>(
  hub: Hub,
  chosen: ParsedCode | undefined,
): Promise<{ rendezvous: Rendezvous<Hub>; code: ParsedCode }> {
  const rendezvous = await Rendezvous.allocate(hub, chosen?.number);
  return { rendezvous, code: chosen ?? generateCode({ number: rendezvous.nameplate }) };
}

/** How long a receiver retries a nameplate nobody holds yet: a script may start both sides at once. */
export const CLAIM_GRACE_MS = 5000;
const CLAIM_RETRY_MS = 250;

/** The receiver's rendezvous: claims the code's nameplate, retrying `unknown_nameplate` for up to `graceMs`. */
export async function claimCode<Hub extends RendezvousHub>(
  hub: Hub,
  code: ParsedCode,
  graceMs = CLAIM_GRACE_MS,
): Promise<Rendezvous<Hub>> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    try {
      return await Rendezvous.claim(hub, code.number);
    } catch (error) {
      const waiting = error instanceof RendezvousError && error.code === 'unknown_nameplate';
      if (!waiting || Date.now() + CLAIM_RETRY_MS > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, CLAIM_RETRY_MS));
  }
}

/**
 * The sender's handshake: wait for a claimer and run `handshake` with it. A claimer that goes before its SPAKE2 share
 * (someone trying numbers) does not end the wait: the next claimer gets a fresh run (`attempt` counts them, from 1).
 */
export async function handshakeWithClaimer(
  rendezvous: Rendezvous,
  handshake: (attempt: number) => Promise<HandshakeResult>,
  onClaimer?: () => void,
): Promise<HandshakeResult> {
  for (let attempt = 1; ; attempt++) {
    await rendezvous.waitForPeer();
    onClaimer?.();
    try {
      return await handshake(attempt);
    } catch (error) {
      if (!(error instanceof RendezvousError && error.code === 'claim_dropped')) throw error;
    }
  }
}
