import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromBase64Url, fromHex, toBase64Url, toHex } from '../../src/protocol/bytes.ts';

test('base64url (unpadded) matches Node and round-trips every length 0..70', () => {
  for (let length = 0; length <= 70; length++) {
    const bytes = new Uint8Array(length).map((_, i) => (i * 37 + length) & 0xff);
    const encoded = toBase64Url(bytes);
    assert.equal(encoded, Buffer.from(bytes).toString('base64url'));
    assert.deepEqual(fromBase64Url(encoded), bytes);
  }
  for (const bad of ['a', 'ab=c', 'a+b/', 'AB']) assert.throws(() => fromBase64Url(bad), TypeError, bad);
});

test('hex round-trips and rejects junk', () => {
  assert.equal(toHex(Uint8Array.of(0, 15, 255)), '000fff');
  assert.deepEqual(fromHex('000fFF'), Uint8Array.of(0, 15, 255));
  assert.throws(() => fromHex('abc'), TypeError);
  assert.throws(() => fromHex('zz'), TypeError);
});
