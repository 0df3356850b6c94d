// An incremental SHA-256 that runs in a worker (workers/sha256.ts) so hashing does not slow the transfer, with a
// bound on the bytes in flight so a slow hash holds the stream back instead of queueing memory. Where a worker cannot
// start, the hash runs here, on the page's thread.
import { Sha256 } from '../../../src/protocol/transfer.ts';

declare const FERRY_SHA256_WORKER: string;

const MAX_IN_FLIGHT = 8 * 1024 * 1024;

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
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private result: ((hex: string) => void) | undefined;
  private failed: ((error: Error) => void) | undefined;

  constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent<{ type: 'ack'; bytes: number } | { type: 'digest'; hex: string }>) => {
      const message = event.data;
      if (message.type === 'ack') {
        this.inFlight -= message.bytes;
        if (this.inFlight <= MAX_IN_FLIGHT / 2) {
          this.drained?.();
          this.drained = undefined;
        }
      } else {
        this.result?.(message.hex);
        worker.terminate();
      }
    };
    worker.onerror = () => this.failed?.(new Error('the hashing worker failed'));
  }

  update(chunk: Uint8Array): Promise<void> | undefined {
    // A copy, transferred: the original chunk is still on its way to the download.
    const copy = chunk.slice();
    this.worker.postMessage({ type: 'data', chunk: copy }, [copy.buffer]);
    this.inFlight += copy.length;
    if (this.inFlight <= MAX_IN_FLIGHT) return undefined;
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  close(): void {
    this.worker.terminate();
  }

  digest(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.result = resolve;
      this.failed = reject;
      this.worker.postMessage({ type: 'end' });
    });
  }
}

export function createHasher(): StreamHasher {
  try {
    return new WorkerHasher(new Worker(FERRY_SHA256_WORKER));
  } catch {
    return new LocalHasher();
  }
}
