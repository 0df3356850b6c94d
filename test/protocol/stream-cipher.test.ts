import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { concatBytes, randomBytes } from '../../src/protocol/bytes.ts';
import { isProtocolError, type ProtocolErrorCode } from '../../src/protocol/errors.ts';
import {
  createDecryptStream,
  createEncryptStream,
  decryptBytes,
  encryptBytes,
  STREAM_HEADER_BYTES,
  STREAM_RECORD_HEADER_BYTES,
  STREAM_TAG_BYTES,
  StreamDecryptor,
  StreamEncryptor,
} from '../../src/protocol/stream-cipher.ts';

const KEY = new Uint8Array(32).map((_, i) => i + 1);
const CHUNK = 1024; // small records keep the attack tests fast; the default (64 KiB) is covered below

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

/** Splits a ciphertext into its header and records (test-side parser, independent of the decryptor). */
function split(ciphertext: Uint8Array): { header: Uint8Array; records: Uint8Array[] } {
  const header = ciphertext.subarray(0, STREAM_HEADER_BYTES);
  const records: Uint8Array[] = [];
  let at = STREAM_HEADER_BYTES;
  while (at < ciphertext.length) {
    const word = new DataView(ciphertext.buffer, ciphertext.byteOffset + at, 4).getUint32(0);
    const length = STREAM_RECORD_HEADER_BYTES + (word & 0x7fffffff);
    records.push(ciphertext.subarray(at, at + length));
    at += length;
  }
  return { header, records };
}

async function rejects(ciphertext: Uint8Array, code: ProtocolErrorCode, pieces = 1): Promise<void> {
  const decryptor = new StreamDecryptor(KEY);
  const step = Math.ceil(ciphertext.length / pieces) || 1;
  await assert.rejects(
    async () => {
      for (let at = 0; at < ciphertext.length; at += step) await decryptor.push(ciphertext.subarray(at, at + step));
      await decryptor.finish();
    },
    (error) => {
      assert.ok(isProtocolError(error), `not a ProtocolError: ${String(error)}`);
      assert.equal(error.code, code, error.message);
      return true;
    },
  );
}

describe('stream cipher — round trips', () => {
  const sizes = [0, 1, 15, 16, 17, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK - 7, 5 * CHUNK, 7 * CHUNK + 333];
  for (const size of sizes) {
    test(`${size} bytes (chunk ${CHUNK})`, async () => {
      const plain = pattern(size);
      const sealed = await encryptBytes(KEY, plain, { chunkSize: CHUNK });
      const records = Math.floor(size / CHUNK) + 1;
      assert.equal(
        sealed.length,
        STREAM_HEADER_BYTES + size + records * (STREAM_RECORD_HEADER_BYTES + STREAM_TAG_BYTES),
      );
      assert.deepEqual(await decryptBytes(KEY, sealed), plain);
    });
  }

  test('default 64 KiB chunks: 0 bytes, exact multiples and odd sizes', async () => {
    for (const size of [0, 65536, 3 * 65536, 3 * 65536 + 5]) {
      const plain = pattern(size);
      assert.deepEqual(await decryptBytes(KEY, await encryptBytes(KEY, plain)), plain);
    }
  });

  test('arbitrary input and ciphertext chunking (including 1-byte pieces) gives the same plaintext', async () => {
    const plain = pattern(6 * CHUNK + 123);
    for (const seed of [1, 2, 3, 4, 5]) {
      let state = seed;
      const rand = (n: number) => {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        return state % n;
      };
      const encryptor = await StreamEncryptor.create(KEY, { chunkSize: CHUNK, concurrency: 1 + rand(6) });
      const sealedParts: Uint8Array[] = [];
      for (let at = 0; at < plain.length; ) {
        const n = 1 + rand(3 * CHUNK);
        sealedParts.push(...(await encryptor.push(plain.subarray(at, at + n))));
        if (rand(5) === 0) sealedParts.push(...(await encryptor.flush()));
        at += n;
      }
      sealedParts.push(...(await encryptor.finish()));
      const sealed = concatBytes(...sealedParts);
      const decryptor = new StreamDecryptor(KEY, { concurrency: 1 + rand(6) });
      const out: Uint8Array[] = [];
      for (let at = 0; at < sealed.length; ) {
        const n = seed === 1 ? 1 : 1 + rand(2 * CHUNK + 100);
        out.push(...(await decryptor.push(sealed.subarray(at, at + n))));
        at += n;
      }
      out.push(...(await decryptor.finish()));
      assert.deepEqual(concatBytes(...out), plain, `seed ${seed}`);
    }
  });

  test('the encryptor does not keep references to caller buffers', async () => {
    const encryptor = await StreamEncryptor.create(KEY, { chunkSize: CHUNK });
    const input = pattern(CHUNK * 2);
    const expected = input.slice();
    const parts = [...(await encryptor.push(input))];
    input.fill(0);
    parts.push(...(await encryptor.finish()));
    assert.deepEqual(await decryptBytes(KEY, concatBytes(...parts)), expected);
  });

  test('two encryptions of the same data differ (per-stream salt) and both decrypt', async () => {
    const plain = pattern(3000);
    const one = await encryptBytes(KEY, plain, { chunkSize: CHUNK });
    const two = await encryptBytes(KEY, plain, { chunkSize: CHUNK });
    assert.notDeepEqual(one, two);
    assert.deepEqual(await decryptBytes(KEY, two), plain);
  });

  test('Web TransformStream form round-trips through pipeThrough', async () => {
    const plain = pattern(5 * 65536 + 77);
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < plain.length; at += 10000) controller.enqueue(plain.slice(at, at + 10000));
        controller.close();
      },
    });
    const out: Uint8Array[] = [];
    const reader = source.pipeThrough(createEncryptStream(KEY)).pipeThrough(createDecryptStream(KEY)).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      out.push(value);
    }
    assert.deepEqual(concatBytes(...out), plain);
  });

  test('the TransformStream errors on a tampered stream', async () => {
    const sealed = await encryptBytes(KEY, pattern(3 * CHUNK), { chunkSize: CHUNK });
    sealed[sealed.length - 5] = (sealed[sealed.length - 5] as number) ^ 1;
    const reader = new Blob([sealed]).stream().pipeThrough(createDecryptStream(KEY)).getReader();
    await assert.rejects(
      async () => {
        for (;;) if ((await reader.read()).done) break;
      },
      (e) => isProtocolError(e, 'CIPHER_TAMPERED'),
    );
  });
});

describe('stream cipher — attacks are detected, each with its own code', () => {
  const plainSize = 6 * CHUNK + 100; // 7 records: 6 full + a short last one
  let sealed: Uint8Array;
  const fresh = async () => {
    sealed ??= await encryptBytes(KEY, pattern(plainSize), { chunkSize: CHUNK });
    return sealed.slice();
  };

  test('flipping any single byte (header, record header, ciphertext, tag) is caught', async () => {
    const base = await fresh();
    const { records } = split(base);
    const spots = [0, 4, 5, 10, STREAM_HEADER_BYTES + 1, STREAM_HEADER_BYTES + 7, STREAM_HEADER_BYTES + 500];
    spots.push(base.length - 1, base.length - 20, base.length - (records.at(-1) as Uint8Array).length + 2);
    for (const spot of spots) {
      const bad = base.slice();
      bad[spot] = (bad[spot] as number) ^ 0x01;
      const decryptor = new StreamDecryptor(KEY);
      await assert.rejects(
        async () => {
          await decryptor.push(bad);
          await decryptor.finish();
        },
        (e) => isProtocolError(e) && e.code.startsWith('CIPHER_'),
        `flip at ${spot}`,
      );
    }
    await rejects(flip(base, STREAM_HEADER_BYTES + 4 + 100, 0x40), 'CIPHER_TAMPERED');
    // A salt byte: a different record key, so every record fails.
    await rejects(flip(base, 10, 0x40), 'CIPHER_TAMPERED');
    // The tag of the last record.
    await rejects(flip(base, base.length - 1), 'CIPHER_TAMPERED');
  });

  test('a wrong key is CIPHER_TAMPERED', async () => {
    await assert.rejects(decryptBytes(new Uint8Array(32), await fresh()), (e) => isProtocolError(e, 'CIPHER_TAMPERED'));
  });

  test('dropping the last record (truncation at a record boundary) is CIPHER_TRUNCATED', async () => {
    const { header, records } = split(await fresh());
    await rejects(concatBytes(header, ...records.slice(0, -1)), 'CIPHER_TRUNCATED');
    await rejects(concatBytes(header, ...records.slice(0, 2)), 'CIPHER_TRUNCATED', 3);
  });

  test('cutting inside a record, inside the header or to nothing is CIPHER_TRUNCATED', async () => {
    const base = await fresh();
    await rejects(base.subarray(0, base.length - 1), 'CIPHER_TRUNCATED');
    await rejects(base.subarray(0, STREAM_HEADER_BYTES + 600), 'CIPHER_TRUNCATED', 4);
    await rejects(base.subarray(0, STREAM_HEADER_BYTES + 2), 'CIPHER_TRUNCATED');
    await rejects(base.subarray(0, 10), 'CIPHER_TRUNCATED');
    await rejects(new Uint8Array(0), 'CIPHER_TRUNCATED');
  });

  test('marking an earlier record as the last one (truncation by flag) is CIPHER_TRUNCATED', async () => {
    const { header, records } = split(await fresh());
    const forged = (records[2] as Uint8Array).slice();
    forged[0] = (forged[0] as number) | 0x80;
    await rejects(concatBytes(header, records[0] as Uint8Array, records[1] as Uint8Array, forged), 'CIPHER_TRUNCATED');
  });

  test('swapping two records is CIPHER_REORDERED', async () => {
    const { header, records } = split(await fresh());
    const [r0, r1, r2, r3, ...rest] = records as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, ...Uint8Array[]];
    await rejects(concatBytes(header, r0, r2, r1, r3, ...rest), 'CIPHER_REORDERED');
  });

  test('repeating a record is CIPHER_DUPLICATED', async () => {
    const { header, records } = split(await fresh());
    const [r0, r1, r2, ...rest] = records as [Uint8Array, Uint8Array, Uint8Array, ...Uint8Array[]];
    await rejects(concatBytes(header, r0, r1, r1, r2, ...rest), 'CIPHER_DUPLICATED');
    await rejects(concatBytes(header, r0, r0, r1, r2, ...rest), 'CIPHER_DUPLICATED', 7);
  });

  test('appending anything after the last record is CIPHER_TRAILING_DATA', async () => {
    const base = await fresh();
    const { records } = split(base);
    await rejects(concatBytes(base, Uint8Array.of(0)), 'CIPHER_TRAILING_DATA');
    await rejects(concatBytes(base, records[0] as Uint8Array), 'CIPHER_TRAILING_DATA', 5);
    await rejects(concatBytes(base, base), 'CIPHER_TRAILING_DATA');
  });

  test('splicing records from another stream under the same key is caught (per-stream salt)', async () => {
    const other = split(await encryptBytes(KEY, pattern(plainSize), { chunkSize: CHUNK }));
    const { header, records } = split(await fresh());
    await rejects(concatBytes(header, records[0] as Uint8Array, ...other.records.slice(1)), 'CIPHER_TAMPERED');
  });

  test('a forged huge record length is refused before it is buffered', async () => {
    const { header } = split(await fresh());
    const bogus = Uint8Array.of(0x7f, 0xff, 0xff, 0xff);
    await rejects(concatBytes(header, bogus), 'CIPHER_TAMPERED');
  });

  test('garbage or a wrong version is CIPHER_BAD_HEADER', async () => {
    await rejects(new TextEncoder().encode('HTTP/1.1 404 Not Found\r\n\r\nnope nope nope'), 'CIPHER_BAD_HEADER');
    const wrongVersion = await fresh();
    wrongVersion[4] = 9;
    await rejects(wrongVersion, 'CIPHER_BAD_HEADER');
  });

  test('overlapping calls are refused (CIPHER_STATE) instead of interleaving records', async () => {
    const encryptor = await StreamEncryptor.create(KEY, { chunkSize: CHUNK });
    const first = encryptor.push(pattern(4 * CHUNK));
    await assert.rejects(encryptor.push(pattern(10)), (e) => isProtocolError(e, 'CIPHER_STATE'));
    await first;
    const rest = await encryptor.finish();
    assert.ok(rest.length > 0);
  });

  test('a failed decryptor stays failed; keys must be 32 bytes', async () => {
    const decryptor = new StreamDecryptor(KEY);
    await assert.rejects(decryptor.push(new Uint8Array(64)), (e) => isProtocolError(e, 'CIPHER_BAD_HEADER'));
    await assert.rejects(decryptor.push(new Uint8Array(1)), (e) => isProtocolError(e, 'CIPHER_STATE'));
    assert.throws(
      () => new StreamDecryptor(randomBytes(16)),
      (e) => isProtocolError(e, 'CIPHER_BAD_KEY'),
    );
    await assert.rejects(StreamEncryptor.create(randomBytes(31)), (e) => isProtocolError(e, 'CIPHER_BAD_KEY'));
  });
});

function flip(bytes: Uint8Array, at: number, mask = 0x01): Uint8Array {
  const out = bytes.slice();
  out[at] = (out[at] as number) ^ mask;
  return out;
}
