// One peer connection to one room member. Who offers is decided without a round trip: the member whose id sorts
// first, so two members never offer to each other at once (no glare to resolve). The chat channel is negotiated
// (same id on both sides), so it exists before the offer and the answerer needs no `datachannel` event.
import {
  fingerprintsFromSdp,
  fingerprintVerificationString,
  type VerificationString,
} from '../../../src/protocol/keys.ts';
import type { ClientMessage, IceCandidate, ServerMessage } from '../../../src/protocol/signaling.ts';

export type ChatMessage = { type: 'chat'; text: string };

export interface RoomPeerEvents {
  /** Connection state, verification string or channel changed: redraw. */
  change(): void;
  chat(text: string): void;
  /** The member opened a channel of its own (a throughput test). */
  channel(channel: RTCDataChannel): void;
}

const CHAT_CHANNEL_ID = 0;
const MAX_CHAT_CHARS = 4000;

export class RoomPeer {
  readonly pc: RTCPeerConnection;
  readonly chat: RTCDataChannel;
  readonly offerer: boolean;
  verification: VerificationString | undefined;
  /** Remote candidates that came before the remote description (addIceCandidate would refuse them). */
  private readonly early: IceCandidate[] = [];
  private closed = false;

  constructor(
    readonly localId: string,
    readonly remoteId: string,
    iceServers: RTCIceServer[],
    private readonly signal: (message: ClientMessage) => void,
    private readonly events: RoomPeerEvents,
  ) {
    this.offerer = localId < remoteId;
    this.pc = new RTCPeerConnection({ iceServers });
    this.chat = this.pc.createDataChannel('chat', { negotiated: true, id: CHAT_CHANNEL_ID });
    this.chat.addEventListener('open', () => events.change());
    this.chat.addEventListener('close', () => events.change());
    this.chat.addEventListener('message', (event) => {
      const message = parseChat(event.data);
      if (message) events.chat(message.text);
    });
    this.pc.addEventListener('icecandidate', (event) => {
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

function parseChat(data: unknown): ChatMessage | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value === 'object' && value !== null && 'type' in value && value.type === 'chat' && 'text' in value) {
      return typeof value.text === 'string' ? { type: 'chat', text: value.text.slice(0, MAX_CHAT_CHARS) } : undefined;
    }
  } catch {
    // Not ours: ignored, a peer speaking nonsense cannot break the page.
  }
  return undefined;
}
