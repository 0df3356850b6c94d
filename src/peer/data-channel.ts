// An RTCDataChannel look-alike over a node-datachannel channel (RFC 8831 data channels, opened with the DCEP
// handshake of RFC 8832): readyState, send, bufferedAmount with its low-water event, and message/open/close
// events that carry what a browser's would. Binary messages arrive as ArrayBuffer (binaryType "arraybuffer").
import type { DataChannel as NativeDataChannel } from 'node-datachannel';

export type DataChannelState = 'connecting' | 'open' | 'closing' | 'closed';

export class ChannelMessageEvent extends Event {
  constructor(readonly data: string | ArrayBuffer) {
    super('message');
  }
}

export class ChannelErrorEvent extends Event {
  constructor(readonly error: Error) {
    super('error');
  }
}

type Handler<E extends Event> = ((event: E) => void) | null;

export interface DataChannelInit {
  ordered?: boolean;
  maxRetransmits?: number;
  maxPacketLifeTime?: number;
  protocol?: string;
  negotiated?: boolean;
  id?: number;
}

export class PeerDataChannel extends EventTarget {
  onopen: Handler<Event> = null;
  onclose: Handler<Event> = null;
  onerror: Handler<ChannelErrorEvent> = null;
  onmessage: Handler<ChannelMessageEvent> = null;
  onbufferedamountlow: Handler<Event> = null;
  readonly binaryType = 'arraybuffer';
  readonly label: string;
  readonly protocol: string;
  private state: DataChannelState;
  private lowThreshold = 0;

  /** @internal Built by PeerConnection; `announced` is true for a channel the remote side opened. */
  constructor(
    private readonly native: NativeDataChannel,
    announced: boolean,
  ) {
    super();
    this.label = native.getLabel();
    this.protocol = native.getProtocol();
    this.state = native.isOpen() ? 'open' : 'connecting';
    native.onOpen(() => {
      if (this.state !== 'connecting') return;
      this.state = 'open';
      this.fire(new Event('open'));
    });
    native.onClosed(() => this.markClosed());
    native.onError((message) => this.fire(new ChannelErrorEvent(new Error(message))));
    native.onBufferedAmountLow(() => this.fire(new Event('bufferedamountlow')));
    native.onMessage((data) => this.fire(new ChannelMessageEvent(toMessageData(data))));
    // W3C webrtc §6.2: a channel the remote side opened is handed over already open, and its open event
    // follows the datachannel event.
    if (announced && this.state === 'open') setImmediate(() => this.fire(new Event('open')));
  }

  get readyState(): DataChannelState {
    return this.state;
  }

  get bufferedAmount(): number {
    return this.state === 'open' ? this.native.bufferedAmount() : 0;
  }

  get bufferedAmountLowThreshold(): number {
    return this.lowThreshold;
  }

  set bufferedAmountLowThreshold(bytes: number) {
    this.lowThreshold = bytes;
    this.native.setBufferedAmountLowThreshold(bytes);
  }

  /** The largest message the remote side accepts (SDP `a=max-message-size`, RFC 8841 §6). */
  get maxMessageSize(): number {
    return this.native.maxMessageSize();
  }

  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.state !== 'open') throw new Error(`InvalidStateError: data channel '${this.label}' is ${this.state}`);
    if (typeof data === 'string') this.native.sendMessage(data);
    else if (data instanceof ArrayBuffer) this.native.sendMessageBinary(new Uint8Array(data));
    else this.native.sendMessageBinary(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.native.close();
  }

  /** @internal The peer connection closed under the channel. */
  markClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.fire(new Event('close'));
  }

  private fire(event: Event): void {
    const handler = (this as unknown as Record<string, Handler<Event>>)[`on${event.type}`];
    handler?.call(this, event);
    this.dispatchEvent(event);
  }
}

function toMessageData(data: string | Buffer | ArrayBuffer): string | ArrayBuffer {
  if (typeof data === 'string' || data instanceof ArrayBuffer) return data;
  // node-datachannel copies each message into a Buffer of its own: its ArrayBuffer can be handed out as it is, which
  // saves a 64 KiB copy (and its garbage) per message. Only a view into a larger pool needs the copy.
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data.buffer as ArrayBuffer;
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}
