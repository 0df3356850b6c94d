// Relay encryption: AES-256-GCM (WebCrypto) over a byte stream, in records of at most 64 KiB of plaintext, in the
// "STREAM" style of online authenticated encryption (Hoang, Reyhanitabar, Rogaway, Vizár 2015): each record's nonce
// is its counter plus a last-record flag, so every way of cutting, reordering, duplicating, extending or altering the
// ciphertext fails authentication. The decryptor accepts the ciphertext in arbitrary pieces (the relay hands us
// whatever TCP delivered) and keeps memory bounded (one record plus the records in flight).
//
// Format (all integers big-endian; details and rationale in docs/transfer-protocol.md):
//   stream header, 22 bytes:  "FRYS" | version=1 (u8) | log2(chunk size) (u8) | salt (16 random bytes)
//   then records:             u32 (bit 31 = last record, bits 0–30 = ciphertext length incl. the 16-byte tag)
//                             | AES-256-GCM ciphertext || tag
//   record key  = HKDF-SHA256(ikm = stream key, salt = header salt, info = "ferry/1 stream aes-256-gcm"), 32 bytes
//   record nonce = counter as 11 bytes || 0x01 if last record else 0x00         (12 bytes, counter from 0)
//   record AAD  = the 22-byte stream header (binds version, chunk size and salt into every record)
// Every record but the last holds 1..chunk-size bytes (the encryptor writes full ones unless flush() is used); the
// last holds 0..chunk-size. The random salt gives each stream its own record key, so even a stream key reused by
// mistake (a retried transfer in the same session) never repeats a (key, nonce) pair.

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, randomBytes, utf8 } from './bytes.ts';
import { ProtocolError } from './errors.ts';

export const STREAM_MAGIC = Uint8Array.of(0x46, 0x52, 0x59, 0x53); // "FRYS"
export const STREAM_VERSION = 1;
export const STREAM_HEADER_BYTES = 22;
export const STREAM_RECORD_HEADER_BYTES = 4;
export const STREAM_TAG_BYTES = 16;
/** Default plaintext per record: 64 KiB, the transfer protocol's chunk size too. */
export const STREAM_CHUNK_SIZE = 65536;
const MIN_CHUNK_LOG2 = 10; // 1 KiB
const MAX_CHUNK_LOG2 = 20; // 1 MiB: the most a decryptor will ever buffer for one record
/** Records per stream: 2^32 × 64 KiB = 256 TiB, far below AES-GCM's per-key limits. */
export const STREAM_MAX_RECORDS = 2 ** 32;
/** How many records are encrypted/decrypted concurrently by default (WebCrypto runs them off the main thread in Node). */
export const STREAM_CONCURRENCY = 4;
// The WebCrypto key type, spelled without the DOM lib (tsconfig has only ES2023 + node types).
type CryptoKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;

const KEY_INFO = utf8.encode('ferry/1 stream aes-256-gcm');
const LAST_FLAG = 0x80000000;
/** How far around the expected counter a failing record is tried, to name the attack (reorder vs duplicate). */
const DIAGNOSE_WINDOW = 16;

/**
 * AES-256-GCM with 96-bit nonces and 128-bit tags, on raw 32-byte record keys. The default runs on WebCrypto (any
 * platform); Node passes one over node:crypto, which seals a 64 KiB record in-line several times faster than a
 * WebCrypto round trip through the thread pool. Same bytes on the wire either way.
 */
export interface StreamAead {
  /** ciphertext || tag. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /**
   * Optional: seals a record given in parts, synchronously, consuming the parts before it returns; the result is
   * the ciphertext in pieces, then the tag. When present the encryptor uses it instead of seal() and saves the copies
   * that would join the parts into one plaintext and the record into one buffer (Node's cipher streams the parts).
   */
  sealParts?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, parts: Uint8Array[]): Uint8Array[];
  /**
   * Optional: open() without a promise, done with `sealed` once it returns. When present the decryptor can open each
   * record where it lies (StreamDecryptor.pushSync) instead of copying it to keep it alive (Node's decipher).
   */
  openSync?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /** The plaintext, or undefined when authentication fails. */
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
  ): Promise<Uint8Array | undefined> | Uint8Array | undefined;
}

export interface StreamCipherOptions {
  /** Plaintext bytes per record, a power of two from 1 KiB to 1 MiB (encryptor only; the decryptor reads it). */
  chunkSize?: number;
  /** Records processed concurrently (default 4). */
  concurrency?: number;
  /** The AES-256-GCM implementation (default: WebCrypto). */
  aead?: StreamAead;
}

// WebCrypto's DOM typings take only ArrayBuffer-backed views; every buffer here is one (none is shared).
type Buffered = Uint8Array<ArrayBuffer>;

/** WebCrypto's AES-GCM, with imported keys cached per raw key. */
function webCryptoAead(): StreamAead {
  const keys = new WeakMap<Uint8Array, Promise<CryptoKey>>();
  const keyOf = (raw: Uint8Array) => {
    let key = keys.get(raw);
    if (!key) {
      key = globalThis.crypto.subtle.importKey('raw', raw as Buffered, { name: 'AES-GCM' }, false, [
        'encrypt',
        'decrypt',
      ]);
      keys.set(raw, key);
    }
    return key;
  };
  return {
    async seal(raw, iv, additionalData, plaintext) {
      const sealed = await globalThis.crypto.subtle.encrypt(
        { name: 'AES-GCM', iv: iv as Buffered, additionalData: additionalData as Buffered, tagLength: 128 },
        await keyOf(raw),
        plaintext as Buffered,
      );
      return new Uint8Array(sealed);
    },
    async open(raw, iv, additionalData, sealed) {
      try {
        const plain = await globalThis.crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: iv as Buffered, additionalData: additionalData as Buffered, tagLength: 128 },
          await keyOf(raw),
          sealed as Buffered,
        );
        return new Uint8Array(plain);
      } catch {
        return undefined;
      }
    },
  };
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new ProtocolError('CIPHER_BAD_KEY', 'the stream key must be 32 bytes');
  }
}

function recordKey(streamKey: Uint8Array, salt: Uint8Array): Uint8Array {
  return hkdf(sha256, streamKey, salt, KEY_INFO, 32);
}

function nonce(counter: number, last: boolean): Uint8Array {
  const iv = new Uint8Array(12);
  const view = new DataView(iv.buffer);
  // Counter < 2^32 (STREAM_MAX_RECORDS), so bytes 0–6 stay zero; bytes 7–10 hold it, byte 11 is the flag.
  view.setUint32(7, counter);
  iv[11] = last ? 1 : 0;
  return iv;
}

/** A FIFO of concurrent jobs whose results come out in submission order; failures surface in order too. */
class OrderedJobs {
  #queue: { promise: Promise<void>; settled: boolean; value?: Uint8Array | Uint8Array[]; error?: unknown }[] = [];

  get size(): number {
    return this.#queue.length;
  }

  /** A job's result is one piece of output, or several in order. */
  add(job: Promise<Uint8Array | Uint8Array[]>): void {
    const entry: { promise: Promise<void>; settled: boolean; value?: Uint8Array | Uint8Array[]; error?: unknown } = {
      settled: false,
      promise: Promise.resolve(),
    };
    // Errors are captured here and rethrown in order, so none goes unhandled while it waits its turn.
    entry.promise = job.then(
      (value) => {
        entry.value = value;
        entry.settled = true;
      },
      (error: unknown) => {
        entry.error = error ?? new Error('job failed');
        entry.settled = true;
      },
    );
    this.#queue.push(entry);
  }

  /** Takes finished jobs from the head; waits while more than `keep` are queued. */
  async take(keep: number, out: Uint8Array[]): Promise<void> {
    for (;;) {
      const head = this.#queue[0];
      if (head === undefined) return;
      if (!head.settled) {
        if (this.#queue.length <= keep) return;
        await head.promise;
      }
      this.#queue.shift();
      if (head.error !== undefined) throw head.error;
      const value = head.value;
      if (Array.isArray(value)) out.push(...value);
      else if (value !== undefined && value.length > 0) out.push(value);
    }
  }

  /** Waits for everything (used when failing, so no job outlives the stream). */
  async settle(): Promise<void> {
    await Promise.all(this.#queue.map((entry) => entry.promise));
    this.#queue = [];
  }
}

function checkOptions(options: StreamCipherOptions): { chunkSize: number; concurrency: number } {
  const chunkSize = options.chunkSize ?? STREAM_CHUNK_SIZE;
  const log2 = Math.log2(chunkSize);
  if (!Number.isInteger(log2) || log2 < MIN_CHUNK_LOG2 || log2 > MAX_CHUNK_LOG2) {
    throw new RangeError('chunkSize must be a power of two from 1 KiB to 1 MiB');
  }
  const concurrency = options.concurrency ?? STREAM_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new RangeError('concurrency must be an integer from 1 to 64');
  }
  return { chunkSize, concurrency };
}

/**
 * Callers may reuse their buffer once push() returns, so the unconsumed tail of this call's input (only the last
 * queued piece can be from it) is copied. At most one record's worth, once.
 */
function keepCopyOfTail(queue: Uint8Array[], input: Uint8Array): void {
  const last = queue.length - 1;
  const piece = queue[last];
  if (piece !== undefined && piece.buffer === input.buffer) queue[last] = piece.slice();
}

/**
 * Encrypts one stream. Call push() with plaintext as it comes, then finish() once; each returns the ciphertext pieces
 * ready to write (the stream header comes first). Outputs lag inputs by at most `concurrency` records.
 */
export class StreamEncryptor {
  readonly chunkSize: number;
  readonly #concurrency: number;
  readonly #header: Uint8Array;
  readonly #key: Uint8Array;
  readonly #aead: StreamAead;
  #headerSent = false;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #counter = 0;
  #jobs = new OrderedJobs();
  #state: 'open' | 'finished' | 'failed' = 'open';
  #busy = false;

  private constructor(key: Uint8Array, header: Uint8Array, chunkSize: number, concurrency: number, aead: StreamAead) {
    this.#key = key;
    this.#aead = aead;
    this.#header = header;
    this.chunkSize = chunkSize;
    this.#concurrency = concurrency;
  }

  static async create(streamKey: Uint8Array, options: StreamCipherOptions = {}): Promise<StreamEncryptor> {
    checkKey(streamKey);
    const { chunkSize, concurrency } = checkOptions(options);
    const salt = randomBytes(16);
    const header = concatBytes(STREAM_MAGIC, Uint8Array.of(STREAM_VERSION, Math.log2(chunkSize)), salt);
    return new StreamEncryptor(
      recordKey(streamKey, salt),
      header,
      chunkSize,
      concurrency,
      options.aead ?? webCryptoAead(),
    );
  }

  #seal(plaintext: Uint8Array, last: boolean): void {
    if (this.#counter >= STREAM_MAX_RECORDS) {
      throw new ProtocolError('CIPHER_LIMIT', 'stream too long for one key (2^32 records)');
    }
    const counter = this.#counter++;
    const job = Promise.resolve(this.#aead.seal(this.#key, nonce(counter, last), this.#header, plaintext)).then(
      (sealed) => {
        const record = new Uint8Array(STREAM_RECORD_HEADER_BYTES + sealed.byteLength);
        new DataView(record.buffer).setUint32(0, (sealed.byteLength | (last ? LAST_FLAG : 0)) >>> 0);
        record.set(sealed, STREAM_RECORD_HEADER_BYTES);
        return record;
      },
    );
    this.#jobs.add(job);
  }

  /** Seals the next `length` pending bytes as one record, straight from the pending pieces when the AEAD allows. */
  #sealPending(length: number, last: boolean): void {
    const sealParts = this.#aead.sealParts;
    if (sealParts === undefined) return this.#seal(this.#takePending(length), last);
    if (this.#counter >= STREAM_MAX_RECORDS) {
      throw new ProtocolError('CIPHER_LIMIT', 'stream too long for one key (2^32 records)');
    }
    const counter = this.#counter++;
    const sealed = sealParts.call(
      this.#aead,
      this.#key,
      nonce(counter, last),
      this.#header,
      this.#pendingParts(length),
    );
    const word = new Uint8Array(STREAM_RECORD_HEADER_BYTES);
    const bytes = sealed.reduce((sum, piece) => sum + piece.length, 0);
    new DataView(word.buffer).setUint32(0, (bytes | (last ? LAST_FLAG : 0)) >>> 0);
    this.#jobs.add(Promise.resolve([word, ...sealed]));
  }

  /** Removes `length` bytes from the front of the pending plaintext, as views of the pieces that hold them. */
  #pendingParts(length: number): Uint8Array[] {
    const parts: Uint8Array[] = [];
    let left = length;
    while (left > 0) {
      const piece = this.#pending[0] as Uint8Array;
      if (piece.length <= left) {
        parts.push(piece);
        this.#pending.shift();
        left -= piece.length;
      } else {
        parts.push(piece.subarray(0, left));
        this.#pending[0] = piece.subarray(left);
        left = 0;
      }
    }
    this.#pendingBytes -= length;
    return parts;
  }

  /** Removes `length` bytes from the front of the pending plaintext. */
  #takePending(length: number): Uint8Array {
    const first = this.#pending[0];
    if (first !== undefined && first.length >= length) {
      // Common case: the input already holds a whole record; copy it (the caller may reuse its buffer).
      const out = first.slice(0, length);
      if (first.length === length) this.#pending.shift();
      else this.#pending[0] = first.subarray(length);
      this.#pendingBytes -= length;
      return out;
    }
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const piece = this.#pending[0] as Uint8Array;
      const n = Math.min(piece.length, length - at);
      out.set(piece.subarray(0, n), at);
      at += n;
      if (n === piece.length) this.#pending.shift();
      else this.#pending[0] = piece.subarray(n);
    }
    this.#pendingBytes -= length;
    return out;
  }

  #begin(out: Uint8Array[]): void {
    if (this.#state !== 'open') {
      throw new ProtocolError('CIPHER_STATE', `the encryptor is ${this.#state}`);
    }
    if (!this.#headerSent) {
      out.push(this.#header.slice());
      this.#headerSent = true;
    }
  }

  async #run(out: Uint8Array[], work: () => Promise<void>): Promise<Uint8Array[]> {
    if (this.#busy) throw new ProtocolError('CIPHER_STATE', 'encryptor calls must not overlap: await each one');
    this.#busy = true;
    try {
      await work();
      return out;
    } catch (error) {
      this.#state = 'failed';
      await this.#jobs.settle();
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  async push(plaintext: Uint8Array): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    this.#begin(out);
    return this.#run(out, async () => {
      if (plaintext.length > 0) {
        this.#pending.push(plaintext);
        this.#pendingBytes += plaintext.length;
      }
      while (this.#pendingBytes >= this.chunkSize) {
        this.#sealPending(this.chunkSize, false);
        await this.#jobs.take(this.#concurrency, out);
      }
      keepCopyOfTail(this.#pending, plaintext);
      await this.#jobs.take(this.#concurrency, out);
    });
  }

  /** Seals what is buffered as a short record now (for interactive streams); costs 20 bytes of overhead. */
  async flush(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    this.#begin(out);
    return this.#run(out, async () => {
      if (this.#pendingBytes > 0) this.#sealPending(this.#pendingBytes, false);
      await this.#jobs.take(0, out);
    });
  }

  /** Seals the rest as the last record (possibly empty) and returns everything still owed. */
  async finish(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    this.#begin(out);
    return this.#run(out, async () => {
      this.#sealPending(this.#pendingBytes, true);
      await this.#jobs.take(0, out);
      this.#state = 'finished';
    });
  }
}

function cipherError(
  code: 'CIPHER_TAMPERED' | 'CIPHER_TRUNCATED' | 'CIPHER_REORDERED' | 'CIPHER_DUPLICATED' | 'CIPHER_TRAILING_DATA',
  detail: string,
): ProtocolError {
  const what = {
    CIPHER_TAMPERED: 'the encrypted stream was altered',
    CIPHER_TRUNCATED: 'the encrypted stream was cut short',
    CIPHER_REORDERED: 'the encrypted stream arrived out of order',
    CIPHER_DUPLICATED: 'the encrypted stream repeats data',
    CIPHER_TRAILING_DATA: 'the encrypted stream has data after its end',
  }[code];
  return new ProtocolError(code, `${what} (${detail}); nothing after the last verified byte can be trusted`);
}

/** How far along its input a record is handed over: a view of the caller's input, or of the decryptor's own buffer. */
type RecordHandler = (sealed: Uint8Array, counter: number, last: boolean, inInput: boolean) => void;

/**
 * Decrypts one stream fed in arbitrary pieces. push() returns verified plaintext; finish() must be called at the end
 * of input and throws CIPHER_TRUNCATED if the last record never came. Any failure is final: the decryptor refuses
 * further input. Errors: CIPHER_BAD_HEADER, CIPHER_TAMPERED, CIPHER_TRUNCATED, CIPHER_REORDERED, CIPHER_DUPLICATED,
 * CIPHER_TRAILING_DATA.
 *
 * A record that arrives whole inside one input is read in place; one cut across inputs is gathered in a single buffer
 * of the decryptor's, reused for every record, so nothing is allocated per record but the plaintext.
 */
export class StreamDecryptor {
  readonly #streamKey: Uint8Array;
  readonly #concurrency: number;
  readonly #aead: StreamAead;
  #header: Uint8Array | undefined;
  #key: Uint8Array | undefined;
  #chunkSize = 0;
  /** The stream header, then (once it is read) the record that straddles inputs, as far as it has come. */
  #partial = new Uint8Array(STREAM_HEADER_BYTES);
  #filled = 0;
  /** The partial record's length word, once its 4 bytes are in. */
  #word = 0;
  #counter = 0;
  #sawLast = false;
  #jobs = new OrderedJobs();
  #state: 'open' | 'finished' | 'failed' = 'open';
  #busy = false;

  constructor(streamKey: Uint8Array, options: Pick<StreamCipherOptions, 'concurrency' | 'aead'> = {}) {
    checkKey(streamKey);
    this.#streamKey = streamKey.slice();
    this.#aead = options.aead ?? webCryptoAead();
    this.#concurrency = checkOptions({ concurrency: options.concurrency }).concurrency;
  }

  /** The chunk size announced by the stream header (0 until the header has arrived). */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  #readHeader(header: Uint8Array): void {
    const log2 = header[5] as number;
    const magicOk = STREAM_MAGIC.every((byte, i) => header[i] === byte);
    if (!magicOk || header[4] !== STREAM_VERSION || log2 < MIN_CHUNK_LOG2 || log2 > MAX_CHUNK_LOG2) {
      throw new ProtocolError(
        'CIPHER_BAD_HEADER',
        magicOk && header[4] !== STREAM_VERSION
          ? `unsupported encrypted-stream version ${header[4]} (this side speaks ${STREAM_VERSION})`
          : 'this is not a Ferry encrypted stream (bad header): wrong path, or not encrypted by the peer',
      );
    }
    this.#header = header.slice();
    this.#chunkSize = 2 ** log2;
    this.#key = recordKey(this.#streamKey, header.subarray(6, 22));
    this.#partial = new Uint8Array(STREAM_RECORD_HEADER_BYTES + this.#chunkSize + STREAM_TAG_BYTES);
  }

  /** The sealed length a record's word announces; checked before its body is gathered, so a forged one costs nothing. */
  #sealedLength(word: number): number {
    const length = word & ~LAST_FLAG;
    const min = word & LAST_FLAG ? STREAM_TAG_BYTES : STREAM_TAG_BYTES + 1;
    if (length < min || length > this.#chunkSize + STREAM_TAG_BYTES) {
      throw cipherError('CIPHER_TAMPERED', `record ${this.#counter} has an impossible length ${length}`);
    }
    return length;
  }

  #record(onRecord: RecordHandler, sealed: Uint8Array, word: number, inInput: boolean): void {
    if (this.#counter >= STREAM_MAX_RECORDS) throw new ProtocolError('CIPHER_LIMIT', 'stream too long');
    const last = (word & LAST_FLAG) !== 0;
    if (last) this.#sawLast = true;
    onRecord(sealed, this.#counter++, last, inInput);
  }

  /** Copies from `input` at `at` into the partial buffer until it holds `size` bytes or the input runs out. */
  #gather(input: Uint8Array, at: number, size: number): number {
    const n = Math.min(size - this.#filled, input.length - at);
    this.#partial.set(input.subarray(at, at + n), this.#filled);
    this.#filled += n;
    return at + n;
  }

  /** Cuts `input` into the header and whole records, handing each record over as soon as it is complete. */
  #scan(input: Uint8Array, onRecord: RecordHandler): void {
    const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
    let at = 0;
    while (at < input.length) {
      if (this.#sawLast) throw cipherError('CIPHER_TRAILING_DATA', `${input.length - at} bytes after the last record`);
      if (this.#header === undefined) {
        at = this.#gather(input, at, STREAM_HEADER_BYTES);
        if (this.#filled < STREAM_HEADER_BYTES) return;
        this.#filled = 0;
        this.#readHeader(this.#partial);
        continue;
      }
      if (this.#filled === 0 && input.length - at >= STREAM_RECORD_HEADER_BYTES) {
        const word = view.getUint32(at);
        const end = at + STREAM_RECORD_HEADER_BYTES + this.#sealedLength(word);
        if (end <= input.length) {
          this.#record(onRecord, input.subarray(at + STREAM_RECORD_HEADER_BYTES, end), word, true);
          at = end;
          continue;
        }
      }
      if (this.#filled < STREAM_RECORD_HEADER_BYTES) {
        at = this.#gather(input, at, STREAM_RECORD_HEADER_BYTES);
        if (this.#filled < STREAM_RECORD_HEADER_BYTES) return;
        this.#word = new DataView(this.#partial.buffer).getUint32(0);
      }
      const end = STREAM_RECORD_HEADER_BYTES + this.#sealedLength(this.#word);
      at = this.#gather(input, at, end);
      if (this.#filled < end) return;
      this.#filled = 0;
      this.#record(onRecord, this.#partial.subarray(STREAM_RECORD_HEADER_BYTES, end), this.#word, false);
    }
  }

  /**
   * What a record that failed under its expected counter could be instead, most telling first: the same counter with
   * the other flag, then nearby counters; each with the error that names it. The last resort is plain tampering.
   */
  *#suspects(counter: number, last: boolean): Generator<{ counter: number; last: boolean; error: ProtocolError }> {
    const at = `record ${counter}`;
    yield {
      counter,
      last: !last,
      error: last
        ? cipherError('CIPHER_TRUNCATED', `${at} was falsely marked as the last one`)
        : cipherError('CIPHER_TRAILING_DATA', `${at} is the real last record but was marked as not last`),
    };
    for (let other = Math.max(0, counter - DIAGNOSE_WINDOW); other <= counter + DIAGNOSE_WINDOW; other++) {
      if (other === counter) continue;
      const error =
        other < counter
          ? cipherError('CIPHER_DUPLICATED', `${at} is a copy of record ${other}`)
          : cipherError('CIPHER_REORDERED', `record ${other} arrived in place of ${at}`);
      for (const flag of [false, true]) yield { counter: other, last: flag, error };
    }
  }

  async #open(key: Uint8Array, record: Uint8Array, counter: number, last: boolean): Promise<Uint8Array | undefined> {
    try {
      return await this.#aead.open(key, nonce(counter, last), this.#header as Uint8Array, record);
    } catch {
      return undefined;
    }
  }

  #schedule(record: Uint8Array, counter: number, last: boolean): void {
    const key = this.#key as Uint8Array;
    this.#jobs.add(
      this.#open(key, record, counter, last).then(async (plain) => {
        if (plain !== undefined) return plain;
        for (const suspect of this.#suspects(counter, last)) {
          if ((await this.#open(key, record, suspect.counter, suspect.last)) !== undefined) throw suspect.error;
        }
        throw cipherError('CIPHER_TAMPERED', `record ${counter} failed authentication`);
      }),
    );
  }

  async #run(out: Uint8Array[], work: () => Promise<void>): Promise<Uint8Array[]> {
    if (this.#state !== 'open') throw new ProtocolError('CIPHER_STATE', `the decryptor is ${this.#state}`);
    if (this.#busy) throw new ProtocolError('CIPHER_STATE', 'decryptor calls must not overlap: await each one');
    this.#busy = true;
    try {
      await work();
      return out;
    } catch (error) {
      this.#fail();
      await this.#jobs.settle();
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  #fail(): void {
    this.#state = 'failed';
    this.#filled = 0;
  }

  /**
   * `owned`: the caller hands the buffer over and never touches it again (a network read), so records are kept as
   * views of it instead of copies while they are decrypted.
   */
  async push(ciphertext: Uint8Array, owned = false): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    return this.#run(out, async () => {
      this.#scan(ciphertext, (sealed, counter, last, inInput) =>
        this.#schedule(owned && inInput ? sealed : sealed.slice(), counter, last),
      );
      await this.#jobs.take(this.#concurrency, out);
    });
  }

  /**
   * push() for an AEAD that opens synchronously (StreamAead.openSync): the plaintext of every record completed by
   * this input, in order, before it returns. Records are opened where they lie, so the caller may reuse its buffer
   * at once (a socket's read buffer) and nothing is copied but the pieces of a record cut across inputs.
   */
  pushSync(ciphertext: Uint8Array): Uint8Array[] {
    const openSync = this.#aead.openSync;
    if (openSync === undefined) throw new ProtocolError('CIPHER_STATE', 'this AEAD cannot open records synchronously');
    if (this.#state !== 'open') throw new ProtocolError('CIPHER_STATE', `the decryptor is ${this.#state}`);
    if (this.#busy) throw new ProtocolError('CIPHER_STATE', 'decryptor calls must not overlap: await each one');
    const out: Uint8Array[] = [];
    const open = (sealed: Uint8Array, counter: number, last: boolean) =>
      openSync.call(this.#aead, this.#key as Uint8Array, nonce(counter, last), this.#header as Uint8Array, sealed);
    try {
      this.#scan(ciphertext, (sealed, counter, last) => {
        const plain = open(sealed, counter, last);
        if (plain === undefined) {
          for (const suspect of this.#suspects(counter, last)) {
            if (open(sealed, suspect.counter, suspect.last) !== undefined) throw suspect.error;
          }
          throw cipherError('CIPHER_TAMPERED', `record ${counter} failed authentication`);
        }
        if (plain.length > 0) out.push(plain);
      });
      return out;
    } catch (error) {
      this.#fail();
      throw error;
    }
  }

  /**
   * The plaintext of every whole record received so far, waiting for their decryption. push() keeps up to
   * `concurrency` records in flight for speed; an interactive reader calls this when no more input is at hand, so a
   * short message is not held back until more records arrive.
   */
  async drain(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    return this.#run(out, async () => {
      await this.#jobs.take(0, out);
    });
  }

  /** End of input: returns the remaining plaintext, or throws if the stream did not end with its last record. */
  async finish(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    return this.#run(out, async () => {
      await this.#jobs.take(0, out);
      if (this.#header === undefined) {
        throw this.#filled === 0
          ? cipherError('CIPHER_TRUNCATED', 'the stream is empty')
          : cipherError('CIPHER_TRUNCATED', `the stream ended inside its header (${this.#filled} bytes)`);
      }
      if (this.#filled > 0) {
        throw cipherError('CIPHER_TRUNCATED', `the stream ended inside record ${this.#counter}`);
      }
      if (!this.#sawLast) {
        throw cipherError(
          'CIPHER_TRUNCATED',
          `the stream ended after record ${this.#counter - 1} without its last record`,
        );
      }
      this.#state = 'finished';
    });
  }
}

/** A Web TransformStream that encrypts (for piping a ReadableStream of plaintext to the relay). */
export function createEncryptStream(
  streamKey: Uint8Array,
  options: StreamCipherOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  let encryptor: StreamEncryptor;
  const emit = (controller: TransformStreamDefaultController<Uint8Array>, pieces: Uint8Array[]) => {
    for (const piece of pieces) controller.enqueue(piece);
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    async start() {
      encryptor = await StreamEncryptor.create(streamKey, options);
    },
    async transform(chunk, controller) {
      emit(controller, await encryptor.push(chunk));
    },
    async flush(controller) {
      emit(controller, await encryptor.finish());
    },
  });
}

/** A Web TransformStream that decrypts and verifies; it errors (with the ProtocolError) on any attack or truncation. */
export function createDecryptStream(
  streamKey: Uint8Array,
  options: Pick<StreamCipherOptions, 'concurrency' | 'aead'> = {},
): TransformStream<Uint8Array, Uint8Array> {
  const decryptor = new StreamDecryptor(streamKey, options);
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      for (const piece of await decryptor.push(chunk)) controller.enqueue(piece);
    },
    async flush(controller) {
      for (const piece of await decryptor.finish()) controller.enqueue(piece);
    },
  });
}

/** Whole-buffer convenience (tests, small payloads). */
export async function encryptBytes(
  streamKey: Uint8Array,
  plaintext: Uint8Array,
  options: StreamCipherOptions = {},
): Promise<Uint8Array> {
  const encryptor = await StreamEncryptor.create(streamKey, options);
  return concatBytes(...(await encryptor.push(plaintext)), ...(await encryptor.finish()));
}

export async function decryptBytes(
  streamKey: Uint8Array,
  ciphertext: Uint8Array,
  options: Pick<StreamCipherOptions, 'concurrency' | 'aead'> = {},
): Promise<Uint8Array> {
  const decryptor = new StreamDecryptor(streamKey, options);
  return concatBytes(...(await decryptor.push(ciphertext)), ...(await decryptor.finish()));
}
