// One transfer from start to end over whatever carries the frames (a data channel, or the relay's two encrypted
// pipes): the sender's offer, the receiver's decision, the data with per-file SHA-256 confirmation, DONE / DONE_ACK,
// and cancel from either side — the sequence of docs/transfer-protocol.md §5 as two async functions. The rules of
// which frame may come when live in transfer.ts (TransferSender / TransferReceiver); this file adds the I/O loop
// around them, so the CLI and the web app only supply files, a decision and a FrameChannel. Isomorphic.

import { ProtocolError } from './errors.ts';
import {
  CANCEL_CODES,
  DATA_FRAME_BYTES,
  type Entry,
  type Frame,
  type IncrementalSha256,
  type Offer,
  Sha256,
  type Sha256Factory,
  TransferReceiver,
  TransferSender,
} from './transfer.ts';

/** Frames in both directions between the two peers. Implementations: Node's data channel and relay pipes, the web's. */
export interface FrameChannel {
  readonly transport: 'p2p' | 'relay';
  /** Sends one frame; resolves when the transport can take more (backpressure). Calls may overlap. */
  send(frame: Frame): Promise<void>;
  /** The peer's next frame; undefined when the peer ended its direction cleanly. Throws when it broke. */
  receive(): Promise<Frame | undefined>;
  /** We have nothing more to say: everything sent so far is delivered, then our direction ends. */
  end(): Promise<void>;
  /** Tears everything down at once (after an error or a cancel). */
  close(): void;
}

/** How long a channel whose own direction has ended waits for the peer's to end (drainPeer). */
const PEER_LINGER_MS = 5000;

/**
 * For a channel whose own direction has ended: reads the peer's direction to its end, for at most PEER_LINGER_MS, so
 * neither side cuts the other's last bytes. Whatever still comes is dropped; a peer that closes first is fine here.
 */
export async function drainPeer(channel: Pick<FrameChannel, 'receive'>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const linger = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, PEER_LINGER_MS);
  });
  const drain = (async () => {
    try {
      while ((await channel.receive()) !== undefined) {
        // Nothing is due after the last frame.
      }
    } catch {
      // The peer closed first.
    }
  })();
  await Promise.race([drain, linger]);
  clearTimeout(timer);
}

/** How a transfer ended if not with success; the CLI maps each to an exit code, the web app to a message. */
export type TransferFailure =
  /** The receiver said no (or refused the offer: an unsafe path, an existing file). */
  | 'declined'
  /** Either side cancelled, with a reason. */
  | 'cancelled'
  /** A file's hash or size did not match, or the relay stream was altered or cut. */
  | 'integrity'
  /** The peer broke the frame protocol. */
  | 'protocol'
  /** The connection went away before the end. */
  | 'lost'
  /** Reading or writing a file failed here. */
  | 'io';

export class TransferError extends Error {
  override readonly name = 'TransferError';
  constructor(
    readonly failure: TransferFailure,
    /** The CANCEL code or protocol error code behind it (e.g. USER_CANCELLED, INTEGRITY, CIPHER_TAMPERED). */
    readonly code: string,
    message: string,
    /** True when the other side ended it (we received its DECLINE or CANCEL). */
    readonly byPeer: boolean,
    /** `cause`: the transport's own error behind a lost connection, for a caller that knows that transport. */
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface TransferProgress {
  /** File bytes sent or received so far. */
  bytes: number;
  /** All file bytes of the offer, or null when a size is unknown (a stream). */
  total: number | null;
}

export interface FileResult {
  path: string;
  size: number;
  sha256: string;
}

export interface TransferResult {
  transport: 'p2p' | 'relay';
  bytes: number;
  files: FileResult[];
}

/**
 * A hash computed elsewhere (the web app's worker): `hex()` may only be asked once `settle()` resolved. A createHash
 * may return one; the sessions then wait for it before they need the digest.
 */
export interface SettlingSha256 extends IncrementalSha256 {
  settle(): Promise<void>;
}

function settling(hash: IncrementalSha256 | undefined): hash is SettlingSha256 {
  return typeof (hash as Partial<SettlingSha256> | undefined)?.settle === 'function';
}

interface Common {
  createHash?: Sha256Factory;
  onProgress?: (progress: TransferProgress) => void;
  /** Aborting it cancels the transfer (CANCEL USER_CANCELLED to the peer), e.g. on Ctrl-C. */
  signal?: AbortSignal;
}

export interface SendOptions extends Common {
  /**
   * The bytes of file entry `index`, in pieces of any size; pieces of a multiple of DATA_FRAME_BYTES make only full
   * frames. A piece is done with when the next one is asked for, so the reader may refill the same buffer.
   */
  read(index: number, entry: Entry): AsyncIterable<Uint8Array>;
  /** Called once the receiver accepted. */
  onAccepted?: () => void;
}

/** What a receiver does with the data. Every method may throw: the transfer is then cancelled with CANCEL IO. */
export interface FileSink {
  /** `data` is the sink's to keep: the transports never reuse the memory of a frame they delivered. */
  write(index: number, entry: Entry, data: Uint8Array): Promise<void>;
  /** A file arrived whole and its SHA-256 matched. */
  fileDone(index: number, entry: Entry): Promise<void>;
  /** DONE checked out: make everything permanent (rename into place). */
  complete(): Promise<void>;
  /** The transfer failed or was cancelled: remove every partial file. Must not throw. */
  abort(): Promise<void>;
}

/** The receiver's answer to an offer: accept with a sink, or decline with a reason (and optionally a CANCEL code). */
export type Decision = { accept: true; sink: FileSink } | { accept: false; reason: string };

export interface ReceiveOptions extends Common {
  decide(offer: Offer): Promise<Decision>;
  /**
   * Give up when the sender sends nothing for this long (ms) while we wait on it, with TransferError 'lost' TIMEOUT
   * and a CANCEL TIMEOUT to the sender. Not while a file of unknown size comes (a stream: the sender's own input may
   * idle), nor while decide() or the sink work. 0 or absent: wait for ever.
   */
  idleTimeoutMs?: number;
  /** Called with the offer as soon as it is complete, before decide(). */
  onOffer?: (offer: Offer) => void;
}

function userCancelled(signal: AbortSignal | undefined): TransferError {
  const reason = signal?.reason instanceof Error ? signal.reason.message : 'cancelled';
  return new TransferError('cancelled', CANCEL_CODES.USER, reason, false);
}

/** A ProtocolError raised by the transport or the frame rules, as a TransferError and the CANCEL to send for it. */
function classify(error: unknown): { error: TransferError; cancel?: Frame } {
  if (error instanceof TransferError) return { error };
  if (error instanceof ProtocolError) {
    if (error.code.startsWith('CIPHER_') || error.code === 'FRAME_TRUNCATED') {
      return {
        error: new TransferError('integrity', error.code, error.message, false),
        cancel: { type: 'cancel', code: CANCEL_CODES.INTEGRITY, reason: error.message.slice(0, 1000) },
      };
    }
    if (error.code === 'FRAME_PATH' || error.code === 'OFFER_TOO_LARGE') {
      return {
        error: new TransferError('declined', error.code, `refused: ${error.message}`, false),
        cancel: { type: 'cancel', code: CANCEL_CODES.REFUSED, reason: error.message.slice(0, 1000) },
      };
    }
    if (error.code === 'FLOW_CLOSED') {
      return { error: new TransferError('lost', error.code, 'the connection closed before the end', false) };
    }
    return {
      error: new TransferError('protocol', error.code, error.message, false),
      cancel: { type: 'cancel', code: CANCEL_CODES.PROTOCOL, reason: error.message.slice(0, 1000) },
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  const lost = new TransferError('lost', 'CONNECTION_LOST', `the connection broke: ${message}`, false, {
    cause: error,
  });
  return { error: lost };
}

function cancelledByPeer(code: string, reason: string): TransferError {
  const failure =
    code === CANCEL_CODES.INTEGRITY ? 'integrity' : code === CANCEL_CODES.REFUSED ? 'declined' : 'cancelled';
  const text = reason === '' ? code : `${reason} (${code})`;
  return new TransferError(failure, code, `the other side cancelled: ${text}`, true);
}

/** Best effort: tell the peer why we stop, without waiting long on a transport that may be broken. */
async function sendQuietly(channel: FrameChannel, frame: Frame): Promise<void> {
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 2000));
  try {
    await Promise.race([
      (async () => {
        await channel.send(frame);
        await channel.end();
      })(),
      timeout,
    ]);
  } catch {
    // The transport is already gone; the peer will notice that instead.
  }
}

/**
 * Why a transfer stops early, once known, and a way to race any step against it. Promise.race([step, stopping]) with
 * one long-lived `stopping` promise would leave a reaction on it per call, each keeping its step's result reachable
 * until the transfer ends: every received frame, data and all, a whole transfer held in memory. Here a step's waiter
 * is dropped as soon as the step settles.
 */
class Stopper {
  #reason: TransferError | undefined;
  readonly #waiting = new Set<(reason: TransferError) => void>();

  get reason(): TransferError | undefined {
    return this.#reason;
  }

  stop(reason: TransferError): void {
    if (this.#reason) return;
    this.#reason = reason;
    for (const reject of this.#waiting) reject(reason);
    this.#waiting.clear();
  }

  /** The step's outcome, or a rejection with the reason as soon as the transfer stops. */
  race<T>(step: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#reason) {
        step.catch(() => {});
        return reject(this.#reason);
      }
      this.#waiting.add(reject);
      step.then(
        (value) => {
          this.#waiting.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.#waiting.delete(reject);
          reject(error);
        },
      );
    });
  }
}

function onAbort(signal: AbortSignal | undefined, handler: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    queueMicrotask(handler);
    return () => {};
  }
  signal.addEventListener('abort', handler, { once: true });
  return () => signal.removeEventListener('abort', handler);
}

/**
 * Sends an offer and, if accepted, every file (each in DATA frames of DATA_FRAME_BYTES, then FILE_END with its SHA-256),
 * then DONE; resolves once the receiver confirmed every file and DONE. Throws a TransferError otherwise, after telling
 * the peer (CANCEL) when the failure is ours.
 */
export async function sendTransfer(channel: FrameChannel, offer: Offer, options: SendOptions): Promise<TransferResult> {
  const sender = new TransferSender(offer);
  const createHash = options.createHash ?? (() => new Sha256());
  const files: FileResult[] = [];
  let bytes = 0;
  // A failure from the reader loop or the user stops the send loop at its next frame.
  const stopper = new Stopper();
  const unlisten = onAbort(options.signal, () => stopper.stop(userCancelled(options.signal)));

  // Frames from the receiver: its answer, then FILE_ACKs and DONE_ACK (or a CANCEL at any time).
  let answered: (accepted: boolean) => void = () => {};
  const answer = new Promise<boolean>((resolve) => {
    answered = resolve;
  });
  const reader = (async (): Promise<void> => {
    for (;;) {
      const frame = await channel.receive();
      if (frame === undefined) throw new TransferError('lost', 'CONNECTION_LOST', 'the receiver went away', true);
      const event = sender.receive(frame);
      if (event.type === 'accepted') answered(true);
      else if (event.type === 'declined') {
        throw new TransferError(
          'declined',
          'DECLINED',
          `the receiver declined${event.reason ? `: ${event.reason}` : ''}`,
          true,
        );
      } else if (event.type === 'cancel') throw cancelledByPeer(event.code, event.reason);
      else if (event.type === 'complete') return;
    }
  })();
  // The reader's CANCEL (if the failure is ours) is sent by the catch below, once the send loop has stopped.
  let readerCancel: Frame | undefined;
  reader.catch((error: unknown) => {
    const { error: failure, cancel } = classify(error);
    readerCancel = cancel;
    stopper.stop(failure);
    answered(false);
  });

  try {
    for (const frame of sender.start()) await stopper.race(channel.send(frame));
    if (!(await stopper.race(answer))) throw stopper.reason;
    options.onAccepted?.();
    options.onProgress?.({ bytes, total: offer.totalSize });
    for (const [index, entry] of offer.entries.entries()) {
      if (entry.kind !== 'file') continue;
      const hash = createHash();
      let size = 0;
      const pieces = options.read(index, entry)[Symbol.asyncIterator]();
      try {
        for (;;) {
          let next: IteratorResult<Uint8Array>;
          try {
            next = await pieces.next();
          } catch (error) {
            if (stopper.reason) throw stopper.reason;
            const message = error instanceof Error ? error.message : String(error);
            throw new TransferError('io', CANCEL_CODES.IO, `cannot read ${entry.path}: ${message}`, false);
          }
          if (next.done) break;
          const piece = next.value;
          for (let at = 0; at < piece.length; at += DATA_FRAME_BYTES) {
            if (stopper.reason) throw stopper.reason;
            const data = piece.subarray(at, at + DATA_FRAME_BYTES);
            hash.update(data);
            size += data.length;
            if (entry.size !== null && size > entry.size) {
              throw new TransferError('io', CANCEL_CODES.IO, `${entry.path} grew while it was being sent`, false);
            }
            await stopper.race(channel.send({ type: 'data', index, data }));
            bytes += data.length;
            options.onProgress?.({ bytes, total: offer.totalSize });
          }
        }
      } finally {
        // Stops reading (closes the file) when we leave early.
        void pieces.return?.()?.catch(() => {});
      }
      if (entry.size !== null && size !== entry.size) {
        throw new TransferError('io', CANCEL_CODES.IO, `${entry.path} shrank while it was being sent`, false);
      }
      if (settling(hash)) await stopper.race(hash.settle());
      const sha256 = hash.hex();
      files.push({ path: entry.path, size, sha256 });
      await stopper.race(channel.send(sender.fileEnd(index, size, sha256)));
    }
    await stopper.race(channel.send(sender.done()));
    await stopper.race(reader);
    await channel.end();
    return { transport: channel.transport, bytes, files };
  } catch (error) {
    if (stopper.reason === undefined && !(error instanceof TransferError)) {
      // Our direction broke (a relay that cut our upload, say): the receiver's direction may still bring its CANCEL
      // with the real reason, so give it a moment (cut short when that reason comes).
      let timer: ReturnType<typeof setTimeout> | undefined;
      await stopper.race(new Promise((resolve) => (timer = setTimeout(resolve, 2000)))).catch(() => {});
      clearTimeout(timer);
    }
    const { error: failure, cancel } = classify(stopper.reason ?? error);
    const frame = failure.byPeer ? undefined : (cancelFor(failure) ?? cancel ?? readerCancel);
    if (frame) await sendQuietly(channel, frame);
    channel.close();
    throw failure;
  } finally {
    unlisten();
  }
}

/**
 * Receives one transfer: waits for the offer, asks `decide`, then writes every file through the sink, checking each
 * SHA-256 and the DONE totals before confirming. Throws a TransferError on any failure, after sink.abort() and after
 * telling the peer (CANCEL) when the failure is ours.
 */
export async function receiveTransfer(channel: FrameChannel, options: ReceiveOptions): Promise<TransferResult> {
  // The hash of the file being received, to settle before its FILE_END is checked.
  let hash: IncrementalSha256 | undefined;
  const { createHash } = options;
  const receiver = new TransferReceiver({ createHash: createHash && (() => (hash = createHash())) });
  let sink: FileSink | undefined;
  const files: FileResult[] = [];
  let bytes = 0;
  let total: number | null = null;
  let offer: Offer | undefined;
  const stopper = new Stopper();
  const unlisten = onAbort(options.signal, () => stopper.stop(userCancelled(options.signal)));
  const idleMs = options.idleTimeoutMs ?? 0;
  // The entry whose data comes now; a stream (size null) may pause for as long as its source does.
  let current: Entry | undefined;
  const nextFrame = (): Promise<Frame | undefined> => {
    const next = channel.receive();
    if (idleMs <= 0 || current?.size === null) return next;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const seconds = Number((idleMs / 1000).toFixed(3));
        reject(new TransferError('lost', CANCEL_CODES.TIMEOUT, `the sender sent nothing for ${seconds} s`, false));
      }, idleMs);
      next.then(
        (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  };
  try {
    for (;;) {
      const frame = await stopper.race(nextFrame());
      if (frame === undefined) throw new TransferError('lost', 'CONNECTION_LOST', 'the sender went away', true);
      if (frame.type === 'file-end' && settling(hash)) await stopper.race(hash.settle());
      const event = receiver.receive(frame);
      if (event === undefined) continue;
      switch (event.type) {
        case 'offer': {
          offer = event.offer;
          total = offer.totalSize;
          options.onOffer?.(event.offer);
          const decision = await stopper.race(options.decide(event.offer));
          if (!decision.accept) {
            await stopper.race(channel.send(receiver.decline(decision.reason)));
            await channel.end();
            throw new TransferError('declined', 'DECLINED', decision.reason, false);
          }
          sink = decision.sink;
          await stopper.race(channel.send(receiver.accept()));
          current = nextFileEntry(offer, 0);
          options.onProgress?.({ bytes, total });
          break;
        }
        case 'data': {
          // Counted first: the sink may hand the data's buffer on (a page transfers it), which empties the view.
          bytes += event.data.length;
          try {
            await (sink as FileSink).write(event.index, event.entry, event.data);
          } catch (error) {
            throw ioError(event.entry, error);
          }
          options.onProgress?.({ bytes, total });
          break;
        }
        case 'file-end':
          if (!event.ok) {
            await sendQuietly(channel, event.reply);
            const reason = event.reply.type === 'cancel' ? event.reply.reason : 'hash mismatch';
            throw new TransferError('integrity', CANCEL_CODES.INTEGRITY, reason, false);
          }
          try {
            await (sink as FileSink).fileDone(event.index, event.entry);
          } catch (error) {
            throw ioError(event.entry, error);
          }
          files.push({ path: event.entry.path, size: event.size, sha256: event.sha256 });
          await stopper.race(channel.send(event.reply));
          current = nextFileEntry(offer as Offer, event.index + 1);
          break;
        case 'done':
          try {
            await (sink as FileSink).complete();
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            throw new TransferError('io', CANCEL_CODES.IO, `cannot put the files in place: ${message}`, false);
          }
          sink = undefined;
          await channel.send(event.reply);
          await channel.end();
          return { transport: channel.transport, bytes, files };
        case 'cancel':
          throw cancelledByPeer(event.code, event.reason);
      }
    }
  } catch (error) {
    const { error: failure, cancel } = classify(stopper.reason ?? error);
    await sink?.abort();
    // A DECLINE was already sent; a hash mismatch already sent its CANCEL INTEGRITY.
    const frame = failure.byPeer || failure.code === 'DECLINED' ? undefined : (cancelFor(failure) ?? cancel);
    if (frame) await sendQuietly(channel, frame);
    channel.close();
    throw failure;
  } finally {
    unlisten();
  }
}

/** The first file entry of `offer` at or after `from`. */
function nextFileEntry(offer: Offer, from: number): Entry | undefined {
  for (let index = from; index < offer.entries.length; index++) {
    const entry = offer.entries[index] as Entry;
    if (entry.kind === 'file') return entry;
  }
  return undefined;
}

/** The CANCEL for a failure that is ours and carries its own code (a user's cancel, a local I/O error, a timeout). */
function cancelFor(failure: TransferError): Frame | undefined {
  const own = failure.failure === 'cancelled' || failure.failure === 'io' || failure.code === CANCEL_CODES.TIMEOUT;
  if (!own) return undefined;
  return { type: 'cancel', code: failure.code, reason: failure.message.slice(0, 1000) };
}

function ioError(entry: Entry, error: unknown): TransferError {
  const message = error instanceof Error ? error.message : String(error);
  return new TransferError('io', CANCEL_CODES.IO, `cannot write ${entry.path}: ${message}`, false);
}
