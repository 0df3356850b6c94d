// One peer connection to one room member. Who offers is decided without a round trip: the member whose id sorts
// first, so two members never offer to each other at once (no glare to resolve). The chat channel is negotiated
// (same id on both sides), so it exists before the offer and the answerer needs no `datachannel` event. In a call
// both sides add their camera and microphone before the first offer, so one negotiation carries data and media; the
// chat channel also carries each side's media state (muted, camera off, sharing the screen). The connection's own
// history (candidates gathered, state changes) is kept for the diagnostics card.
import {
  fingerprintsFromSdp,
  fingerprintVerificationString,
  type VerificationString,
} from '../../../src/protocol/keys.ts';
import type { ClientMessage, IceCandidate, ServerMessage } from '../../../src/protocol/signaling.ts';
import { type Gathered, serverOf } from '../lib/ice-view.ts';

export type ChatMessage = { type: 'chat'; text: string };
/** What the other side is sending: microphone on, camera on, the screen instead of the camera. */
export interface MediaState {
  audio: boolean;
  video: boolean;
  screen: boolean;
}
export type MediaMessage = { type: 'media' } & MediaState;

export interface TimelineEntry {
  ms: number;
  what: string;
  value: string;
}

export interface RoomPeerEvents {
  /** Connection state, verification string or channel changed: redraw. */
  change(): void;
  chat(text: string): void;
  /** The member opened a channel of its own (a throughput test, a file, a snapshot). */
  channel(channel: RTCDataChannel): void;
  /** In a call: the member's media stream arrived (or gained a track). */
  stream?(stream: MediaStream): void;
  /** In a call: the member muted, turned the camera off, started or stopped sharing the screen. */
  media?(state: MediaState): void;
}

const CHAT_CHANNEL_ID = 0;
const MAX_CHAT_CHARS = 4000;

export class RoomPeer {
  readonly pc: RTCPeerConnection;
  readonly chat: RTCDataChannel;
  readonly offerer: boolean;
  verification: VerificationString | undefined;
  remoteMedia: MediaState | undefined;
  readonly started = performance.now();
  readonly timeline: TimelineEntry[] = [];
  readonly candidates: Gathered[] = [];
  /** Remote candidates that came before the remote description (addIceCandidate would refuse them). */
  private readonly early: IceCandidate[] = [];
  private closed = false;

  constructor(
    readonly localId: string,
    readonly remoteId: string,
    iceServers: RTCIceServer[],
    private readonly signal: (message: ClientMessage) => void,
    private readonly events: RoomPeerEvents,
    /** A call's camera and microphone, sent from the first offer on. */
    local?: MediaStream,
  ) {
    this.offerer = localId < remoteId;
    this.pc = new RTCPeerConnection({ iceServers });
    this.record();
    for (const track of local?.getTracks() ?? []) this.pc.addTrack(track, local as MediaStream);
    this.pc.addEventListener('track', (event) => {
      const stream = event.streams[0] ?? new MediaStream([event.track]);
      events.stream?.(stream);
    });
    this.chat = this.pc.createDataChannel('chat', { negotiated: true, id: CHAT_CHANNEL_ID });
    this.chat.addEventListener('open', () => events.change());
    this.chat.addEventListener('close', () => events.change());
    this.chat.addEventListener('message', (event) => {
      const message = parseChat(event.data);
      if (message?.type === 'chat') events.chat(message.text);
      else if (message?.type === 'media') {
        const { audio, video, screen } = message;
        this.remoteMedia = { audio, video, screen };
        events.media?.(this.remoteMedia);
      }
    });
    this.pc.addEventListener('icecandidate', (event) => {
      if (event.candidate?.candidate) {
        this.candidates.push({
          candidate: event.candidate,
          ms: performance.now() - this.started,
          url: serverOf(event),
        });
      }
      if (event.candidate)
        this.signal({ type: 'candidate', to: remoteId, candidate: event.candidate.toJSON() as IceCandidate });
      else this.signal({ type: 'end-of-candidates', to: remoteId });
    });
    this.pc.addEventListener('connectionstatechange', () => events.change());
    this.pc.addEventListener('datachannel', (event) => events.channel(event.channel));
    if (this.offerer) void this.offer();
  }

  get state(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }

  get chatOpen(): boolean {
    return this.chat.readyState === 'open';
  }

  sendChat(text: string): void {
    if (this.chatOpen)
      this.chat.send(JSON.stringify({ type: 'chat', text: text.slice(0, MAX_CHAT_CHARS) } satisfies ChatMessage));
  }

  sendMedia(state: MediaState): void {
    if (this.chatOpen) this.chat.send(JSON.stringify({ type: 'media', ...state } satisfies MediaMessage));
  }

  /** Swap what the video sender sends (camera ↔ screen) without a new negotiation. */
  async replaceVideo(track: MediaStreamTrack): Promise<void> {
    const sender = this.pc.getSenders().find((s) => s.track?.kind === 'video');
    await sender?.replaceTrack(track);
  }

  /** A forwarded message from this member. */
  async handle(message: ServerMessage): Promise<void> {
    if (this.closed) return;
    try {
      if (message.type === 'offer' && !this.offerer) {
        await this.pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
        await this.flushCandidates();
        await this.pc.setLocalDescription();
        this.signal({ type: 'answer', to: this.remoteId, sdp: this.pc.localDescription?.sdp ?? '' });
        this.verify();
      } else if (message.type === 'answer' && this.offerer) {
        await this.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        await this.flushCandidates();
        this.verify();
      } else if (message.type === 'candidate') {
        if (this.pc.remoteDescription) await this.pc.addIceCandidate(message.candidate);
        else this.early.push(message.candidate);
      }
    } catch (err) {
      // A failed negotiation shows as the connection state "failed"; the member stays listed.
      console.warn(`negotiation with ${this.remoteId} failed`, err);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.chat.close();
    this.pc.close();
  }

  private record(): void {
    const note = (what: string, value: () => string) => {
      const add = () => {
        this.timeline.push({ ms: performance.now() - this.started, what, value: value() });
        this.events.change();
      };
      return add;
    };
    this.pc.addEventListener(
      'signalingstatechange',
      note('signaling', () => this.pc.signalingState),
    );
    this.pc.addEventListener(
      'icegatheringstatechange',
      note('ICE gathering', () => this.pc.iceGatheringState),
    );
    this.pc.addEventListener(
      'iceconnectionstatechange',
      note('ICE connection', () => this.pc.iceConnectionState),
    );
    this.pc.addEventListener(
      'connectionstatechange',
      note('connection', () => this.pc.connectionState),
    );
  }

  private async offer(): Promise<void> {
    try {
      await this.pc.setLocalDescription();
      this.signal({ type: 'offer', to: this.remoteId, sdp: this.pc.localDescription?.sdp ?? '' });
    } catch (err) {
      console.warn(`offer to ${this.remoteId} failed`, err);
    }
  }

  private async flushCandidates(): Promise<void> {
    for (const candidate of this.early.splice(0)) await this.pc.addIceCandidate(candidate);
  }

  // Both sides hash the same pair of DTLS fingerprints (sorted), so the strings match unless someone in the middle
  // swapped a description: then each side sees a different one, which is what the people comparing them catch.
  private verify(): void {
    const local = fingerprintsFromSdp(this.pc.localDescription?.sdp ?? '')[0];
    const remote = fingerprintsFromSdp(this.pc.remoteDescription?.sdp ?? '')[0];
    if (local && remote) {
      this.verification = fingerprintVerificationString(local, remote);
      this.events.change();
    }
  }
}

function parseChat(data: unknown): ChatMessage | MediaMessage | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value !== 'object' || value === null || !('type' in value)) return undefined;
    if (value.type === 'chat' && 'text' in value) {
      return typeof value.text === 'string' ? { type: 'chat', text: value.text.slice(0, MAX_CHAT_CHARS) } : undefined;
    }
    if (value.type === 'media') {
      const flag = (name: string) => (value as Record<string, unknown>)[name] === true;
      return { type: 'media', audio: flag('audio'), video: flag('video'), screen: flag('screen') };
    }
  } catch {
    // Not ours: ignored, a peer speaking nonsense cannot break the page.
  }
  return undefined;
}
