// An RTCPeerConnection look-alike for Node over node-datachannel's native PeerConnection (libdatachannel), for
// data channels only. Built on the native API rather than the package's polyfill: it is fully typed without
// the DOM library, TURN credentials reach libdatachannel intact (the polyfill cuts "expiry:user" names at the
// colon), and negotiation is ours to drive. It adds what the native API lacks: remote candidates queued until
// the remote description is set, the null end-of-candidates event, ICE servers in the browser's shape,
// `bindAddress` (tests pass 127.0.0.1), and `cleanup()` so the process can exit.
import {
  initLogger,
  type LogLevel,
  type IceServer as NativeIceServer,
  PeerConnection as NativePeerConnection,
  cleanup as nativeCleanup,
} from 'node-datachannel';
import { parseIceUrl } from '../protocol/ice-url.ts';
import type { IceCandidate, IceServer } from '../protocol/signaling.ts';
import { type DataChannelInit, PeerDataChannel } from './data-channel.ts';

export type SdpType = 'offer' | 'answer';
export interface SessionDescription {
  type: SdpType;
  sdp: string;
}
export type ConnectionState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';
export type IceGatheringState = 'new' | 'gathering' | 'complete';
export type SignalingState = 'stable' | 'have-local-offer' | 'have-remote-offer' | 'closed';

export interface PeerConfiguration {
  iceServers?: IceServer[];
  /** Local address to gather host candidates on (libdatachannel's bindAddress); tests use 127.0.0.1. */
  bindAddress?: string;
  iceTransportPolicy?: 'all' | 'relay';
  /** UDP ports to use, inclusive. */
  portRange?: [number, number];
}

/** One end of the candidate pair ICE selected, as the browser's RTCIceCandidate describes it. */
export interface SelectedCandidate {
  /** RFC 8445 §5.1.1: host, srflx (server reflexive), prflx (peer reflexive) or relay (a TURN allocation). */
  type: string;
  protocol: 'udp' | 'tcp';
  address: string;
  port: number;
}

export interface SelectedCandidatePair {
  local: SelectedCandidate;
  remote: SelectedCandidate;
}

export class IceCandidateEvent extends Event {
  /** null marks the end of candidates, as in the browser. */
  constructor(readonly candidate: IceCandidate | null) {
    super('icecandidate');
  }
}

export class DataChannelEvent extends Event {
  constructor(readonly channel: PeerDataChannel) {
    super('datachannel');
  }
}

type Handler<E extends Event> = ((event: E) => void) | null;

const live = new Set<PeerConnection>();
let nextName = 1;

export class PeerConnection extends EventTarget {
  onicecandidate: Handler<IceCandidateEvent> = null;
  ondatachannel: Handler<DataChannelEvent> = null;
  onconnectionstatechange: Handler<Event> = null;
  onicegatheringstatechange: Handler<Event> = null;
  onsignalingstatechange: Handler<Event> = null;
  private readonly native: NativePeerConnection;
  private readonly channels = new Set<PeerDataChannel>();
  private queuedCandidates: IceCandidate[] = [];
  private descriptionWaiters: Array<{ resolve: (d: SessionDescription) => void; reject: (e: Error) => void }> = [];
  private local: SessionDescription | null = null;
  private remote: SessionDescription | null = null;
  private closed = false;
  private state: ConnectionState = 'new';

  constructor(configuration: PeerConfiguration = {}) {
    super();
    this.native = new NativePeerConnection(`ferry-${nextName++}`, {
      iceServers: toNativeIceServers(configuration.iceServers ?? []),
      bindAddress: configuration.bindAddress,
      iceTransportPolicy: configuration.iceTransportPolicy,
      portRangeBegin: configuration.portRange?.[0],
      portRangeEnd: configuration.portRange?.[1],
      // Offers and answers are made when the caller asks, as in the browser.
      disableAutoNegotiation: true,
    });
    live.add(this);
    this.native.onLocalDescription((sdp, type) => {
      const description = { type: type as SdpType, sdp };
      this.local = description;
      this.applyQueuedCandidates();
      for (const waiter of this.descriptionWaiters.splice(0)) waiter.resolve(description);
    });
    this.native.onLocalCandidate((candidate, mid) => {
      if (this.closed) return;
      // libdatachannel writes the SDP attribute line; the browser's RTCIceCandidate.candidate has no "a=".
      const attribute = candidate.startsWith('a=') ? candidate.slice(2) : candidate;
      this.fire(new IceCandidateEvent({ candidate: attribute, sdpMid: mid, sdpMLineIndex: 0 }));
    });
    this.native.onGatheringStateChange((state) => {
      if (this.closed) return;
      this.fire(new Event('icegatheringstatechange'));
      if (state === 'complete') this.fire(new IceCandidateEvent(null));
    });
    // Callbacks arrive later than libdatachannel's state moved: keep the state each one reports, so a listener
    // sees 'failed' and then 'closed', not 'closed' twice.
    this.native.onStateChange((state) => this.setState(state as ConnectionState));
    this.native.onSignalingStateChange(() => {
      if (!this.closed) this.fire(new Event('signalingstatechange'));
    });
    this.native.onDataChannel((native) => {
      const channel = this.track(new PeerDataChannel(native, true));
      this.fire(new DataChannelEvent(channel));
    });
  }

  private setState(state: ConnectionState): void {
    if (this.closed || state === this.state) return;
    this.state = state;
    this.fire(new Event('connectionstatechange'));
  }

  get connectionState(): ConnectionState {
    return this.closed ? 'closed' : this.state;
  }

  get iceGatheringState(): IceGatheringState {
    return this.closed ? 'complete' : (this.native.gatheringState() as IceGatheringState);
  }

  get signalingState(): SignalingState {
    return this.closed ? 'closed' : (this.native.signalingState() as SignalingState);
  }

  get localDescription(): SessionDescription | null {
    return this.local;
  }

  get remoteDescription(): SessionDescription | null {
    return this.remote;
  }

  /**
   * The candidate pair ICE is using (the browser has it as `sctp.transport.iceTransport.getSelectedCandidatePair()`);
   * null before ICE has chosen one, or once closed. With a relay-only policy both ends should read `relay`.
   */
  getSelectedCandidatePair(): SelectedCandidatePair | null {
    if (this.closed) return null;
    const pair = this.native.getSelectedCandidatePair();
    if (!pair) return null;
    const describe = (c: typeof pair.local): SelectedCandidate => ({
      type: c.type,
      protocol: c.transportType.toLowerCase() === 'tcp' ? 'tcp' : 'udp',
      address: c.address,
      port: c.port,
    });
    return { local: describe(pair.local), remote: describe(pair.remote) };
  }

  createDataChannel(label: string, init: DataChannelInit = {}): PeerDataChannel {
    this.assertOpen();
    const native = this.native.createDataChannel(label, {
      protocol: init.protocol,
      negotiated: init.negotiated,
      id: init.id,
      unordered: init.ordered === false,
      maxRetransmits: init.maxRetransmits,
      maxPacketLifeTime: init.maxPacketLifeTime,
    });
    return this.track(new PeerDataChannel(native, false));
  }

  /**
   * libdatachannel creates and applies a local description in one step, so createOffer/createAnswer already
   * apply it; setLocalDescription then accepts that same description (or none) and nothing else.
   */
  createOffer(): Promise<SessionDescription> {
    return this.describe('offer');
  }

  createAnswer(): Promise<SessionDescription> {
    return this.describe('answer');
  }

  async setLocalDescription(description?: Partial<SessionDescription>): Promise<void> {
    if (this.local && (!description?.sdp || description.sdp === this.local.sdp)) return;
    if (description?.sdp) throw new Error('OperationError: a changed local description cannot be applied');
    await this.describe(this.signalingState === 'have-remote-offer' ? 'answer' : 'offer');
  }

  async setRemoteDescription(description: SessionDescription): Promise<void> {
    this.assertOpen();
    this.native.setRemoteDescription(description.sdp, description.type);
    this.remote = description;
    this.applyQueuedCandidates();
  }

  async addIceCandidate(candidate?: IceCandidate | null): Promise<void> {
    this.assertOpen();
    // An empty candidate is the end-of-candidates indication; libdatachannel needs no word of it.
    if (!candidate?.candidate) return;
    this.queuedCandidates.push(candidate);
    this.applyQueuedCandidates();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    for (const waiter of this.descriptionWaiters.splice(0)) waiter.reject(new Error('InvalidStateError: closed'));
    for (const channel of this.channels) channel.close();
    this.native.close();
    for (const channel of this.channels) channel.markClosed();
  }

  private describe(type: SdpType): Promise<SessionDescription> {
    this.assertOpen();
    return new Promise((resolve, reject) => {
      this.descriptionWaiters.push({ resolve, reject });
      try {
        this.native.setLocalDescription(type);
      } catch (err) {
        this.descriptionWaiters = this.descriptionWaiters.filter((w) => w.resolve !== resolve);
        reject(err);
      }
    });
  }

  // Candidates that race ahead (trickle ICE, RFC 8838) wait for both descriptions: libdatachannel creates its ICE
  // transport with the local description, and an answerer that has only the remote offer has none yet.
  private applyQueuedCandidates(): void {
    if (!this.remote || !this.local || this.closed) return;
    for (const candidate of this.queuedCandidates.splice(0)) this.applyCandidate(candidate);
  }

  private applyCandidate(candidate: IceCandidate): void {
    const mid = candidate.sdpMid ?? firstMid(this.remote?.sdp) ?? '0';
    this.native.addRemoteCandidate(candidate.candidate, mid);
  }

  private track(channel: PeerDataChannel): PeerDataChannel {
    this.channels.add(channel);
    channel.addEventListener('close', () => this.channels.delete(channel));
    // An open channel means ICE and DTLS are up (RFC 8831 §6); libdatachannel's own 'connected' callback can come
    // later, and a browser never shows an open channel on a connection that is not yet 'connected'.
    channel.addEventListener('open', () => {
      if (this.state === 'new' || this.state === 'connecting') this.setState('connected');
    });
    return channel;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('InvalidStateError: the peer connection is closed');
  }

  private fire(event: Event): void {
    const handler = (this as unknown as Record<string, Handler<Event>>)[`on${event.type}`];
    handler?.call(this, event);
    this.dispatchEvent(event);
  }
}

/**
 * Close every peer connection and stop libdatachannel's threads. Node cannot exit while they run, so a
 * process calls this once it is done with WebRTC; peer connections made afterwards start them again.
 */
export function cleanup(): void {
  for (const pc of [...live]) pc.close();
  nativeCleanup();
}

/** Send libdatachannel's own log to `write` (initLogger throws without a callback, so one is always given). */
export function enableNativeLog(level: LogLevel, write: (line: string) => void): void {
  initLogger(level, (lineLevel, message) => write(`libdatachannel ${lineLevel}: ${message}`));
}

/**
 * Browser-shaped ICE servers to libdatachannel's: STUN as URIs, TURN as objects so credentials stay whole (a
 * TURN REST username "expiry:user" would be cut at its colon in a `turn:USER:PASS@host` URI). libjuice, the ICE
 * agent node-datachannel is built with, allocates over UDP only (RFC 8656 §3.1): TCP and TLS entries are passed
 * on but ignored with a warning in libdatachannel's log; {@link hasTurnOverUdp} tells whether any is usable.
 */
export function toNativeIceServers(servers: IceServer[]): (string | NativeIceServer)[] {
  const result: (string | NativeIceServer)[] = [];
  for (const server of servers) {
    for (const url of Array.isArray(server.urls) ? server.urls : [server.urls]) {
      const { scheme, host, port, transport } = parseIceUrl(url);
      // libdatachannel has no STUN over TLS: a stuns: server is skipped, as a browser skips a server it cannot use.
      if (scheme === 'stun') {
        result.push(`stun:${host.includes(':') ? `[${host}]` : host}:${port}`);
      } else if (scheme !== 'stuns') {
        const relayType = scheme === 'turns' ? 'TurnTls' : transport === 'tcp' ? 'TurnTcp' : 'TurnUdp';
        result.push({ hostname: host, port, username: server.username, password: server.credential, relayType });
      }
    }
  }
  return result;
}

/** Whether `servers` include a TURN server that node-datachannel can allocate on (turn: over UDP). */
export function hasTurnOverUdp(servers: IceServer[]): boolean {
  return servers.some((server) =>
    [server.urls].flat().some((url) => {
      try {
        const { scheme, transport } = parseIceUrl(url);
        return scheme === 'turn' && transport !== 'tcp';
      } catch {
        return false;
      }
    }),
  );
}

function firstMid(sdp: string | undefined): string | undefined {
  return sdp ? /^a=mid:(\S+)/m.exec(sdp)?.[1] : undefined;
}
