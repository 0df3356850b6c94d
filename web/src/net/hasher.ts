// Incremental SHA-256s that run in a worker (workers/sha256.ts) so hashing does not slow a transfer, with a bound on
// the bytes in flight so a slow hash holds the stream back instead of queueing memory. Two shapes: a StreamHasher for
// the relay screen's downloads, and hashes for a sending page's code transfers (transfer-session.ts's SettlingSha256).
// (A receiving page's code transfers are hashed by the service worker that saves them: screens/code.ts.)
// Where a worker cannot start, the hash runs here, on the page's thread.

import { type IncrementalSha256, Sha256 } from '../../../src/protocol/transfer.ts';
import type { SettlingSha256 } from '../../../src/protocol/transfer-session.ts';
import { Gatherer } from '../lib/gather.ts';

declare const FERRY_SHA256_WORKER: string;

const MAX_IN_FLIGHT = 8 * 1024 * 1024;
// A code transfer's frames are under 64 KiB: gathered into 1 MiB messages, the worker is posted to 16x less often (the
// bytes were copied for it anyway).
const BATCH_BYTES = 1024 * 1024;

type Reply = { type: 'ack'; bytes: number } | { type: 'digest'; id: number; hex: string };

/** One worker that hashes any number of streams, each under its own id. */
class HashWorker {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly digests = new Map<number, { resolve(hex: string): void; reject(error: Error): void }>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<Reply>) => {
      const message = event.data;
      if (message.type === 'ack') {
        this.inFlight -= message.bytes;
        if (this.inFlight <= MAX_IN_FLIGHT / 2) for (const resolve of this.waiting.splice(0)) resolve();
      } else {
        this.digests.get(message.id)?.resolve(message.hex);
        this.digests.delete(message.id);
      }
    };
    worker.onerror = () => {
      this.failure = new Error('the hashing worker failed');
      for (const pending of this.digests.values()) pending.reject(this.failure);
      this.digests.clear();
      for (const resolve of this.waiting.splice(0)) resolve();
    };
  }

  newId(): number {
    return this.nextId++;
  }

  update(id: number, chunk: Uint8Array): void {
    // A copy, transferred: the original is still on its way (to the download, or into a frame); posting a view
    // without transferring would clone its whole buffer anyway.
    this.hand(id, chunk.slice());
  }
  /** Posts bytes that are ours alone: their buffer moves to the worker, uncopied. */
  hand(id: number, owned: Uint8Array): void {
    this.worker.postMessage({ type: 'data', id, chunk: owned }, [owned.buffer]);
    this.inFlight += owned.length;
  }

  /** Resolves at once (undefined), unless too much is in flight: then once the worker has caught up. */
  room(): Promise<void> | undefined {
    if (this.inFlight <= MAX_IN_FLIGHT || this.failure) return undefined;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  digest(id: number): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'end', id });
    });
  }

  terminate(): void {
    this.worker.terminate();
  }
}

function startWorker(): HashWorker | undefined {
  try {
    return new HashWorker(new Worker(FERRY_SHA256_WORKER));
  } catch {
    return undefined;
  }
}

export interface StreamHasher {
  /** Resolves at once, unless too much is in flight: then once the worker has caught up. */
  update(chunk: Uint8Array): Promise<void> | undefined;
  /** The hex digest of everything given; ends the hasher. */
  digest(): Promise<string>;
  /** Give up (the transfer failed): stop the worker. */
  close(): void;
}

class LocalHasher implements StreamHasher {
  private readonly hash = new Sha256();
  update(chunk: Uint8Array): undefined {
    this.hash.update(chunk);
  }
  async digest(): Promise<string> {
    return this.hash.hex();
  }
  close(): void {}
}

class WorkerHasher implements StreamHasher {
  private readonly id: number;
  constructor(private readonly worker: HashWorker) {
    this.id = worker.newId();
  }
  update(chunk: Uint8Array): Promise<void> | undefined {
    this.worker.update(this.id, chunk);
    return this.worker.room();
  }
  close(): void {
    this.worker.terminate();
  }
  async digest(): Promise<string> {
    try {
      return await this.worker.digest(this.id);
    } finally {
      this.worker.terminate();
    }
  }
}

export function createHasher(): StreamHasher {
  const worker = startWorker();
  return worker ? new WorkerHasher(worker) : new LocalHasher();
}

class WorkerSha256 implements SettlingSha256 {
  private count = 0;
  private result: string | undefined;
  private readonly id: number;
  private readonly batches: Gatherer;
  constructor(private readonly worker: HashWorker) {
    const id = worker.newId();
    this.id = id;
    this.batches = new Gatherer(BATCH_BYTES, (batch) => worker.hand(id, batch));
  }
  get bytes(): number {
    return this.count;
  }
  update(bytes: Uint8Array): void {
    this.count += bytes.length;
    this.batches.push(bytes);
  }
  async settle(): Promise<void> {
    this.batches.flush();
    this.result ??= await this.worker.digest(this.id);
  }
  hex(): string {
    if (this.result === undefined) throw new Error('the SHA-256 was asked for before it settled');
    return this.result;
  }
}

/** The hashes of one code transfer, in one worker: what transfer-session.ts's createHash takes. */
export interface TransferHashes {
  /** A fresh hash per file; a plain one on this thread where no worker could start. */
  create(): IncrementalSha256;
  /** Resolves at once (undefined) unless the worker lags too far behind: read or save nothing more until then. */
  room(): Promise<void> | undefined;
  /** The transfer is over: stop the worker. */
  close(): void;
}

export function transferHashes(): TransferHashes {
  const worker = startWorker();
  if (!worker) {
    return { create: () => new Sha256(), room: () => undefined, close() {} };
  }
  return {
    create: () => new WorkerSha256(worker),
    room: () => worker.room(),
    close: () => worker.terminate(),
  };
}
