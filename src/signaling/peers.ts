// Registered peers by id: server-made ids, requested ids (first come, first served), and what each peer
// carries for the forwarding rule (its rooms, whether its id is public, who it has addressed).
import { randomBytes } from 'node:crypto';
import type { Connection } from './connection.ts';
import type { Room } from './rooms.ts';

/** Server-made ids, and only they, start with this. */
const SERVER_ID_PREFIX = '_';

/** Whether a requested id has the shape of a server-made one, which no client may ask for. */
export function isReservedId(id: string): boolean {
  return id.startsWith(SERVER_ID_PREFIX);
}

export class Peer {
  readonly rooms = new Set<Room>();
  /**
   * Peers this one has sent a forwarded message to: they may answer it without sharing a room. A WeakSet, so
   * a departed peer is forgotten with it and a later peer reusing its id inherits nothing. Made on first use:
   * most peers sit idle, and every idle peer's bytes count.
   */
  contacts: WeakSet<Peer> | undefined;

  constructor(
    readonly id: string,
    readonly connection: Connection,
    /** The peer asked for this id (as `ferry listen --id NAME` does): anyone who knows it may address it. */
    readonly publicId: boolean,
  ) {}

  send(message: object): void {
    this.connection.send(JSON.stringify(message));
  }
}

export class PeerRegistry {
  private readonly byId = new Map<string, Peer>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Peer | undefined {
    return this.byId.get(id);
  }

  /** Register under the requested id, or a fresh random one; undefined when the requested id is taken. */
  register(connection: Connection, requested: string | undefined): Peer | undefined {
    if (requested !== undefined && this.byId.has(requested)) return undefined;
    const id = requested ?? this.freshId();
    const peer = new Peer(id, connection, requested !== undefined);
    this.byId.set(id, peer);
    return peer;
  }

  remove(peer: Peer): void {
    if (this.byId.get(peer.id) === peer) this.byId.delete(peer.id);
  }

  values(): IterableIterator<Peer> {
    return this.byId.values();
  }

  // `_` and 66 random bits: unguessable enough that a server-made id works as an address only for those it was given
  // to, and of a shape no peer may ask for (isReservedId), so none can take one over once its peer has left.
  private freshId(): string {
    for (let attempt = 0; attempt < 8; attempt++) {
      const id = `${SERVER_ID_PREFIX}${randomBytes(9).toString('base64url').slice(1)}`;
      if (!this.byId.has(id)) return id;
    }
    throw new Error('no free peer id after 8 random draws');
  }
}
