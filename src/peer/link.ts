// One WebRTC connection to one remote peer, negotiated through the hub: our offer or answer, trickle ICE both
// ways (RFC 8838), and hang-up. `ferry connect` dials with it; `ferry listen` accepts one per caller.
// Known stall: libdatachannel 0.24 (in node-datachannel 0.33) drops a DTLS ClientHello that arrives before its
// own DTLS transport has started (fixed upstream in libdatachannel#1554), although RFC 5763 §5 wants an offerer
// ready for one; OpenSSL resends it after 1 s. On loopback about one connection in three pays that second.
// Offering `setup:active` removed the stall but hung some connections (bench/README.md). The offerer does hold
// its candidates until the answer is applied: sent earlier, they let the answerer's ICE checks and DTLS
// ClientHello reach us before we know its fingerprint, and libdatachannel then fails the handshake ("unknown CA").
import type { ServerMessageOf } from '../protocol/signaling.ts';
import type { PeerDataChannel } from './data-channel.ts';
import {
  type IceCandidateEvent,
  type PeerConfiguration,
  PeerConnection,
  type SessionDescription,
} from './peer-connection.ts';
import type { SignalingClient } from './signaling-client.ts';

type Incoming = ServerMessageOf<'answer' | 'candidate' | 'end-of-candidates' | 'hangup'>;

export class PeerLink {
  readonly pc: PeerConnection;
  private outgoing: Array<() => void> | undefined = [];
  private closed = false;
  private readonly onSignal = (message: Incoming) => {
    if (message.from === this.remote) void this.receive(message);
  };
  private readonly onHangup = (message: ServerMessageOf<'hangup'>) => {
    if (message.from === this.remote) this.close('remote hung up', false);
  };

  constructor(
    private readonly signaling: SignalingClient,
    /** The remote peer's id. */
    readonly remote: string,
    configuration: PeerConfiguration,
    private readonly onClose: (reason: string) => void = () => {},
  ) {
    this.pc = new PeerConnection({ iceServers: signaling.iceServers, ...configuration });
    // Listeners rather than on-properties, so the caller keeps those for itself.
    this.pc.addEventListener('icecandidate', (event) => {
      const { candidate } = event as IceCandidateEvent;
      this.whenDescribed(() => {
        if (candidate) this.signaling.send({ type: 'candidate', to: remote, candidate });
        else this.signaling.send({ type: 'end-of-candidates', to: remote });
      });
    });
    this.pc.addEventListener('connectionstatechange', () => {
      if (this.pc.connectionState === 'failed') this.close('ICE or DTLS failed', true);
    });
    signaling.on('answer', this.onSignal);
    signaling.on('candidate', this.onSignal);
    signaling.on('end-of-candidates', this.onSignal);
    signaling.on('hangup', this.onHangup);
  }

  /** Open a data channel to the remote peer: create it, send our offer. Rejects if the hub refuses the offer. */
  async dial(label: string): Promise<PeerDataChannel> {
    const channel = this.pc.createDataChannel(label);
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    // The offerer takes the DTLS client role (see the top of this file); our own side follows the answer's
    // `passive`, since libdatachannel reads its role from the remote description.
    await this.describe(offer);
    return channel;
  }

  /** Answer a remote offer; the remote's channels arrive through `pc.ondatachannel`. */
  async accept(offer: SessionDescription): Promise<void> {
    await this.pc.setRemoteDescription(offer);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await this.describe(answer);
    this.releaseCandidates();
  }

  close(reason = 'closed', tellRemote = true): void {
    if (this.closed) return;
    this.closed = true;
    this.signaling.off('answer', this.onSignal);
    this.signaling.off('candidate', this.onSignal);
    this.signaling.off('end-of-candidates', this.onSignal);
    this.signaling.off('hangup', this.onHangup);
    if (tellRemote && this.signaling.open) this.signaling.send({ type: 'hangup', to: this.remote, reason });
    this.pc.close();
    this.onClose(reason);
  }

  /** Send our description and wait for the hub's ack, so that an unknown target fails here. */
  private async describe(description: SessionDescription): Promise<void> {
    await this.signaling.request({ type: description.type, to: this.remote, sdp: description.sdp });
  }

  private releaseCandidates(): void {
    const queued = this.outgoing ?? [];
    this.outgoing = undefined;
    for (const send of queued) send();
  }

  private whenDescribed(send: () => void): void {
    if (this.closed || !this.signaling.open) return;
    if (this.outgoing) this.outgoing.push(send);
    else send();
  }

  private async receive(message: Incoming): Promise<void> {
    if (this.closed) return;
    try {
      if (message.type === 'answer') {
        await this.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        this.releaseCandidates();
      } else if (message.type === 'candidate') await this.pc.addIceCandidate(message.candidate);
      else if (message.type === 'end-of-candidates') await this.pc.addIceCandidate(null);
    } catch (err) {
      this.close(`bad ${message.type} from the remote peer: ${(err as Error).message}`, true);
    }
  }
}
