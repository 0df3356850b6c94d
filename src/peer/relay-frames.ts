// The relay path of a code transfer: two pipes on the server's HTTP relay, one per direction, on the paths derived
// from the session key (docs/transfer-protocol.md §4.3). Each direction is one encrypted stream (stream-cipher.ts)
// that carries transfer frames back to back; the relay only ever sees ciphertext, and any change to it — a flipped
// bit, a cut, a reordering — fails authentication at the other end. Backpressure runs end to end: a slow reader
// pauses its GET, the relay pauses the PUT, and our writes wait for 'drain'.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { SessionKeys } from '../protocol/keys.ts';
import type { FerryRole } from '../protocol/spake2.ts';
import { type StreamAead, StreamDecryptor, StreamEncryptor } from '../protocol/stream-cipher.ts';
import { dataFrameHeader, encodeFrame, endsRecord, type Frame, FrameDecoder } from '../protocol/transfer.ts';
import type { FrameChannel } from '../protocol/transfer-session.ts';

export interface RelayOptions {
  /** The server's base URL (the same server the rendezvous used). */
  server: string;
  keys: SessionKeys;
  role: FerryRole;
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
  open(key, nonce, aad, sealed) {
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
  },
};

/** Node's cipher is synchronous: nothing to gain from several records in flight. */
const CIPHER = { aead: nodeAead, concurrency: 1 };

/** Seconds we wait for the other direction to end cleanly once ours has, before closing anyway. */
const LINGER_MS = 5000;

function pipeUrl(server: string, path: string): URL {
  const url = new URL(server);
  url.pathname = url.pathname.replace(/\/+$/, '') + path;
  url.search = '';
  return url;
}

function request(url: URL, method: 'GET' | 'PUT'): ClientRequest {
  const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
  // No keep-alive agent: two long requests, and nothing left open when the transfer ends.
  return make(url, {
    method,
    agent: false,
    headers: method === 'PUT' ? { 'content-type': 'application/octet-stream' } : {},
  });
}

/** Chunks read ahead of the consumer before the response is paused (socket reads of up to 64 KiB each). */
const READ_AHEAD = 16;

/**
 * The response body as it comes off the socket: every chunk that arrived while the consumer was busy, in one batch.
 * 'data' events hand over the socket's own buffers, where the stream's async iterator joins buffered chunks into new
 * ones (a copy of every byte); pause() while the consumer lags keeps the backpressure. A connection that closes
 * before the end of the body throws, as the iterator would.
 */
async function* socketChunks(res: IncomingMessage): AsyncGenerator<Uint8Array[]> {
  let chunks: Uint8Array[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const onData = (chunk: Uint8Array) => {
    chunks.push(chunk);
    if (chunks.length >= READ_AHEAD) res.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (error: Error) => {
    failure ??= error;
    notify();
  };
  const onClose = () => {
    if (!ended) failure ??= new Error('the relay connection closed before the end of the stream');
    notify();
  };
  res.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  // An error after we stopped reading (the transfer is over or failed already) must not crash the process.
  res.on('error', () => {});
  try {
    for (;;) {
      if (chunks.length > 0) {
        const batch = chunks;
        chunks = [];
        res.resume();
        yield batch;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    res.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
  }
}

export class RelayFrames implements FrameChannel {
  readonly transport = 'relay' as const;
  readonly #encryptor: StreamEncryptor;
  readonly #put: ClientRequest;
  readonly #get: ClientRequest;
  readonly #incoming: AsyncGenerator<Frame>;
  #outError: Error | undefined;
  #chain: Promise<void> = Promise.resolve();
  #ended = false;

  private constructor(options: RelayOptions, encryptor: StreamEncryptor) {
    const { keys, role, server } = options;
    const [out, inward] =
      role === 'sender'
        ? [keys.relay.senderToReceiver, keys.relay.receiverToSender]
        : [keys.relay.receiverToSender, keys.relay.senderToReceiver];
    this.#encryptor = encryptor;
    this.#put = request(pipeUrl(server, out.path), 'PUT');
    this.#put.on('error', (error) => {
      this.#outError ??= error;
    });
    this.#put.on('response', (res) => {
      // The relay's log for senders: read and dropped; only a refusal matters.
      if (res.statusCode !== 200) this.#outError ??= new Error(`the relay refused our upload (HTTP ${res.statusCode})`);
      res.resume();
      res.on('error', () => {});
    });
    this.#put.flushHeaders();
    this.#get = request(pipeUrl(server, inward.path), 'GET');
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      this.#get.on('response', resolve);
      this.#get.on('error', reject);
    });
    response.catch(() => {});
    this.#get.end();
    this.#incoming = RelayFrames.#read(response, inward.key);
  }

  static async open(options: RelayOptions): Promise<RelayFrames> {
    const key =
      options.role === 'sender' ? options.keys.relay.senderToReceiver.key : options.keys.relay.receiverToSender.key;
    return new RelayFrames(options, await StreamEncryptor.create(key, CIPHER));
  }

  static async *#read(response: Promise<IncomingMessage>, key: Uint8Array): AsyncGenerator<Frame> {
    const res = await response;
    if (res.statusCode !== 200) {
      res.resume();
      throw new Error(`the relay answered HTTP ${res.statusCode} for our download`);
    }
    const decryptor = new StreamDecryptor(key, CIPHER);
    const decoder = new FrameDecoder();
    for await (const chunks of socketChunks(res)) {
      for (const chunk of chunks) {
        // Each chunk is a fresh buffer of the socket's: the decryptor keeps views of it rather than copies.
        for (const plain of await decryptor.push(chunk, true)) yield* decoder.push(plain, true);
      }
      // Caught up with the network: release what is still being decrypted (a control frame must not wait for more).
      for (const plain of await decryptor.drain()) yield* decoder.push(plain, true);
    }
    // A cut that looks like a clean end is caught here: no last record → CIPHER_TRUNCATED.
    for (const plain of await decryptor.finish()) yield* decoder.push(plain, true);
    decoder.finish();
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
    const next = await this.#incoming.next();
    return next.done ? undefined : next.value;
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
    // Read the peer's direction to its end, so neither side cuts the other's last bytes.
    const linger = new Promise<void>((resolve) => setTimeout(resolve, LINGER_MS).unref());
    const drain = (async () => {
      try {
        while (!(await this.#incoming.next()).done) {
          // Nothing is due after the last frame; whatever comes is dropped.
        }
      } catch {
        // The peer closed first: fine at this point.
      }
    })();
    await Promise.race([drain, linger]);
    this.close();
  }

  close(): void {
    this.#put.destroy();
    this.#get.destroy();
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
