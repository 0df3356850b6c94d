// The transfer protocol: what the sender offers, the receiver's answer, the data, per-file SHA-256 confirmation,
// cancel and the final done/ack — byte-for-byte the same over a WebRTC data channel (one frame per message) and over
// the relay (frames back to back inside the encrypted stream). docs/transfer-protocol.md is the reference for
// implementers; this block is the summary.
//
// Frame = type (u8) | payload length (u32, big-endian) | payload
//   0x01 OFFER     JSON  {version, kind, name, entryCount, totalSize}          sender → receiver
//   0x02 ENTRIES   JSON  {entries: Entry[]}  (OFFER's entries, in order, split so each frame stays small)
//   0x03 ACCEPT    JSON  {}                                                    receiver → sender
//   0x04 DECLINE   JSON  {reason}                                              receiver → sender
//   0x05 DATA      binary  entry index (u32) | 1..65536 bytes of the file      sender → receiver
//   0x06 FILE_END  JSON  {index, size, sha256}                                 sender → receiver
//   0x07 FILE_ACK  JSON  {index, sha256}   (the receiver's own hash, equal)    receiver → sender
//   0x08 DONE      JSON  {files, bytes}                                        sender → receiver
//   0x09 DONE_ACK  JSON  {}                                                    receiver → sender
//   0x0A CANCEL    JSON  {code, reason}                                        either way, ends the transfer
// Control frames are JSON because they are rare and the browser side reads them with JSON.parse; DATA is binary
// because it is the hot path. Every frame is at most 65,545 bytes: far under the 256 KiB data-channel message limit
// (webrtc-notes.md), and a bounded buffer for the stream decoder. Unknown JSON fields are ignored (room for additions);
// anything incompatible bumps `version`.

import { sha256 } from '@noble/hashes/sha2.js';
import { ByteQueue, concatBytes, toHex, utf8, utf8Strict } from './bytes.ts';
import { ProtocolError, type ProtocolErrorCode } from './errors.ts';

export const TRANSFER_PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 5;
/** Most file bytes in one DATA frame (64 KiB, the chunk size measured best for node↔node data channels). */
export const MAX_DATA_BYTES = 65536;
/** Largest payload of any frame: a DATA frame's index plus 64 KiB; JSON control frames must fit too. */
export const MAX_FRAME_PAYLOAD = 4 + MAX_DATA_BYTES;
/**
 * File bytes a sender puts in a full DATA frame: 65,527, so that the whole frame (5 bytes of header, 4 of index) is
 * exactly 64 KiB. On a data channel that is the message size the bare benchmark pair uses; on the relay a frame then
 * fills one cipher record exactly, and the receiver decodes it without reassembling bytes across records.
 */
export const DATA_FRAME_BYTES = 65536 - FRAME_HEADER_BYTES - 4;

/**
 * Whether a relay sender seals its cipher record after this frame rather than when 64 KiB have gathered: control
 * frames are awaited by the peer, and a DATA frame short of DATA_FRAME_BYTES means the source is idle or at its end.
 */
export function endsRecord(frame: Frame): boolean {
  return frame.type !== 'data' || frame.data.length < DATA_FRAME_BYTES;
}
export const MAX_ENTRIES = 1_000_000;
/**
 * Most bytes of entry paths (UTF-8, together) a receiver takes in one offer by default: MAX_ENTRIES paths of
 * MAX_PATH_BYTES would be 4 GB held in memory before anyone is asked. 128 MiB is a million paths of 134 bytes.
 */
export const MAX_OFFER_PATH_BYTES = 128 * 1024 * 1024;
export const MAX_PATH_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 255;
const MAX_TEXT = 1024;

export const FrameType = {
  OFFER: 0x01,
  ENTRIES: 0x02,
  ACCEPT: 0x03,
  DECLINE: 0x04,
  DATA: 0x05,
  FILE_END: 0x06,
  FILE_ACK: 0x07,
  DONE: 0x08,
  DONE_ACK: 0x09,
  CANCEL: 0x0a,
} as const;

/** What the sender sends: one file, several files, a directory tree, or one stream of unknown length (stdin). */
export type OfferKind = 'file' | 'files' | 'directory' | 'stream';

export interface Entry {
  /** Relative POSIX path ("dir/sub/a.txt"): no "", ".", ".." segments, no leading "/", no "\", no control chars. */
  path: string;
  kind: 'file' | 'directory';
  /** Bytes, or null when unknown in advance (a stream); always null for directories. */
  size: number | null;
  /** Permission bits (0..0o7777), if the sender has them. */
  mode?: number;
  /** Modification time, ms since the epoch. */
  mtime?: number;
  /** MIME type of a file, if known. */
  type?: string;
}

export interface OfferHeader {
  version: number;
  kind: OfferKind;
  /** What to show the receiver ("photos", "report.pdf", "3 files"). */
  name: string;
  entryCount: number;
  /** Sum of the file sizes, or null if any is unknown. */
  totalSize: number | null;
}

export interface Offer extends OfferHeader {
  entries: Entry[];
}

export type Frame =
  | ({ type: 'offer' } & OfferHeader)
  | { type: 'entries'; entries: Entry[] }
  | { type: 'accept' }
  | { type: 'decline'; reason: string }
  | { type: 'data'; index: number; data: Uint8Array }
  | { type: 'file-end'; index: number; size: number; sha256: string }
  | { type: 'file-ack'; index: number; sha256: string }
  | { type: 'done'; files: number; bytes: number }
  | { type: 'done-ack' }
  | { type: 'cancel'; code: string; reason: string };

export type FrameName = Frame['type'];

const TYPE_BY_NAME: Readonly<Record<FrameName, number>> = {
  offer: FrameType.OFFER,
  entries: FrameType.ENTRIES,
  accept: FrameType.ACCEPT,
  decline: FrameType.DECLINE,
  data: FrameType.DATA,
  'file-end': FrameType.FILE_END,
  'file-ack': FrameType.FILE_ACK,
  done: FrameType.DONE,
  'done-ack': FrameType.DONE_ACK,
  cancel: FrameType.CANCEL,
};
const NAME_BY_TYPE = new Map<number, FrameName>(
  Object.entries(TYPE_BY_NAME).map(([name, type]) => [type, name as FrameName]),
);

/** Stable codes a CANCEL may carry (others matching /^[A-Z][A-Z0-9_]*$/ are allowed and passed through). */
export const CANCEL_CODES = Object.freeze({
  /** A person pressed cancel / Ctrl-C. */
  USER: 'USER_CANCELLED',
  /** A file's SHA-256 or size did not match. */
  INTEGRITY: 'INTEGRITY',
  /** The peer broke the protocol (a bad or out-of-order frame). */
  PROTOCOL: 'PROTOCOL',
  /** Reading or writing a file failed. */
  IO: 'IO',
  /** The receiver refuses to write something (e.g. a path escaping the target folder, or an existing file). */
  REFUSED: 'REFUSED',
  /** The receiver waited too long for the sender's next frame. */
  TIMEOUT: 'TIMEOUT',
});

function fail(code: ProtocolErrorCode, message: string): never {
  throw new ProtocolError(code, message);
}

// ---------------------------------------------------------------------------------------------------------------
// Validation of decoded JSON. Everything from the peer is checked here, once; code after this trusts the types.

type Json = Record<string, unknown>;

function field(frame: string, name: string, problem: string): never {
  fail('FRAME_FIELD', `${frame} frame: "${name}" ${problem}`);
}

function count(frame: string, obj: Json, name: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = obj[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    field(frame, name, `must be an integer from 0 to ${max}`);
  }
  return value;
}

function text(frame: string, obj: Json, name: string, optional = false): string {
  const value = obj[name];
  if (value === undefined && optional) return '';
  if (typeof value !== 'string' || value.length > MAX_TEXT || hasControl(value)) {
    field(frame, name, `must be a string of at most ${MAX_TEXT} characters without control characters`);
  }
  return value;
}

function sha256Field(frame: string, obj: Json): string {
  const value = obj.sha256;
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value))
    field(frame, 'sha256', 'must be 64 lowercase hex digits');
  return value;
}

// C0 controls, DEL and C1 controls: never in a file name or a message we print.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function hasControl(value: string): boolean {
  return CONTROL.test(value);
}

/**
 * Throws FRAME_PATH unless `path` is a safe relative path: the receiver can join it under its target folder without
 * escaping it. (The receiver must still refuse to follow symlinks it finds on disk; that is a filesystem matter.)
 */
export function validateEntryPath(path: string): void {
  const problem = pathProblem(path);
  if (problem !== undefined) fail('FRAME_PATH', `unsafe path ${JSON.stringify(path.slice(0, 200))}: ${problem}`);
}

const SLASH = 0x2f;
const DOT = 0x2e;

function pathProblem(path: string): string | undefined {
  if (path.length === 0) return 'empty';
  // UTF-8 once, then one pass over its bytes for the names: linear in the path, however many names it has ('/' is
  // never part of a multi-byte character).
  const bytes = utf8.encode(path);
  if (bytes.length > MAX_PATH_BYTES) return `longer than ${MAX_PATH_BYTES} bytes`;
  if (hasControl(path)) return 'contains control characters';
  if (path.includes('\\')) return 'contains a backslash';
  if (path.startsWith('/')) return 'absolute';
  if (/^[A-Za-z]:/.test(path)) return 'has a drive letter';
  let start = 0;
  for (let at = 0; at <= bytes.length; at++) {
    if (at < bytes.length && bytes[at] !== SLASH) continue;
    const length = at - start;
    if (length === 0) return 'has an empty segment';
    if (bytes[start] === DOT && (length === 1 || (length === 2 && bytes[start + 1] === DOT))) {
      return `has a "${'.'.repeat(length)}" segment`;
    }
    if (length > MAX_SEGMENT_BYTES) return `a name is longer than ${MAX_SEGMENT_BYTES} bytes`;
    start = at + 1;
  }
  return undefined;
}

function parseEntry(value: unknown, at: number): Entry {
  const where = `entries[${at}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) field('ENTRIES', where, 'must be an object');
  const obj = value as Json;
  if (typeof obj.path !== 'string') field('ENTRIES', `${where}.path`, 'must be a string');
  validateEntryPath(obj.path);
  const kind = obj.kind;
  if (kind !== 'file' && kind !== 'directory') field('ENTRIES', `${where}.kind`, 'must be "file" or "directory"');
  const entry: Entry = { path: obj.path, kind, size: null };
  if (obj.size !== null && obj.size !== undefined) {
    if (kind === 'directory') field('ENTRIES', `${where}.size`, 'must be null for a directory');
    entry.size = count('ENTRIES', obj, 'size');
  }
  if (obj.mode !== undefined) entry.mode = count('ENTRIES', obj, 'mode', 0o7777);
  if (obj.mtime !== undefined) {
    if (typeof obj.mtime !== 'number' || !Number.isFinite(obj.mtime))
      field('ENTRIES', `${where}.mtime`, 'must be a number');
    entry.mtime = obj.mtime;
  }
  if (obj.type !== undefined) {
    if (kind === 'directory') field('ENTRIES', `${where}.type`, 'is only for files');
    const type = text('ENTRIES', obj, 'type');
    if (type.length > 255) field('ENTRIES', `${where}.type`, 'is too long');
    entry.type = type;
  }
  return entry;
}

const OFFER_KINDS: ReadonlySet<string> = new Set(['file', 'files', 'directory', 'stream']);

function parseJsonPayload(name: FrameName, payload: Uint8Array): Json {
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(payload));
  } catch {
    fail('FRAME_JSON', `${name.toUpperCase()} frame: the payload is not valid UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('FRAME_JSON', `${name.toUpperCase()} frame: the payload must be a JSON object`);
  }
  return value as Json;
}

function parsePayload(name: FrameName, payload: Uint8Array): Frame {
  if (name === 'data') {
    if (payload.length < 5) fail('FRAME_LENGTH', 'DATA frame: needs an entry index and at least one byte');
    const index = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
    return { type: 'data', index, data: payload.subarray(4) };
  }
  const obj = parseJsonPayload(name, payload);
  switch (name) {
    case 'offer': {
      const version = count('OFFER', obj, 'version', 0xffff);
      if (version !== TRANSFER_PROTOCOL_VERSION) {
        fail(
          'FRAME_FIELD',
          `OFFER frame: protocol version ${version} is not supported (this side speaks ${TRANSFER_PROTOCOL_VERSION})`,
        );
      }
      if (typeof obj.kind !== 'string' || !OFFER_KINDS.has(obj.kind)) {
        field('OFFER', 'kind', 'must be "file", "files", "directory" or "stream"');
      }
      const entryCount = count('OFFER', obj, 'entryCount', MAX_ENTRIES);
      if (entryCount === 0) field('OFFER', 'entryCount', 'must be at least 1');
      const totalSize = obj.totalSize === null ? null : count('OFFER', obj, 'totalSize');
      return {
        type: 'offer',
        version,
        kind: obj.kind as OfferKind,
        name: text('OFFER', obj, 'name'),
        entryCount,
        totalSize,
      };
    }
    case 'entries': {
      if (!Array.isArray(obj.entries) || obj.entries.length === 0)
        field('ENTRIES', 'entries', 'must be a non-empty array');
      return { type: 'entries', entries: obj.entries.map(parseEntry) };
    }
    case 'accept':
      return { type: 'accept' };
    case 'decline':
      return { type: 'decline', reason: text('DECLINE', obj, 'reason', true) };
    case 'file-end':
      return {
        type: 'file-end',
        index: count('FILE_END', obj, 'index', MAX_ENTRIES - 1),
        size: count('FILE_END', obj, 'size'),
        sha256: sha256Field('FILE_END', obj),
      };
    case 'file-ack':
      return {
        type: 'file-ack',
        index: count('FILE_ACK', obj, 'index', MAX_ENTRIES - 1),
        sha256: sha256Field('FILE_ACK', obj),
      };
    case 'done':
      return { type: 'done', files: count('DONE', obj, 'files', MAX_ENTRIES), bytes: count('DONE', obj, 'bytes') };
    case 'done-ack':
      return { type: 'done-ack' };
    case 'cancel': {
      const code = obj.code;
      if (typeof code !== 'string' || !/^[A-Z][A-Z0-9_]{0,63}$/.test(code))
        field('CANCEL', 'code', 'must match [A-Z][A-Z0-9_]*');
      return { type: 'cancel', code, reason: text('CANCEL', obj, 'reason', true) };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding and decoding.

function header(type: number, length: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, length);
  return out;
}

function jsonBody(frame: Frame): Json {
  const { type: _type, ...rest } = frame as Frame & Json;
  return rest;
}

/** Encodes one frame. Validates what it writes as strictly as the decoder reads, so a bad frame never leaves. */
export function encodeFrame(frame: Frame): Uint8Array {
  const type = TYPE_BY_NAME[frame.type];
  if (type === undefined) fail('FRAME_TYPE', `unknown frame type "${String((frame as { type: unknown }).type)}"`);
  let payload: Uint8Array;
  if (frame.type === 'data') {
    if (frame.data.length === 0 || frame.data.length > MAX_DATA_BYTES) {
      fail('FRAME_TOO_LARGE', `DATA frame: 1..${MAX_DATA_BYTES} bytes per frame, got ${frame.data.length}`);
    }
    if (!Number.isInteger(frame.index) || frame.index < 0 || frame.index >= MAX_ENTRIES) {
      fail('FRAME_FIELD', 'DATA frame: bad entry index');
    }
    return encodeDataFrameInto(frame.index, frame.data, new Uint8Array(FRAME_HEADER_BYTES + 4 + frame.data.length));
  }
  payload = utf8.encode(JSON.stringify(jsonBody(frame)));
  if (payload.length > MAX_FRAME_PAYLOAD) {
    fail('FRAME_TOO_LARGE', `${frame.type.toUpperCase()} frame: ${payload.length} bytes is over ${MAX_FRAME_PAYLOAD}`);
  }
  // Round-trip through the decoder's validation: the encoder refuses exactly what the peer would refuse.
  parsePayload(frame.type, payload);
  return concatBytes(header(type, payload.length), payload);
}

/**
 * The 9 bytes that open a DATA frame of `length` data bytes for entry `index` (type, payload length, index): for a
 * transport that sends header and data as separate pieces (the relay's cipher seals them into one record).
 */
export function dataFrameHeader(index: number, length: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + 4);
  writeDataFrameHeader(index, length, out);
  return out;
}

function writeDataFrameHeader(index: number, length: number, target: Uint8Array): void {
  if (!Number.isInteger(length) || length < 1 || length > MAX_DATA_BYTES) {
    fail('FRAME_TOO_LARGE', `DATA frame: 1..${MAX_DATA_BYTES} bytes per frame, got ${length}`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= MAX_ENTRIES) fail('FRAME_FIELD', 'DATA frame: bad entry index');
  const view = new DataView(target.buffer, target.byteOffset, FRAME_HEADER_BYTES + 4);
  view.setUint8(0, FrameType.DATA);
  view.setUint32(1, 4 + length);
  view.setUint32(FRAME_HEADER_BYTES, index);
}

/**
 * Encodes a DATA frame into `target` (at least 9 + data bytes) and returns the view of it that holds the frame: a
 * sender that hands each frame to a transport which copies it at once (a data channel) reuses one buffer for all.
 */
export function encodeDataFrameInto(index: number, data: Uint8Array, target: Uint8Array): Uint8Array {
  const length = FRAME_HEADER_BYTES + 4 + data.length;
  if (target.length < length) throw new RangeError(`encodeDataFrameInto: the target needs ${length} bytes`);
  writeDataFrameHeader(index, data.length, target);
  target.set(data, FRAME_HEADER_BYTES + 4);
  return target.subarray(0, length);
}

function frameName(type: number): FrameName {
  const name = NAME_BY_TYPE.get(type);
  if (name === undefined) fail('FRAME_TYPE', `unknown frame type 0x${type.toString(16).padStart(2, '0')}`);
  return name;
}

function checkLength(name: FrameName, length: number): void {
  if (length > MAX_FRAME_PAYLOAD) {
    fail('FRAME_TOO_LARGE', `${name.toUpperCase()} frame announces ${length} bytes (at most ${MAX_FRAME_PAYLOAD})`);
  }
}

/** Decodes exactly one frame (one data-channel message). */
export function decodeFrame(message: Uint8Array): Frame {
  if (message.length < FRAME_HEADER_BYTES)
    fail('FRAME_LENGTH', `a frame is at least ${FRAME_HEADER_BYTES} bytes, got ${message.length}`);
  const name = frameName(message[0] as number);
  const length = new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(1);
  checkLength(name, length);
  if (message.length !== FRAME_HEADER_BYTES + length) {
    fail(
      'FRAME_LENGTH',
      `${name.toUpperCase()} frame announces ${length} payload bytes but carries ${message.length - FRAME_HEADER_BYTES}`,
    );
  }
  return parsePayload(name, message.subarray(FRAME_HEADER_BYTES));
}

/**
 * Decodes frames from a byte stream cut anywhere (the relay). Buffers at most one frame; a frame announcing more than
 * MAX_FRAME_PAYLOAD is refused from its header alone. DATA payloads returned may share memory with the input.
 */
export class FrameDecoder {
  readonly #queue = new ByteQueue();
  #failed = false;

  /** `owned`: the caller hands the buffer over and never touches it again, so it is kept without a copy. */
  push(bytes: Uint8Array, owned = false): Frame[] {
    if (this.#failed) fail('FRAME_ORDER', 'the frame decoder already failed');
    try {
      if (bytes.length > 0) {
        // Copy: the caller may reuse its buffer, and DATA frames we return may point into this copy.
        this.#queue.push(owned ? bytes : bytes.slice());
      }
      const frames: Frame[] = [];
      while (this.#queue.length >= FRAME_HEADER_BYTES) {
        const head = this.#queue.peek(FRAME_HEADER_BYTES);
        const name = frameName(head[0] as number);
        const length = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(1);
        checkLength(name, length);
        if (this.#queue.length < FRAME_HEADER_BYTES + length) break;
        const whole = this.#queue.take(FRAME_HEADER_BYTES + length);
        frames.push(parsePayload(name, whole.subarray(FRAME_HEADER_BYTES)));
      }
      return frames;
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  /** End of the stream: throws FRAME_TRUNCATED if it stopped inside a frame. */
  finish(): void {
    if (this.#queue.length > 0)
      fail('FRAME_TRUNCATED', `the stream ended inside a frame (${this.#queue.length} bytes left)`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Building frames.

/** The OFFER frame and the ENTRIES frames that carry its entry list, each under the frame size limit. */
export function offerFrames(offer: Offer): Frame[] {
  if (offer.entries.length === 0 || offer.entries.length > MAX_ENTRIES) {
    fail('FRAME_FIELD', `an offer needs 1..${MAX_ENTRIES} entries`);
  }
  for (const entry of offer.entries) validateEntryPath(entry.path);
  const frames: Frame[] = [
    {
      type: 'offer',
      version: TRANSFER_PROTOCOL_VERSION,
      kind: offer.kind,
      name: offer.name,
      entryCount: offer.entries.length,
      totalSize: offer.totalSize,
    },
  ];
  const budget = MAX_FRAME_PAYLOAD - 64;
  let batch: Entry[] = [];
  let size = 0;
  for (const entry of offer.entries) {
    const cost = utf8.encode(JSON.stringify(entry)).length + 1;
    if (batch.length > 0 && size + cost > budget) {
      frames.push({ type: 'entries', entries: batch });
      batch = [];
      size = 0;
    }
    batch.push(entry);
    size += cost;
  }
  frames.push({ type: 'entries', entries: batch });
  return frames;
}

/** Splits file bytes into DATA frames of at most 64 KiB (views, no copy). */
export function dataFrames(index: number, bytes: Uint8Array, maxBytes = MAX_DATA_BYTES): Frame[] {
  const frames: Frame[] = [];
  for (let at = 0; at < bytes.length; at += maxBytes) {
    frames.push({ type: 'data', index, data: bytes.subarray(at, at + maxBytes) });
  }
  return frames;
}

/** An incremental SHA-256: what the transfer needs from a hash. */
export interface IncrementalSha256 {
  update(bytes: Uint8Array): unknown;
  /** Bytes hashed so far. */
  readonly bytes: number;
  /** The digest as 64 lowercase hex digits (once, at the end). */
  hex(): string;
}

/** Makes a fresh hash per file. Node passes one over node:crypto (native, ~10× @noble's JS on the hot path). */
export type Sha256Factory = () => IncrementalSha256;

/** Incremental SHA-256 (WebCrypto has no streaming digest), lowercase hex out. */
export class Sha256 implements IncrementalSha256 {
  #hash = sha256.create();
  #bytes = 0;

  update(bytes: Uint8Array): this {
    this.#hash.update(bytes);
    this.#bytes += bytes.length;
    return this;
  }

  get bytes(): number {
    return this.#bytes;
  }

  hex(): string {
    return toHex(this.#hash.digest());
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The receiving side's rules: which frame may come when, sizes against the offer, hashes. The CLI and the web app
// feed it every frame they get and act on the events; it throws FRAME_ORDER on a protocol violation (answer with
// CANCEL PROTOCOL).

export type ReceiverEvent =
  | { type: 'offer'; offer: Offer }
  | { type: 'data'; index: number; entry: Entry; data: Uint8Array }
  | { type: 'file-end'; index: number; entry: Entry; size: number; sha256: string; ok: boolean; reply: Frame }
  | { type: 'done'; files: number; bytes: number; reply: Frame }
  | { type: 'cancel'; code: string; reason: string };

type ReceiverState = 'offer' | 'entries' | 'deciding' | 'receiving' | 'closed';

export interface TransferReceiverOptions {
  /** How to hash each file (default: @noble/hashes, which runs anywhere). */
  createHash?: Sha256Factory;
  /** Most entries an offer may have (default MAX_ENTRIES); more is refused with OFFER_TOO_LARGE. */
  maxEntries?: number;
  /** Most bytes of entry paths an offer may have (default MAX_OFFER_PATH_BYTES); more: OFFER_TOO_LARGE. */
  maxPathBytes?: number;
}

/** One name in the tree an offer lists: an entry (kind set) or a folder only implied by a deeper entry. */
interface PathNode {
  kind?: Entry['kind'];
  children?: Map<string, PathNode>;
}

export class TransferReceiver {
  #state: ReceiverState = 'offer';
  readonly #createHash: Sha256Factory;
  #header: OfferHeader | undefined;
  readonly #maxEntries: number;
  readonly #maxPathBytes: number;
  #entries: Entry[] = [];
  #pathBytes = 0;
  /** Every path offered so far, as a tree: each entry is placed in time linear in its length. */
  readonly #tree: PathNode = {};
  /** Indexes of the file entries, in order: the order the sender must send them. */
  #fileOrder: number[] = [];
  #nextFile = 0;
  #hash: IncrementalSha256 | undefined;
  #bytes = 0;

  constructor(options: TransferReceiverOptions = {}) {
    this.#createHash = options.createHash ?? (() => new Sha256());
    this.#maxEntries = options.maxEntries ?? MAX_ENTRIES;
    this.#maxPathBytes = options.maxPathBytes ?? MAX_OFFER_PATH_BYTES;
  }

  get state(): ReceiverState {
    return this.#state;
  }

  /** Feeds one frame from the sender. Returns an event when there is something to act on. */
  receive(frame: Frame): ReceiverEvent | undefined {
    if (this.#state === 'closed') fail('FRAME_ORDER', `${frame.type} frame after the transfer ended`);
    if (frame.type === 'cancel') {
      this.#state = 'closed';
      return { type: 'cancel', code: frame.code, reason: frame.reason };
    }
    switch (this.#state) {
      case 'offer':
        if (frame.type !== 'offer') this.#order(frame, 'an OFFER');
        if (frame.entryCount > this.#maxEntries) {
          this.#state = 'closed';
          fail(
            'OFFER_TOO_LARGE',
            `the offer has ${frame.entryCount} entries; this receiver takes at most ${this.#maxEntries}`,
          );
        }
        this.#header = {
          version: frame.version,
          kind: frame.kind,
          name: frame.name,
          entryCount: frame.entryCount,
          totalSize: frame.totalSize,
        };
        this.#state = 'entries';
        return undefined;
      case 'entries':
        if (frame.type !== 'entries') this.#order(frame, 'ENTRIES');
        return this.#addEntries(frame.entries);
      case 'deciding':
        this.#order(frame, 'nothing until we answer the offer');
        break;
      case 'receiving':
        return this.#receiving(frame);
    }
    return undefined;
  }

  #order(frame: Frame, expected: string): never {
    this.#state = 'closed';
    fail('FRAME_ORDER', `unexpected ${frame.type.toUpperCase()} frame: expected ${expected}`);
  }

  #addEntries(entries: Entry[]): ReceiverEvent | undefined {
    const header = this.#header as OfferHeader;
    if (this.#entries.length + entries.length > header.entryCount) {
      this.#state = 'closed';
      fail('FRAME_ORDER', `more entries than the ${header.entryCount} the offer announced`);
    }
    for (const entry of entries) {
      this.#pathBytes += utf8.encode(entry.path).length;
      if (this.#pathBytes > this.#maxPathBytes) {
        this.#state = 'closed';
        fail('OFFER_TOO_LARGE', `the offer's paths take more than the ${this.#maxPathBytes} bytes this receiver takes`);
      }
      this.#place(entry);
      if (entry.kind === 'file') this.#fileOrder.push(this.#entries.length);
      this.#entries.push(entry);
    }
    if (this.#entries.length < header.entryCount) return undefined;
    const known = this.#entries.every((e) => e.kind === 'directory' || e.size !== null);
    const sum = this.#entries.reduce((total, e) => total + (e.size ?? 0), 0);
    if (header.totalSize !== null && (!known || sum !== header.totalSize)) {
      this.#state = 'closed';
      fail('FRAME_FIELD', `OFFER frame: totalSize ${header.totalSize} does not match the entries`);
    }
    this.#state = 'deciding';
    return { type: 'offer', offer: { ...header, entries: this.#entries } };
  }

  /**
   * Puts an entry in the tree, one step per name: refused if it is listed twice, lies inside a file ("a" a file and
   * "a/b" would make the receiver write through a file), or is a file with entries inside it.
   */
  #place(entry: Entry): void {
    const names = entry.path.split('/');
    let node = this.#tree;
    for (const [depth, name] of names.entries()) {
      if (node.kind === 'file') {
        const parent = names.slice(0, depth).join('/');
        this.#refuse(`${JSON.stringify(entry.path)} is inside ${JSON.stringify(parent)}, which is a file`);
      }
      node.children ??= new Map();
      let child = node.children.get(name);
      if (child === undefined) {
        child = {};
        node.children.set(name, child);
      }
      node = child;
    }
    if (node.kind !== undefined) this.#refuse(`the offer lists ${JSON.stringify(entry.path)} twice`);
    if (entry.kind === 'file' && node.children !== undefined) {
      // Name one entry inside it: follow the first names down to one that was offered.
      let inside = entry.path;
      let below: PathNode = node;
      while (below.kind === undefined || below === node) {
        const [name, next] = (below.children as Map<string, PathNode>).entries().next().value as [string, PathNode];
        inside += `/${name}`;
        below = next;
      }
      this.#refuse(`${JSON.stringify(inside)} is inside ${JSON.stringify(entry.path)}, which is a file`);
    }
    node.kind = entry.kind;
  }

  #refuse(message: string): never {
    this.#state = 'closed';
    fail('FRAME_PATH', message);
  }

  /** We accept the offer: returns the ACCEPT frame to send. */
  accept(): Frame {
    if (this.#state !== 'deciding') fail('FRAME_ORDER', 'accept() before the whole offer arrived');
    this.#state = 'receiving';
    this.#startFile();
    return { type: 'accept' };
  }

  /** We decline: returns the DECLINE frame to send; the transfer is over. */
  decline(reason = ''): Frame {
    if (this.#state !== 'deciding') fail('FRAME_ORDER', 'decline() before the whole offer arrived');
    this.#state = 'closed';
    return { type: 'decline', reason };
  }

  /** We give up (user cancel, disk full, integrity failure…): returns the CANCEL frame to send. */
  cancel(code: string, reason: string): Frame {
    this.#state = 'closed';
    return { type: 'cancel', code, reason };
  }

  #startFile(): void {
    this.#hash = this.#createHash();
  }

  #currentIndex(): number | undefined {
    return this.#fileOrder[this.#nextFile];
  }

  #receiving(frame: Frame): ReceiverEvent {
    const index = this.#currentIndex();
    switch (frame.type) {
      case 'data': {
        if (index === undefined || frame.index !== index) {
          this.#order(frame, index === undefined ? 'DONE' : `data for entry ${index}`);
        }
        const entry = this.#entries[index] as Entry;
        const hash = this.#hash as IncrementalSha256;
        if (entry.size !== null && hash.bytes + frame.data.length > entry.size) {
          this.#state = 'closed';
          fail('FRAME_ORDER', `more data for ${JSON.stringify(entry.path)} than its ${entry.size} bytes`);
        }
        hash.update(frame.data);
        return { type: 'data', index, entry, data: frame.data };
      }
      case 'file-end': {
        if (index === undefined || frame.index !== index) {
          this.#order(frame, index === undefined ? 'DONE' : `the end of entry ${index}`);
        }
        const entry = this.#entries[index] as Entry;
        const hash = this.#hash as IncrementalSha256;
        const size = hash.bytes;
        const sha = hash.hex();
        const ok = size === frame.size && (entry.size === null || entry.size === size) && sha === frame.sha256;
        this.#bytes += size;
        this.#nextFile++;
        this.#startFile();
        const reply: Frame = ok
          ? { type: 'file-ack', index, sha256: sha }
          : this.cancel(
              CANCEL_CODES.INTEGRITY,
              `${entry.path}: received ${size} bytes with SHA-256 ${sha}, sender says ${frame.size} bytes with ${frame.sha256}`,
            );
        return { type: 'file-end', index, entry, size, sha256: sha, ok, reply };
      }
      case 'done': {
        if (index !== undefined) this.#order(frame, `the rest of entry ${index}`);
        if (frame.files !== this.#fileOrder.length || frame.bytes !== this.#bytes) {
          this.#state = 'closed';
          fail(
            'FRAME_ORDER',
            `DONE says ${frame.files} files / ${frame.bytes} bytes, we got ${this.#fileOrder.length} / ${this.#bytes}`,
          );
        }
        this.#state = 'closed';
        return { type: 'done', files: frame.files, bytes: frame.bytes, reply: { type: 'done-ack' } };
      }
      default:
        this.#order(frame, 'DATA, FILE_END or DONE');
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The sending side's rules for what comes back.

export type SenderEvent =
  | { type: 'accepted' }
  | { type: 'declined'; reason: string }
  | { type: 'file-confirmed'; index: number }
  | { type: 'complete' }
  | { type: 'cancel'; code: string; reason: string };

type SenderState = 'offering' | 'sending' | 'closed';

export class TransferSender {
  #state: SenderState = 'offering';
  #offer: Offer;
  #fileOrder: number[];
  #sent = new Map<number, string>();
  #confirmed = 0;
  #bytes = 0;
  #doneSent = false;

  constructor(offer: Offer) {
    this.#offer = offer;
    this.#fileOrder = offer.entries.flatMap((entry, index) => (entry.kind === 'file' ? [index] : []));
  }

  get state(): SenderState {
    return this.#state;
  }

  /** The frames that open the transfer (OFFER + ENTRIES). */
  start(): Frame[] {
    return offerFrames(this.#offer);
  }

  /** The FILE_END frame for a file we finished sending; remembered so the FILE_ACK can be checked. */
  fileEnd(index: number, size: number, sha256: string): Frame {
    if (this.#state !== 'sending') fail('FRAME_ORDER', 'fileEnd() before the offer was accepted');
    if (this.#fileOrder[this.#sent.size] !== index) fail('FRAME_ORDER', `entry ${index} is not the next file to send`);
    this.#sent.set(index, sha256);
    this.#bytes += size;
    return { type: 'file-end', index, size, sha256 };
  }

  /** The DONE frame, once every file has been sent. */
  done(): Frame {
    if (this.#state !== 'sending' || this.#sent.size !== this.#fileOrder.length) {
      fail('FRAME_ORDER', 'done() before every file was sent');
    }
    this.#doneSent = true;
    return { type: 'done', files: this.#fileOrder.length, bytes: this.#bytes };
  }

  cancel(code: string, reason: string): Frame {
    this.#state = 'closed';
    return { type: 'cancel', code, reason };
  }

  /** Feeds one frame from the receiver. */
  receive(frame: Frame): SenderEvent {
    if (this.#state === 'closed') fail('FRAME_ORDER', `${frame.type} frame after the transfer ended`);
    if (frame.type === 'cancel') {
      this.#state = 'closed';
      return { type: 'cancel', code: frame.code, reason: frame.reason };
    }
    if (this.#state === 'offering') {
      if (frame.type === 'accept') {
        this.#state = 'sending';
        return { type: 'accepted' };
      }
      if (frame.type === 'decline') {
        this.#state = 'closed';
        return { type: 'declined', reason: frame.reason };
      }
      return this.#order(frame, 'ACCEPT or DECLINE');
    }
    if (frame.type === 'file-ack') {
      const expected = this.#fileOrder[this.#confirmed];
      if (frame.index !== expected || !this.#sent.has(frame.index))
        return this.#order(frame, `FILE_ACK for entry ${expected}`);
      if (this.#sent.get(frame.index) !== frame.sha256) {
        this.#state = 'closed';
        fail('FRAME_ORDER', `the receiver confirmed entry ${frame.index} with a different SHA-256`);
      }
      this.#confirmed++;
      return { type: 'file-confirmed', index: frame.index };
    }
    if (frame.type === 'done-ack') {
      if (!this.#doneSent || this.#confirmed !== this.#fileOrder.length) return this.#order(frame, 'FILE_ACKs first');
      this.#state = 'closed';
      return { type: 'complete' };
    }
    return this.#order(frame, 'FILE_ACK, DONE_ACK or CANCEL');
  }

  #order(frame: Frame, expected: string): never {
    this.#state = 'closed';
    fail('FRAME_ORDER', `unexpected ${frame.type.toUpperCase()} frame: expected ${expected}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Flow control over a data channel: keep the SCTP send buffer between a low and a high watermark, so memory stays
// bounded and the channel never hits Chromium's 16 MiB "send queue is full" (webrtc-notes.md).

/** The part of RTCDataChannel (browser or node-datachannel's polyfill) that flow control needs. */
export interface DataChannelLike {
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  onbufferedamountlow: ((event: never) => unknown) | null;
  send(data: Uint8Array): void;
}

export interface SendWindowOptions {
  /** Wait once more than this is buffered (default 1 MiB, measured best node↔node). */
  highWaterMark?: number;
  /** Resume when the buffer drains to this (default 512 KiB = high / 2). */
  lowWaterMark?: number;
}

export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
export const DEFAULT_LOW_WATER_MARK = 512 * 1024;

/**
 * Sends on a data channel with backpressure: `await window.send(bytes)` returns at once while the buffer is under the
 * high watermark and otherwise when it has drained to the low one. Takes over the channel's `onbufferedamountlow`.
 * close() (call it from the channel's close/error handlers) rejects any waiting send with FLOW_CLOSED.
 */
export class SendWindow {
  readonly #channel: DataChannelLike;
  readonly #high: number;
  #waiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #closed: Error | undefined;

  constructor(channel: DataChannelLike, options: SendWindowOptions = {}) {
    this.#high = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    const low = options.lowWaterMark ?? Math.min(DEFAULT_LOW_WATER_MARK, Math.floor(this.#high / 2));
    if (!(low >= 0 && low < this.#high)) throw new RangeError('need 0 <= lowWaterMark < highWaterMark');
    this.#channel = channel;
    channel.bufferedAmountLowThreshold = low;
    channel.onbufferedamountlow = () => {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.resolve();
    };
  }

  /** True while a send is waiting for the buffer to drain. */
  get waiting(): boolean {
    return this.#waiter !== undefined;
  }

  async send(data: Uint8Array): Promise<void> {
    if (this.#closed !== undefined) throw this.#closed;
    if (this.#waiter !== undefined)
      throw new ProtocolError('FLOW_CLOSED', 'send() called while another send is waiting');
    this.#channel.send(data);
    if (this.#channel.bufferedAmount <= this.#high) return;
    await new Promise<void>((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  close(reason = 'the data channel closed'): void {
    this.#closed ??= new ProtocolError('FLOW_CLOSED', reason);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#closed);
  }
}
