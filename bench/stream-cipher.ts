// Throughput of the relay stream cipher (src/protocol/stream-cipher.ts): encrypt, decrypt, and both through Web
// TransformStreams, over an in-memory buffer (no I/O), for a few concurrency settings.
// Run: node --import tsx bench/stream-cipher.ts [MiB=256]

import {
  createDecryptStream,
  createEncryptStream,
  StreamDecryptor,
  StreamEncryptor,
} from '../src/protocol/stream-cipher.ts';

const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 256) * MiB;
const piece = 64 * 1024; // what a socket or file read typically hands over
const key = new Uint8Array(32).fill(7);
const source = new Uint8Array(piece).map((_, i) => i & 0xff);

function rate(bytes: number, ms: number): string {
  return `${((bytes / MiB / ms) * 1000).toFixed(0)} MiB/s`;
}

async function encryptAll(concurrency: number): Promise<Uint8Array[]> {
  const encryptor = await StreamEncryptor.create(key, { concurrency });
  const out: Uint8Array[] = [];
  for (let done = 0; done < total; done += piece) out.push(...(await encryptor.push(source)));
  out.push(...(await encryptor.finish()));
  return out;
}

for (const concurrency of (process.env.CONC ?? '1,2,4,8').split(',').map(Number)) {
  let started = performance.now();
  const sealed = await encryptAll(concurrency);
  const encMs = performance.now() - started;
  // Re-chunk the ciphertext into 16 KiB pieces, as TCP might deliver it.
  const decryptor = new StreamDecryptor(key, { concurrency });
  started = performance.now();
  let plainBytes = 0;
  for (const record of sealed) {
    for (let at = 0; at < record.length; at += 16384) {
      for (const p of await decryptor.push(record.subarray(at, at + 16384))) plainBytes += p.length;
    }
  }
  for (const p of await decryptor.finish()) plainBytes += p.length;
  const decMs = performance.now() - started;
  if (plainBytes !== total) throw new Error('length mismatch');
  console.log(`concurrency ${concurrency}: encrypt ${rate(total, encMs)}, decrypt ${rate(total, decMs)}`);
}

// Both ends chained through TransformStreams (encrypt → decrypt), as the CLI would pipe a file.
{
  let sent = 0;
  const readable = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      controller.enqueue(source.slice());
      sent += piece;
    },
  });
  const started = performance.now();
  let received = 0;
  const reader = readable.pipeThrough(createEncryptStream(key)).pipeThrough(createDecryptStream(key)).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.length;
  }
  const ms = performance.now() - started;
  if (received !== total) throw new Error('length mismatch');
  console.log(`TransformStream encrypt→decrypt pipeline (default concurrency): ${rate(total, ms)} end to end`);
}
