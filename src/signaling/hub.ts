// The signaling hub: takes WebSocket upgrades for `/_/ws` and the seed protocol's `/register` and `/offer`,
// applies the limits every connection shares, and speaks the protocol of src/protocol/signaling.ts: hello,
// rooms, and forwarding with the sender's id stamped on. Knows nothing of the relay or of HTTP routing.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { clientKey } from '../net/client.ts';
import {
  type ClientMessage,
  type ErrorCode,
  type IceServer,
  type Limits,
  PROTOCOL_VERSIONS,
  parseClientMessage,
  type RequestId,
  type ServerMessage,
  SIGNALING_PATH,
} from '../protocol/signaling.ts';
import type { Logger } from '../server/log.ts';
import { ClientShares } from './clients.ts';
import { type CompatRole, SeedCompat } from './compat.ts';
import { Connection } from './connection.ts';
import { forward } from './forwarding.ts';
import { Heartbeat } from './heartbeat.ts';
import { CloseCode, FRAME_LIMIT_FACTOR, type HubOptions } from './limits.ts';
import { NameplateRegistry } from './nameplates.ts';
import { isReservedId, type Peer, PeerRegistry } from './peers.ts';
import { RoomRegistry } from './rooms.ts';

export type SignalingEndpoint = 'signaling' | CompatRole;

/** The request paths whose WebSocket upgrades belong to the hub. */
export const SIGNALING_ENDPOINTS: ReadonlyMap<string, SignalingEndpoint> = new Map([
  [SIGNALING_PATH, 'signaling'],
  ['/register', 'register'],
  ['/offer', 'offer'],
]);

/**
 * The ICE servers to hand a peer in `welcome`, so that TURN credentials can be minted for it. Asked with its
 * WebSocket upgrade request (where the client believes we are, who it is: its address, any access token) when it
 * connects; what it returns mints them at `hello`, holding only what it needs of the request.
 */
export type IceServersFor = (upgrade: IncomingMessage) => () => IceServer[];

export interface HubStats {
  connections: number;
  peers: number;
  rooms: number;
  nameplates: number;
  compatPeers: number;
}

export class SignalingHub {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly peers = new PeerRegistry();
  private readonly rooms: RoomRegistry;
  private readonly nameplates: NameplateRegistry;
  private readonly compat = new SeedCompat();
  private readonly clients: ClientShares;
  private readonly heartbeat: Heartbeat;
  private readonly limits: Limits;
  private closed = false;

  constructor(
    private readonly options: HubOptions,
    private readonly log: Logger,
    private readonly iceServersFor: IceServersFor = () => () => [],
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxMessageSize * FRAME_LIMIT_FACTOR,
    });
    this.clients = new ClientShares(options);
    this.rooms = new RoomRegistry(options.maxPeersPerRoom, options.maxRoomsPerPeer, this.clients);
    this.nameplates = new NameplateRegistry(options.maxCodesPerClient);
    const heartbeatIntervalMs = Math.round(options.heartbeatInterval * 1000);
    this.heartbeat = new Heartbeat(heartbeatIntervalMs, this.connections);
    this.limits = {
      maxMessageBytes: options.maxMessageSize,
      messagesPerSecond: options.messageRate,
      maxRoomsPerPeer: options.maxRoomsPerPeer,
      maxPeersPerRoom: options.maxPeersPerRoom,
      heartbeatIntervalMs,
    };
  }

  // One function for every socket rather than a closure each: idle peers should cost as little as possible.
  private readonly onSocketError = (err: Error) => this.log.info({ err: err.message }, 'signaling socket error');

  private readonly onBug = (err: Error) => this.log.error({ err: err.stack }, 'signaling message handler failed');

  stats(): HubStats {
    return {
      connections: this.connections.size,
      peers: this.peers.size,
      rooms: this.rooms.size,
      nameplates: this.nameplates.size,
      compatPeers: this.compat.size,
    };
  }

  /** Complete a WebSocket handshake for one of SIGNALING_ENDPOINTS. */
  upgrade(endpoint: SignalingEndpoint, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', this.onSocketError);
      const client = clientKey(req.socket.remoteAddress);
      const full = this.connections.size >= this.options.maxPeers;
      const budget = full ? undefined : this.clients.connect(client);
      const { maxMessageSize, messageRate } = this.options;
      const connection = new Connection(ws, { client, maxMessageSize, messageRate, onBug: this.onBug, budget });
      if (full) {
        if (endpoint === 'signaling') sendError(connection, 'server_full', 'the server has all the peers it can take');
        connection.end('kicked', CloseCode.TryAgainLater, 'server full');
        return;
      }
      if (!budget) {
        const reason = `this address holds ${this.options.maxPeersPerClient} signaling connections already`;
        if (endpoint === 'signaling') sendError(connection, 'too_many_peers', reason);
        connection.end('kicked', CloseCode.PolicyViolation, 'too many connections from this address');
        return;
      }
      this.connections.add(connection);
      // One close listener per connection, doing the endpoint's bookkeeping too: idle peers should cost little.
      const forget =
        endpoint === 'signaling'
          ? this.acceptPeer(connection, this.iceServersFor(req))
          : this.compat.accept(connection, endpoint);
      ws.once('close', () => {
        this.connections.delete(connection);
        this.clients.disconnect(client);
        forget();
      });
    });
  }

  /** Stop taking connections and close the open ones (1001, going away). */
  close(): void {
    this.closed = true;
    this.heartbeat.stop();
    for (const connection of this.connections) connection.end('closed', CloseCode.GoingAway, 'server shutting down');
    this.wss.close();
  }

  /** Serve the protocol on a connection; returns what to do when it closes. */
  private acceptPeer(connection: Connection, iceServers: () => IceServer[]): () => void {
    let peer: Peer | undefined;
    connection.onMessage((data) => {
      const admitted = connection.admit(data);
      if (!admitted) return;
      if (!admitted.ok) {
        // The frame is not read at all, so there is no request id to echo.
        const reason =
          admitted.problem === 'too_large' ? `larger than ${this.options.maxMessageSize} bytes` : 'slow down';
        return sendError(connection, admitted.problem, reason);
      }
      const parsed = parseClientMessage(admitted.text);
      if (!parsed.ok) return sendError(connection, parsed.code, parsed.reason, parsed.rid);
      const message = parsed.message;
      if (peer) return this.onMessage(peer, message, admitted.text);
      if (message.type !== 'hello') {
        return sendError(connection, 'hello_required', 'send hello first', message.rid);
      }
      peer = this.hello(connection, message, iceServers);
    });
    return () => {
      if (peer) this.depart(peer);
    };
  }

  private hello(
    connection: Connection,
    message: Extract<ClientMessage, { type: 'hello' }>,
    iceServers: () => IceServer[],
  ): Peer | undefined {
    const version = Math.max(...message.versions.filter((v) => (PROTOCOL_VERSIONS as readonly number[]).includes(v)));
    if (!Number.isFinite(version)) {
      connection.send(
        JSON.stringify({
          type: 'error',
          rid: message.rid,
          code: 'unsupported_version',
          message: `this server speaks protocol versions ${PROTOCOL_VERSIONS.join(', ')}`,
          versions: [...PROTOCOL_VERSIONS],
        } satisfies ServerMessage),
      );
      connection.end('kicked', CloseCode.ProtocolError, 'unsupported protocol version');
      return undefined;
    }
    if (message.id !== undefined && isReservedId(message.id)) {
      const reason = `ids starting with '_' are made by the server; ask for another or omit it`;
      sendError(connection, 'id_reserved', reason, message.rid);
      return undefined;
    }
    const peer = this.peers.register(connection, message.id);
    if (!peer) {
      sendError(connection, 'id_taken', `the id '${message.id}' is in use; pick another or omit it`, message.rid);
      return undefined;
    }
    connection.registered = true;
    this.log.debug({ peer: peer.id }, 'peer registered');
    peer.send({
      type: 'welcome',
      rid: message.rid,
      version,
      id: peer.id,
      iceServers: iceServers(),
      limits: this.limits,
    } satisfies ServerMessage);
    return peer;
  }

  private onMessage(peer: Peer, message: ClientMessage, text: string): void {
    const { connection } = peer;
    switch (message.type) {
      case 'hello':
        return sendError(connection, 'already_registered', `already registered as '${peer.id}'`, message.rid);
      case 'ping':
        return peer.send({ type: 'pong', rid: message.rid } satisfies ServerMessage);
      case 'join': {
        const result = this.rooms.join(peer, message.room, message.capacity);
        if (!result.ok) return sendError(connection, result.code, result.reason, message.rid);
        const { room } = result;
        const members: string[] = [];
        for (const member of room.members) if (member !== peer) members.push(member.id);
        peer.send({
          type: 'joined',
          rid: message.rid,
          room: room.name,
          members,
          capacity: room.capacity,
        } satisfies ServerMessage);
        const event = JSON.stringify({ type: 'member-joined', room: room.name, peer: peer.id } satisfies ServerMessage);
        for (const member of room.members) if (member !== peer) member.connection.send(event);
        return;
      }
      case 'leave': {
        const room = this.rooms.membership(peer, message.room);
        if (!room) return sendError(connection, 'not_in_room', `not in '${message.room}'`, message.rid);
        this.rooms.leave(peer, room);
        peer.send({ type: 'left', rid: message.rid, room: room.name } satisfies ServerMessage);
        this.announceLeave(peer, room.members, room.name, 'left');
        return;
      }
      case 'allocate':
      case 'claim': {
        const result =
          message.type === 'allocate'
            ? this.nameplates.allocate(peer, connection.client, message.nameplate)
            : this.nameplates.claim(peer, connection.client, message.nameplate);
        if (!result.ok) return sendError(connection, result.code, result.reason, message.rid);
        const { nameplate } = result;
        if (message.type === 'allocate') {
          return peer.send({ type: 'allocated', rid: message.rid, nameplate } satisfies ServerMessage);
        }
        const claimed: ServerMessage = { type: 'claimed', rid: message.rid, nameplate, peer: result.peer as string };
        return peer.send(claimed);
      }
      case 'release': {
        if (!this.nameplates.release(peer, message.nameplate)) {
          return sendError(connection, 'unknown_nameplate', `you hold no nameplate ${message.nameplate}`, message.rid);
        }
        return peer.send({ type: 'released', rid: message.rid, nameplate: message.nameplate } satisfies ServerMessage);
      }
      default: {
        const failure = forward(this.peers, peer, message, text);
        if (failure) return sendError(connection, failure.code, failure.reason, message.rid, message.to);
        this.nameplates.spoke(peer, this.peers.get(message.to) as Peer);
        if (message.rid !== undefined) peer.send({ type: 'ack', rid: message.rid } satisfies ServerMessage);
      }
    }
  }

  /** A peer's connection ended: it leaves every room (members hear why) and its id is free again. */
  private depart(peer: Peer): void {
    const reason = peer.connection.endReason;
    this.nameplates.depart(peer, reason);
    for (const room of [...peer.rooms]) {
      this.rooms.leave(peer, room);
      this.announceLeave(peer, room.members, room.name, reason);
    }
    this.peers.remove(peer);
    this.log.debug({ peer: peer.id, reason }, 'peer departed');
  }

  private announceLeave(peer: Peer, members: Iterable<Peer>, room: string, reason: 'left' | Connection['endReason']) {
    const event = JSON.stringify({ type: 'member-left', room, peer: peer.id, reason } satisfies ServerMessage);
    for (const member of members) member.connection.send(event);
  }
}

function sendError(connection: Connection, code: ErrorCode, message: string, rid?: RequestId, to?: string): void {
  connection.send(JSON.stringify({ type: 'error', rid, code, message, to } satisfies ServerMessage));
}
