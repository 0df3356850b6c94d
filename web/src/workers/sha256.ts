// SHA-256 of a received stream, computed beside the page rather than in it: on the page's thread the hash halved the
// receive speed (measured: 26 MB/s instead of 65-75 MB/s over the relay), here it runs on another core. The page
// posts chunks in order and one "end"; each chunk is acknowledged so the page can bound what is in flight.
import { Sha256 } from '../../../src/protocol/transfer.ts';

type Incoming = { type: 'data'; chunk: Uint8Array } | { type: 'end' };

declare const self: {
  onmessage: ((event: MessageEvent<Incoming>) => void) | null;
  postMessage(message: unknown): void;
};

let hash = new Sha256();

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'data') {
    hash.update(message.chunk);
    self.postMessage({ type: 'ack', bytes: message.chunk.length });
  } else {
    self.postMessage({ type: 'digest', hex: hash.hex(), bytes: hash.bytes });
    hash = new Sha256();
  }
};
