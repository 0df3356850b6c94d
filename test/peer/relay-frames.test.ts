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

test('pushSync opens records where they lie in one reused read buffer, and names every attack as push() does', async () => {
  const key = randomBytes(32);
  const plain = randomBytes(400_000);
  const stream = Buffer.from(await encryptBytes(key, plain, { aead: nodeAead, concurrency: 1 }));
  const readBuffer = Buffer.alloc(300_000);
  /** Feeds the stream in reads of `cut` bytes through the same buffer, overwritten after each read, as a socket's. */
  const syncDecrypt = async (bytes: Buffer, cut: number) => {
    const decryptor = new StreamDecryptor(key, { aead: nodeAead, concurrency: 1 });
    const out: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += cut) {
      const n = bytes.copy(readBuffer, 0, at, Math.min(bytes.length, at + cut));
      for (const piece of decryptor.pushSync(readBuffer.subarray(0, n))) out.push(Buffer.from(piece));
      readBuffer.fill(0xaa);
    }
    await decryptor.finish();
    return Buffer.concat(out);
  };
  for (const cut of [1, 1000, 65_536, 65_556, 70_001, 262_144]) {
    assert.deepEqual(await syncDecrypt(stream, cut), plain, `cut ${cut}`);
  }
  // Records: a 22-byte header, then 4-byte length words each followed by 65,536 + 16 bytes (the last shorter).
  const record = (i: number) => stream.subarray(22 + i * 65_556, 22 + (i + 1) * 65_556);
  const count = Math.ceil(plain.length / 65_536);
  const cases: [string, Buffer][] = [
    ['CIPHER_TAMPERED', Buffer.from(stream.map((b, i) => (i === 100_000 ? b ^ 1 : b)))],
    [
      'CIPHER_REORDERED',
      Buffer.concat([stream.subarray(0, 22), record(1), record(0), stream.subarray(22 + 2 * 65_556)]),
    ],
    ['CIPHER_DUPLICATED', Buffer.concat([stream.subarray(0, 22 + 2 * 65_556), record(1)])],
    ['CIPHER_TRUNCATED', stream.subarray(0, 22 + (count - 1) * 65_556)],
    ['CIPHER_TRUNCATED', stream.subarray(0, stream.length - 5)],
    ['CIPHER_TRAILING_DATA', Buffer.concat([stream, Buffer.of(1)])],
    ['CIPHER_BAD_HEADER', Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n\r\n'), stream])],
  ];
  for (const [code, bytes] of cases) {
    for (const cut of [7_777, 300_000]) {
      await assert.rejects(syncDecrypt(bytes, cut), { code }, `${code}, cut ${cut}`);
    }
  }
});
