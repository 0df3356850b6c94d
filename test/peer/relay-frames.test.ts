// The relay's Node cipher (node:crypto) writes and reads exactly the stream format of the WebCrypto default, also
// when it seals a record from parts and decrypts pieces handed over without a copy.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { nodeAead } from '../../src/peer/relay-frames.ts';
import { decryptBytes, encryptBytes, StreamDecryptor, StreamEncryptor } from '../../src/protocol/stream-cipher.ts';

test('node:crypto and WebCrypto streams are interchangeable, and tampering fails under both', async () => {
  const key = randomBytes(32);
  const plain = randomBytes(200_000);
  const byNode = await encryptBytes(key, plain, { aead: nodeAead, concurrency: 1 });
  const byWeb = await encryptBytes(key, plain);
  assert.deepEqual(Buffer.from(await decryptBytes(key, byNode)), plain);
  assert.deepEqual(Buffer.from(await decryptBytes(key, byWeb, { aead: nodeAead })), plain);
  const tampered = byWeb.slice();
  tampered[1000] = (tampered[1000] as number) ^ 1;
  await assert.rejects(decryptBytes(key, tampered, { aead: nodeAead }), { code: 'CIPHER_TAMPERED' });
});

test('sealing from parts and decrypting owned pieces give the same plaintext, in any cut', async () => {
  const key = randomBytes(32);
  const plain = randomBytes(300_000);
  // The encryptor gets odd-sized pieces (records straddle them), the way a frame header and its data arrive.
  const encryptor = await StreamEncryptor.create(key, { aead: nodeAead, concurrency: 1 });
  const sealed: Uint8Array[] = [];
  for (let at = 0; at < plain.length; at += 9 + 65_527) {
    sealed.push(...(await encryptor.push(plain.subarray(at, at + 9))));
    sealed.push(...(await encryptor.push(plain.subarray(at + 9, at + 9 + 65_527))));
  }
  sealed.push(...(await encryptor.finish()));
  const stream = Buffer.concat(sealed);
  assert.deepEqual(Buffer.from(await decryptBytes(key, stream)), plain);
  for (const cut of [1000, 65_536, 70_001]) {
    const decryptor = new StreamDecryptor(key, { aead: nodeAead, concurrency: 1 });
    const out: Uint8Array[] = [];
    // Each piece is a fresh copy handed over (owned), as a socket's reads are.
    for (let at = 0; at < stream.length; at += cut)
      out.push(...(await decryptor.push(stream.slice(at, at + cut), true)));
    out.push(...(await decryptor.finish()));
    assert.deepEqual(Buffer.concat(out), plain, `cut ${cut}`);
  }
});
