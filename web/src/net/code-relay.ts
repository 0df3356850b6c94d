// The relay path of a code transfer in the browser: the same two encrypted pipes as the CLI's
// src/peer/relay-frames.ts (docs/transfer-protocol.md §4.3). Downloads are a streamed fetch(); uploads go through the
// server's WebSocket entrance (/_/pipe, src/server/pipe-socket.ts), because Chromium streams a fetch() body only over
// HTTP/2, and a Blob upload cannot carry frames that are still being produced. The peer's side is a plain pipe.
import { relayDirections, type SessionKeys } from '../../../src/protocol/keys.ts';
import type { FerryRole } from '../../../src/protocol/spake2.ts';
import { StreamDecryptor, StreamEncryptor } from '../../../src/protocol/stream-cipher.ts';
import { encodeFrame, endsRecord, type Frame, FrameDecoder } from '../../../src/protocol/transfer.ts';
import { drainPeer, type FrameChannel } from '../../../src/protocol/transfer-session.ts';
import { authHeaders, withToken } from './access.ts';

// The socket's own buffer: wait while more than this is queued (browsers' WebSocket has no drain event).
const SOCKET_HIGH_WATER = 4 * 1024 * 1024;
const POLL_MS = 4;

export interface RelayOptions {
  origin: string;
  keys: SessionKeys;
  role: FerryRole;
}

type SocketOutcome = { type: 'done'; status: number; log: string } | { type: 'failed'; message: string };

/** An upload to a pipe through the WebSocket entrance: write() waits under backpressure, end() awaits the outcome. */
class SocketUpload {
  readonly #ws: WebSocket;
  readonly #opened: Promise<void>;
  readonly outcome: Promise<SocketOutcome>;
  #log = '';
  #failed: Error | undefined;

  constructor(origin: string, path: string) {
    const url = new URL('/_/pipe', origin);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = new URLSearchParams({ path, n: '1' }).toString();
    this.#ws = new WebSocket(withToken(url));
    this.#ws.binaryType = 'arraybuffer';
    this.#opened = new Promise((resolve, reject) => {
      this.#ws.addEventListener('open', () => resolve(), { once: true });
      this.#ws.addEventListener('close', () => reject(new Error('the relay refused the upload')), { once: true });
    });
    this.#opened.catch(() => {});
    this.outcome = new Promise((resolve) => {
      this.#ws.addEventListener('message', ({ data }) => {
        if (typeof data !== 'string') return;
        const message = JSON.parse(data) as { type: string; text?: string; status?: number; message?: string };
        if (message.type === 'log') this.#log += message.text ?? '';
        else if (message.type === 'done') resolve({ type: 'done', status: message.status ?? 0, log: this.#log });
        else if (message.type === 'error') resolve({ type: 'failed', message: message.message ?? 'refused' });
      });
      this.#ws.addEventListener('close', () => {
        this.#failed ??= new Error('the relay connection closed');
        resolve({ type: 'failed', message: 'the relay connection closed' });
      });
    });
  }

  async write(piece: Uint8Array): Promise<void> {
    await this.#opened;
    if (this.#failed) throw this.#failed;
    this.#ws.send(piece as Uint8Array<ArrayBuffer>);
    while (this.#ws.bufferedAmount > SOCKET_HIGH_WATER) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (this.#failed) throw this.#failed;
    }
  }

  /** Says the body is complete; resolves once the relay has delivered it (or failed). */
  async end(): Promise<SocketOutcome> {
    await this.#opened;
    this.#ws.send(JSON.stringify({ type: 'end' }));
    return this.outcome;
  }

  /** Drops the socket before its end message: the relay cuts the receiver, so nothing partial looks whole. */
  abort(): void {
    this.#ws.close();
  }
}

export class RelayFrames implements FrameChannel {
  readonly transport = 'relay' as const;
  readonly #encryptor: StreamEncryptor;
  readonly #upload: SocketUpload;
  readonly #download = new AbortController();
  readonly #incoming: AsyncGenerator<Frame>;
  #chain: Promise<void> = Promise.resolve();
  #ended = false;

  private constructor(options: RelayOptions, encryptor: StreamEncryptor) {
    const { outward, inward } = relayDirections(options.keys, options.role);
    this.#encryptor = encryptor;
    this.#upload = new SocketUpload(options.origin, outward.path);
    this.#incoming = RelayFrames.#read(new URL(inward.path, options.origin).href, inward.key, this.#download.signal);
  }

  static async open(options: RelayOptions): Promise<RelayFrames> {
    return new RelayFrames(
      options,
      await StreamEncryptor.create(relayDirections(options.keys, options.role).outward.key),
    );
  }

  static async *#read(url: string, key: Uint8Array, signal: AbortSignal): AsyncGenerator<Frame> {
    const response = await fetch(url, { cache: 'no-store', signal, headers: authHeaders() });
    if (response.status !== 200 || !response.body) {
      throw new Error(`the relay answered HTTP ${response.status} for our download`);
    }
    const reader = response.body.getReader();
    const decryptor = new StreamDecryptor(key);
    const decoder = new FrameDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const plain of await decryptor.push(value)) yield* decoder.push(plain, true);
      // A control frame must not wait for more bytes: release what is still being decrypted.
      for (const plain of await decryptor.drain()) yield* decoder.push(plain, true);
    }
    // A cut that looks like a clean end is caught here: no last record → CIPHER_TRUNCATED.
    for (const plain of await decryptor.finish()) yield* decoder.push(plain, true);
    decoder.finish();
  }

  send(frame: Frame): Promise<void> {
    const next = this.#chain.then(async () => {
      const pieces = await this.#encryptor.push(encodeFrame(frame));
      if (endsRecord(frame)) pieces.push(...(await this.#encryptor.flush()));
      for (const piece of pieces) await this.#upload.write(piece);
    });
    this.#chain = next.catch(() => {});
    return next;
  }

  async receive(): Promise<Frame | undefined> {
    const next = await this.#incoming.next();
    return next.done ? undefined : next.value;
  }

  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    try {
      await this.#chain;
      for (const piece of await this.#encryptor.finish()) await this.#upload.write(piece);
      await this.#upload.end();
    } catch {
      // Our last record could not go out; the peer reports the truncation if it still cares.
    }
    await drainPeer(this);
    this.close();
  }

  close(): void {
    this.#upload.abort();
    this.#download.abort();
  }
}
