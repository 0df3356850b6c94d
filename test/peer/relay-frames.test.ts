// The relay's Node cipher (node:crypto) writes and reads exactly the stream format of the WebCrypto default.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { nodeAead } from '../../src/peer/relay-frames.ts';
import { decryptBytes, encryptBytes } from '../../src/protocol/stream-cipher.ts';

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
