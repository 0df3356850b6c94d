// The relay path of a code transfer: two pipes on the server's HTTP relay, one per direction, on the paths derived
// from the session key (docs/transfer-protocol.md §4.3). Each direction is one encrypted stream (stream-cipher.ts)
// that carries transfer frames back to back; the relay only ever sees ciphertext, and any change to it — a flipped
// bit, a cut, a reordering — fails authentication at the other end. Backpressure runs end to end: a slow reader
// pauses its GET, the relay pauses the PUT, and our writes wait for 'drain'.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { type ClientRequest, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { relayDirections, type SessionKeys } from '../protocol/keys.ts';
import type { FerryRole } from '../protocol/spake2.ts';
import { type StreamAead, StreamDecryptor, StreamEncryptor } from '../protocol/stream-cipher.ts';
import { dataFrameHeader, encodeFrame, endsRecord, type Frame, FrameDecoder } from '../protocol/transfer.ts';
import { drainPeer, type FrameChannel } from '../protocol/transfer-session.ts';
import { accessRefused, authorization } from './access.ts';
import { type Download, downloadPipe } from './relay-pipe.ts';

export interface RelayOptions {
  /** The server's base URL (the same server the rendezvous used). */
  server: string;
  keys: SessionKeys;
  role: FerryRole;
  /** The server's access token, sent as `Authorization: Bearer` on both pipes. */
  token?: string;
}

/** AES-256-GCM decryption of one sealed record (ciphertext || tag); undefined when it does not authenticate. */
function openRecord(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < 16) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    const body = decipher.update(sealed.subarray(0, sealed.length - 16));
    decipher.final();
    return body;
  } catch {
    return undefined;
  }
}

/**
 * AES-256-GCM over node:crypto (OpenSSL, AES-NI): in-line and several times faster than WebCrypto's thread-pool round
 * trip per 64 KiB record, which made the relay path CPU-bound. The bytes are the same (stream-cipher.ts).
 */
export const nodeAead: StreamAead = {
  seal(key, nonce, aad, plaintext) {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    const tail = cipher.final();
    return Buffer.concat([body, tail, cipher.getAuthTag()]);
  },
  sealParts(key, nonce, aad, parts) {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    const out: Uint8Array[] = [];
    for (const part of parts) out.push(cipher.update(part));
    cipher.final();
    out.push(cipher.getAuthTag());
    return out;
  },
  openSync: openRecord,
  open: openRecord,
};

/** Node's cipher is synchronous: nothing to gain from several records in flight. */
const CIPHER = { aead: nodeAead, concurrency: 1 };

function pipeUrl(server: string, path: string): URL {
  const url = new URL(server);
  url.pathname = url.pathname.replace(/\/+$/, '') + path;
  url.search = '';
  return url;
}

/** The PUT of our direction (the download has its own socket, relay-pipe.ts). */
function upload(url: URL, token: string | undefined): ClientRequest {
  const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
  // No keep-alive agent: one long request, and nothing left open when the transfer ends.
  const headers = { 'content-type': 'application/octet-stream', ...authorization(token) };
  return make(url, { method: 'PUT', agent: false, headers });
}

/** Frames decoded ahead of the consumer before the download is paused (about 1 MiB of DATA). */
const READ_AHEAD_FRAMES = 16;

/**
 * The peer's direction: its pipe's body is decrypted and cut into frames as each socket read arrives (the read buffer
 * is reused, so nothing may wait), and the frames queue here for receive(). The download pauses while the consumer
 * is READ_AHEAD_FRAMES behind, which holds the sender back through the relay.
 */
class IncomingFrames {
  readonly #download: Download;
  readonly #frames: Frame[] = [];
  #paused = false;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(url: URL, token: string | undefined, key: Uint8Array) {
    const decryptor = new StreamDecryptor(key, CIPHER);
    const decoder = new FrameDecoder();
    this.#download = downloadPipe(url, token, {
      body: (piece) => {
        for (const plain of decryptor.pushSync(piece)) this.#frames.push(...decoder.push(plain, true));
        if (this.#frames.length >= READ_AHEAD_FRAMES && !this.#paused) {
          this.#paused = true;
          this.#download.pause();
        }
        this.#notify();
      },
      end: () => {
        // A cut that looks like a clean end is caught here: no last record → CIPHER_TRUNCATED.
        decryptor
          .finish()
          .then(() => {
            // A stream that ends inside a frame: FRAME_TRUNCATED.
            decoder.finish();
            this.#ended = true;
            this.#notify();
          })
          .catch((error: Error) => this.#fail(error));
      },
      error: (error) => this.#fail(error),
    });
  }

  async next(): Promise<Frame | undefined> {
    for (;;) {
      const frame = this.#frames.shift();
      if (frame !== undefined) {
        if (this.#paused && this.#frames.length < READ_AHEAD_FRAMES / 2) {
          this.#paused = false;
          this.#download.resume();
        }
        return frame;
      }
      if (this.#failure) throw this.#failure;
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  close(): void {
    this.#download.destroy();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#notify();
  }

  #notify(): void {
    this.#wake?.();
    this.#wake = undefined;
  }
}

export class RelayFrames implements FrameChannel {
  readonly transport = 'relay' as const;
  readonly #encryptor: StreamEncryptor;
  readonly #put: ClientRequest;
  readonly #incoming: IncomingFrames;
  #outError: Error | undefined;
  #chain: Promise<void> = Promise.resolve();
  #ended = false;

  private constructor(options: RelayOptions, encryptor: StreamEncryptor) {
    const { outward, inward } = relayDirections(options.keys, options.role);
    this.#encryptor = encryptor;
    this.#put = upload(pipeUrl(options.server, outward.path), options.token);
    this.#put.on('error', (error) => {
      this.#outError ??= error;
    });
    this.#put.on('response', (res) => {
      // The relay's log for senders: read and dropped; only a refusal matters. A token refusal is why the
      // connection then breaks, whatever error a write met first.
      if (res.statusCode === 401) this.#outError = accessRefused('relay uploads', options.token !== undefined);
      else if (res.statusCode !== 200) {
        this.#outError ??= new Error(`the relay refused our upload (HTTP ${res.statusCode})`);
      }
      res.resume();
      res.on('error', () => {});
    });
    this.#put.flushHeaders();
    this.#incoming = new IncomingFrames(pipeUrl(options.server, inward.path), options.token, inward.key);
  }

  static async open(options: RelayOptions): Promise<RelayFrames> {
    const { outward } = relayDirections(options.keys, options.role);
    return new RelayFrames(options, await StreamEncryptor.create(outward.key, CIPHER));
  }

  send(frame: Frame): Promise<void> {
    const next = this.#chain.then(async () => {
      let pieces: Uint8Array[];
      if (frame.type === 'data') {
        // Header and data go to the cipher as they are: it seals them as one record without joining them.
        pieces = await this.#encryptor.push(dataFrameHeader(frame.index, frame.data.length));
        pieces.push(...(await this.#encryptor.push(frame.data)));
      } else pieces = await this.#encryptor.push(encodeFrame(frame));
      if (endsRecord(frame)) pieces.push(...(await this.#encryptor.flush()));
      await this.#write(pieces);
    });
    this.#chain = next.catch(() => {});
    return next;
  }

  async receive(): Promise<Frame | undefined> {
    return this.#incoming.next();
  }

  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#chain;
    try {
      await this.#write(await this.#encryptor.finish());
      await new Promise<void>((resolve) => this.#put.end(resolve));
    } catch {
      // Our last record could not go out; the peer reports the truncation if it still cares.
    }
    await drainPeer(this);
    this.close();
  }

  close(): void {
    this.#put.destroy();
    this.#incoming.close();
  }

  /** Writes the pieces as one batch (one writev, not a system call and a chunk header each), then waits for room. */
  async #write(pieces: Uint8Array[]): Promise<void> {
    if (this.#outError) throw this.#outError;
    if (pieces.length === 0) return;
    this.#put.cork();
    let room = true;
    for (const piece of pieces) room = this.#put.write(piece);
    this.#put.uncork();
    if (room) return;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        this.#put.off('drain', onDrain).off('error', done).off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.#outError ?? new Error('the relay connection closed'));
      this.#put.on('drain', onDrain).on('error', done).on('close', onClose);
    });
  }
}
