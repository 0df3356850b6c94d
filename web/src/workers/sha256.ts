// SHA-256 of received or sent streams, computed beside the page rather than in it: on the page's thread the hash
// halved the receive speed (measured: 26 MB/s instead of 65-75 MB/s over the relay), here it runs on another core, in
// WebAssembly (hash-wasm: about twice @noble's JavaScript here) where the browser allows it. The page posts each
// stream's chunks in order and one "end", tagged with the stream's id (several hashes may run at once); each chunk is
// acknowledged so the page can bound what is in flight.
import { type Hash, newHash } from './wasm-sha256.ts';

type Incoming = { type: 'data'; id: number; chunk: Uint8Array } | { type: 'end'; id: number };

declare const self: {
  onmessage: ((event: MessageEvent<Incoming>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

const hashes = new Map<number, Promise<Hash>>();
// Creating a WebAssembly hash is asynchronous: messages are handled one after another, in order.
let chain = Promise.resolve();

async function handle(message: Incoming): Promise<void> {
  let hash = hashes.get(message.id);
  if (!hash) {
    hash = newHash();
    hashes.set(message.id, hash);
  }
  if (message.type === 'data') {
    const { chunk } = message;
    (await hash).update(chunk);
    self.postMessage({ type: 'ack', bytes: chunk.length });
  } else {
    hashes.delete(message.id);
    self.postMessage({ type: 'digest', id: message.id, hex: (await hash).hex() });
  }
}

self.onmessage = (event) => {
  chain = chain.then(() => handle(event.data));
};
