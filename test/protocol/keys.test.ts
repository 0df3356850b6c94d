import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromHex, toHex } from '../../src/protocol/bytes.ts';
import { CODE_WORDLIST } from '../../src/protocol/code.ts';
import { isProtocolError } from '../../src/protocol/errors.ts';
import {
  base32,
  canonicalFingerprint,
  deriveSessionKeys,
  fingerprintsFromSdp,
  fingerprintVerificationString,
  signFingerprint,
  verifyFingerprint,
} from '../../src/protocol/keys.ts';

const KE = fromHex('0e0672dc86f8e45565d338b0540abe69');
const OTHER_KE = fromHex('642f05c473c2cd79909f9a841e2f30a7');
const FP_SENDER =
  'sha-256 12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0';
const FP_ATTACKER =
  'sha-256 AA:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0';

function sdpWith(fingerprint: string): string {
  return [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    `a=fingerprint:${fingerprint}`,
    'a=setup:actpass',
    'a=mid:0',
    'a=sctp-port:5000',
    '',
  ].join('\r\n');
}

describe('session keys', () => {
  test('deterministic: the same Ke gives the same keys on both sides', () => {
    assert.deepEqual(deriveSessionKeys(KE), deriveSessionKeys(KE.slice()));
  });

  test('every derived value is distinct, and all change with Ke', () => {
    const keys = deriveSessionKeys(KE);
    const secrets = [keys.fingerprintMacKey, keys.relay.senderToReceiver.key, keys.relay.receiverToSender.key].map(
      toHex,
    );
    assert.equal(new Set(secrets).size, 3);
    for (const secret of [keys.fingerprintMacKey, keys.relay.senderToReceiver.key, keys.relay.receiverToSender.key]) {
      assert.equal(secret.length, 32);
    }
    assert.notEqual(keys.relay.senderToReceiver.path, keys.relay.receiverToSender.path);
    const other = deriveSessionKeys(OTHER_KE);
    assert.notEqual(toHex(other.fingerprintMacKey), toHex(keys.fingerprintMacKey));
    assert.notEqual(toHex(other.relay.senderToReceiver.key), toHex(keys.relay.senderToReceiver.key));
    assert.notEqual(other.relay.senderToReceiver.path, keys.relay.senderToReceiver.path);
    assert.notEqual(other.verification.words, keys.verification.words);
  });

  test('relay paths: "/" + 32 base32 characters (160 bits)', () => {
    const { relay } = deriveSessionKeys(KE);
    for (const { path } of [relay.senderToReceiver, relay.receiverToSender]) assert.match(path, /^\/[a-z2-7]{32}$/);
  });

  test('verification string: three code words and six digits', () => {
    const { verification } = deriveSessionKeys(KE);
    const words = verification.words.split(' ');
    assert.equal(words.length, 3);
    for (const word of words) assert.ok(CODE_WORDLIST.includes(word));
    assert.match(verification.digits, /^\d{3} \d{3}$/);
  });

  test('base32 matches RFC 4648 §10 test vectors (lowercase, unpadded)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [input, output] of vectors) assert.equal(base32(new TextEncoder().encode(input)), output);
  });
});

describe('DTLS fingerprint authentication', () => {
  const { fingerprintMacKey } = deriveSessionKeys(KE);

  test('canonical form: lowercase hash name, uppercase hex; SDP prefix accepted', () => {
    assert.equal(canonicalFingerprint(`a=fingerprint:SHA-256 ${FP_SENDER.slice(8).toLowerCase()}`), FP_SENDER);
    assert.throws(
      () => canonicalFingerprint('md5 12:34'),
      (e) => isProtocolError(e, 'FINGERPRINT_FORMAT'),
    );
    assert.throws(
      () => canonicalFingerprint('sha-256 zz:34'),
      (e) => isProtocolError(e, 'FINGERPRINT_FORMAT'),
    );
  });

  test('fingerprintsFromSdp finds every fingerprint line', () => {
    assert.deepEqual(fingerprintsFromSdp(sdpWith(FP_SENDER)), [FP_SENDER]);
    assert.deepEqual(
      fingerprintsFromSdp(`${sdpWith(FP_SENDER)}a=fingerprint:${FP_ATTACKER}\r\n`),
      [FP_ATTACKER, FP_SENDER].sort(),
    );
  });

  test('the genuine SDP verifies', () => {
    const tag = signFingerprint(fingerprintMacKey, 'sender', fingerprintsFromSdp(sdpWith(FP_SENDER)));
    assert.match(tag, /^[0-9a-f]{64}$/);
    verifyFingerprint(fingerprintMacKey, 'sender', fingerprintsFromSdp(sdpWith(FP_SENDER.toLowerCase())), tag);
  });

  test('a signaling server that swaps the fingerprint in the SDP is caught', () => {
    const tag = signFingerprint(fingerprintMacKey, 'sender', fingerprintsFromSdp(sdpWith(FP_SENDER)));
    assert.throws(
      () => verifyFingerprint(fingerprintMacKey, 'sender', fingerprintsFromSdp(sdpWith(FP_ATTACKER)), tag),
      (e) => isProtocolError(e, 'FINGERPRINT_MISMATCH'),
    );
    // …or that adds a second fingerprint next to the genuine one.
    const both = fingerprintsFromSdp(`${sdpWith(FP_SENDER)}a=fingerprint:${FP_ATTACKER}\r\n`);
    assert.throws(
      () => verifyFingerprint(fingerprintMacKey, 'sender', both, tag),
      (e) => isProtocolError(e, 'FINGERPRINT_MISMATCH'),
    );
  });

  test('a tag made without the session key, a reflected tag, or garbage is refused', () => {
    const forged = signFingerprint(deriveSessionKeys(OTHER_KE).fingerprintMacKey, 'sender', FP_ATTACKER);
    assert.throws(
      () => verifyFingerprint(fingerprintMacKey, 'sender', FP_ATTACKER, forged),
      (e) => isProtocolError(e, 'FINGERPRINT_MISMATCH'),
    );
    const receiverTag = signFingerprint(fingerprintMacKey, 'receiver', FP_SENDER);
    assert.throws(
      () => verifyFingerprint(fingerprintMacKey, 'sender', FP_SENDER, receiverTag),
      (e) => isProtocolError(e, 'FINGERPRINT_MISMATCH'),
    );
    for (const junk of ['', 'zz', '00'.repeat(32)]) {
      assert.throws(
        () => verifyFingerprint(fingerprintMacKey, 'sender', FP_SENDER, junk),
        (e) => isProtocolError(e, 'FINGERPRINT_MISMATCH'),
      );
    }
  });

  test('fingerprint-pair verification string is order-independent and pair-specific', () => {
    assert.deepEqual(
      fingerprintVerificationString(FP_SENDER, FP_ATTACKER),
      fingerprintVerificationString(FP_ATTACKER, FP_SENDER),
    );
    const third = FP_SENDER.replace('12:34', '12:35');
    assert.notDeepEqual(
      fingerprintVerificationString(FP_SENDER, FP_ATTACKER),
      fingerprintVerificationString(FP_SENDER, third),
    );
  });
});
