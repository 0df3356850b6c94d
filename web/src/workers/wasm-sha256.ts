// The incremental SHA-256 both workers use (the hashing worker, and the service worker for what it saves): WebAssembly
// through hash-wasm, or the JavaScript one where WebAssembly is switched off (some hardened browsers).
import { createSHA256, type IHasher } from 'hash-wasm';
import { Sha256 } from '../../../src/protocol/transfer.ts';

export interface Hash {
  update(chunk: Uint8Array): unknown;
  /** The digest as 64 lowercase hex digits (once, at the end). */
  hex(): string;
}

export async function newHash(): Promise<Hash> {
  let wasm: IHasher;
  try {
    wasm = await createSHA256();
  } catch {
    return new Sha256();
  }
  return { update: (chunk) => wasm.update(chunk), hex: () => wasm.digest('hex') };
}
