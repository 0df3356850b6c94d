// Nameplates: the numbers in front of code words. A sender allocates one (the hub picks it), a receiver claims it
// and is introduced to the sender; the claimer's first message to the owner (its SPAKE2 share) uses the nameplate
// up, so a wrong guess costs the guesser its one try and nobody can test codes offline. A claimer that goes before
// speaking is forgotten and the owner keeps waiting. Every nameplate counts against its client's address (owner and
// claimer alike), so one client holds at most a few; a used-up claim keeps counting for a while after it ends, which
// bounds how fast one address can spoil waiting senders by guessing.
import { randomInt } from 'node:crypto';
import { PerClientCounter } from '../net/client.ts';
import type { ErrorCode, ServerMessage } from '../protocol/signaling.ts';
import type { EndReason } from './connection.ts';
import type { Peer } from './peers.ts';

/** The number space grows through these as it fills: short numbers while the hub is quiet. */
export const NAMEPLATE_RANGES: readonly number[] = [999, 9_999, 99_999];
const WIDEST_RANGE = 99_999;
/** How long a claim that reached the key exchange keeps counting against its client after it ends. */
export const SPENT_CLAIM_HOLD_MS = 30_000;
/** Random draws before a full scan for a free number (each draw succeeds with probability ≥ ½). */
const RANDOM_DRAWS = 32;

interface Nameplate {
  readonly number: number;
  readonly owner: Peer;
  readonly ownerClient: string;
  claimer?: Peer;
  claimerClient?: string;
  /** The claimer has spoken: the number is free for others, the pair lives on until one side goes. */
  spent: boolean;
}

export type NameplateResult =
  | { ok: true; nameplate: number; peer?: string }
  | {
      ok: false;
      code: Extract<ErrorCode, 'unknown_nameplate' | 'nameplate_busy' | 'nameplate_taken' | 'too_many_nameplates'>;
      reason: string;
    }
  | { ok: false; code: Extract<ErrorCode, 'server_full'>; reason: string };

export class NameplateRegistry {
  readonly #byNumber = new Map<number, Nameplate>();
  readonly #byPeer = new Map<Peer, Set<Nameplate>>();
  readonly #perClient: PerClientCounter;

  constructor(
    maxPerClient: number,
    private readonly spentHoldMs = SPENT_CLAIM_HOLD_MS,
  ) {
    this.#perClient = new PerClientCounter(maxPerClient);
  }

  /** Numbers in use (open or claimed, not yet used up). */
  get size(): number {
    return this.#byNumber.size;
  }

  allocate(owner: Peer, client: string, requested: number | undefined): NameplateResult {
    if (requested !== undefined && this.#byNumber.has(requested)) {
      return { ok: false, code: 'nameplate_taken', reason: `the nameplate ${requested} is in use; pick another` };
    }
    const number = requested ?? this.#freeNumber();
    if (number === undefined) return { ok: false, code: 'server_full', reason: 'every nameplate is in use' };
    if (!this.#perClient.acquire(client)) return this.#tooMany();
    const nameplate: Nameplate = { number, owner, ownerClient: client, spent: false };
    this.#byNumber.set(number, nameplate);
    this.#hold(owner, nameplate);
    return { ok: true, nameplate: number };
  }

  claim(claimer: Peer, client: string, number: number): NameplateResult {
    const nameplate = this.#byNumber.get(number);
    if (!nameplate) {
      return { ok: false, code: 'unknown_nameplate', reason: `no sender waits under the nameplate ${number}` };
    }
    if (nameplate.claimer || nameplate.owner === claimer) {
      return { ok: false, code: 'nameplate_busy', reason: `the nameplate ${number} is being claimed by someone else` };
    }
    if (!this.#perClient.acquire(client)) return this.#tooMany();
    nameplate.claimer = claimer;
    nameplate.claimerClient = client;
    this.#hold(claimer, nameplate);
    introduce(nameplate.owner, claimer);
    nameplate.owner.send({ type: 'nameplate-claimed', nameplate: number, peer: claimer.id } satisfies ServerMessage);
    return { ok: true, nameplate: number, peer: nameplate.owner.id };
  }

  /** A message forwarded from `sender` to `target`: a claimer's first word to its owner, of any type, uses it up. */
  spoke(sender: Peer, target: Peer): void {
    const held = this.#byPeer.get(sender);
    if (!held) return;
    for (const nameplate of held) {
      if (nameplate.claimer === sender && nameplate.owner === target && !nameplate.spent) {
        nameplate.spent = true;
        this.#byNumber.delete(nameplate.number);
      }
    }
  }

  /** `peer` gives up `number`; false if it holds no such nameplate. */
  release(peer: Peer, number: number): boolean {
    for (const nameplate of this.#byPeer.get(peer) ?? []) {
      if (nameplate.number === number) {
        this.#end(peer, nameplate, 'left');
        return true;
      }
    }
    return false;
  }

  /** `peer` left the hub: every nameplate it held ends, and the other sides hear why. */
  depart(peer: Peer, reason: EndReason): void {
    for (const nameplate of [...(this.#byPeer.get(peer) ?? [])]) this.#end(peer, nameplate, reason);
  }

  #end(peer: Peer, nameplate: Nameplate, reason: 'left' | EndReason): void {
    const { owner, claimer } = nameplate;
    if (claimer === peer && !nameplate.spent) {
      // Gone before its SPAKE2 share: as if it never came. The owner waits on, for someone else.
      this.#dropClaim(nameplate);
      const event: ServerMessage = { type: 'nameplate-unclaimed', nameplate: nameplate.number, peer: peer.id };
      owner.send(event);
      return;
    }
    if (claimer) {
      const other = peer === owner ? claimer : owner;
      const event: ServerMessage = { type: 'nameplate-peer-left', nameplate: nameplate.number, peer: peer.id, reason };
      other.send(event);
      if (nameplate.spent) {
        this.#unhold(claimer, nameplate);
        const client = nameplate.claimerClient as string;
        setTimeout(() => this.#perClient.release(client), this.spentHoldMs).unref();
      } else this.#dropClaim(nameplate);
    }
    this.#unhold(owner, nameplate);
    this.#perClient.release(nameplate.ownerClient);
    if (this.#byNumber.get(nameplate.number) === nameplate) this.#byNumber.delete(nameplate.number);
  }

  #dropClaim(nameplate: Nameplate): void {
    const claimer = nameplate.claimer as Peer;
    forget(nameplate.owner, claimer);
    this.#unhold(claimer, nameplate);
    this.#perClient.release(nameplate.claimerClient as string);
    nameplate.claimer = undefined;
    nameplate.claimerClient = undefined;
  }

  #hold(peer: Peer, nameplate: Nameplate): void {
    const held = this.#byPeer.get(peer);
    if (held) held.add(nameplate);
    else this.#byPeer.set(peer, new Set([nameplate]));
  }

  #unhold(peer: Peer, nameplate: Nameplate): void {
    const held = this.#byPeer.get(peer);
    held?.delete(nameplate);
    if (held?.size === 0) this.#byPeer.delete(peer);
  }

  #tooMany(): NameplateResult {
    const limit = this.#perClient.limit;
    return { ok: false, code: 'too_many_nameplates', reason: `one client may hold ${limit} nameplates at once` };
  }

  /**
   * A random free number from the smallest range that is less than half full, as magic-wormhole's mailbox does:
   * numbers stay short while few are in use, and a sender's number cannot be predicted.
   */
  #freeNumber(): number | undefined {
    const used = this.#byNumber.size;
    const range = NAMEPLATE_RANGES.find((r) => used < r / 2) ?? WIDEST_RANGE;
    for (let draw = 0; draw < RANDOM_DRAWS; draw++) {
      const number = randomInt(1, range + 1);
      if (!this.#byNumber.has(number)) return number;
    }
    for (let number = 1; number <= range; number++) if (!this.#byNumber.has(number)) return number;
    return undefined;
  }
}

/** The forwarding rule's third clause, both ways (forwarding.ts): owner and claimer may now address each other. */
function introduce(a: Peer, b: Peer): void {
  a.contacts ??= new WeakSet();
  a.contacts.add(b);
  b.contacts ??= new WeakSet();
  b.contacts.add(a);
}

function forget(a: Peer, b: Peer): void {
  a.contacts?.delete(b);
  b.contacts?.delete(a);
}
