// Rooms by name: created by their first join (which may set a capacity), members in join order, gone when the
// last member leaves. Membership is kept on both sides (room.members, peer.rooms) so a departing peer's rooms
// are found without a scan.
import type { ClientShares } from './clients.ts';
import type { Peer } from './peers.ts';

export class Room {
  readonly members = new Set<Peer>();
  constructor(
    readonly name: string,
    /** Most members, or null for none but the hub's peers-per-room limit. */
    readonly capacity: number | null,
  ) {}
}

export type JoinResult =
  | { ok: true; room: Room }
  | { ok: false; code: 'room_full' | 'too_many_rooms' | 'already_in_room'; reason: string };

export class RoomRegistry {
  private readonly byName = new Map<string, Room>();

  constructor(
    private readonly maxPeersPerRoom: number,
    private readonly maxRoomsPerPeer: number,
    /** Memberships also count against the peer's client address (--max-rooms-per-client). */
    private readonly clients: ClientShares,
  ) {}

  get size(): number {
    return this.byName.size;
  }

  join(peer: Peer, name: string, capacity: number | undefined): JoinResult {
    const existing = this.byName.get(name);
    if (existing?.members.has(peer)) return { ok: false, code: 'already_in_room', reason: `already in '${name}'` };
    if (peer.rooms.size >= this.maxRoomsPerPeer) {
      return { ok: false, code: 'too_many_rooms', reason: `a peer may be in ${this.maxRoomsPerPeer} rooms at most` };
    }
    const room = existing ?? new Room(name, capacity ?? null);
    const limit = Math.min(room.capacity ?? Number.POSITIVE_INFINITY, this.maxPeersPerRoom);
    if (room.members.size >= limit) {
      return { ok: false, code: 'room_full', reason: `'${name}' is full (${limit} members)` };
    }
    if (!this.clients.join(peer.connection.client)) {
      const reason = `the peers of this address are in ${this.clients.maxRooms} rooms already`;
      return { ok: false, code: 'too_many_rooms', reason };
    }
    if (!existing) this.byName.set(name, room);
    room.members.add(peer);
    peer.rooms.add(room);
    return { ok: true, room };
  }

  /** Remove a member; the room vanishes once empty. */
  leave(peer: Peer, room: Room): void {
    if (!room.members.delete(peer)) return;
    peer.rooms.delete(room);
    this.clients.leave(peer.connection.client);
    if (room.members.size === 0 && this.byName.get(room.name) === room) this.byName.delete(room.name);
  }

  /** The room of that name if the peer is in it. */
  membership(peer: Peer, name: string): Room | undefined {
    for (const room of peer.rooms) if (room.name === name) return room;
    return undefined;
  }
}
