import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CODE_SECRET_BITS,
  CODE_WORDLIST,
  generateCode,
  isValidCode,
  normalizeCode,
  parseCode,
} from '../../src/protocol/code.ts';
import { isProtocolError, type ProtocolErrorCode } from '../../src/protocol/errors.ts';

function rejects(input: string, code: ProtocolErrorCode, message?: RegExp): void {
  assert.throws(
    () => parseCode(input),
    (e) => isProtocolError(e, code) && (message === undefined || message.test(e.message)),
    `${JSON.stringify(input)} → ${code}`,
  );
}

describe('code phrases', () => {
  test('the wordlist: 2,048 distinct lowercase ASCII words, 3–8 letters, unique 4-letter prefixes', () => {
    assert.equal(CODE_WORDLIST.length, 2048);
    assert.equal(new Set(CODE_WORDLIST).size, 2048);
    assert.equal(new Set(CODE_WORDLIST.map((w) => w.slice(0, 4))).size, 2048);
    for (const word of CODE_WORDLIST) assert.match(word, /^[a-z]{3,8}$/);
    assert.equal(CODE_SECRET_BITS, 22);
  });

  test('generate: number-word-word, parseable, canonical, random', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const code = generateCode();
      assert.match(code.code, /^[1-9][0-9]{0,2}-[a-z]+-[a-z]+$/);
      assert.ok(code.number >= 1 && code.number <= 999);
      assert.deepEqual(parseCode(code.code), code);
      seen.add(code.code);
    }
    assert.ok(seen.size > 190, 'codes repeat far too often');
  });

  test('generate with a given number or range', () => {
    assert.equal(generateCode({ number: 42 }).number, 42);
    for (let i = 0; i < 50; i++) assert.ok(generateCode({ maxNumber: 3 }).number <= 3);
    assert.throws(() => generateCode({ maxNumber: 0 }), RangeError);
  });

  test('normalise: case, spaces, repeated separators, surrounding whitespace, leading zeros', () => {
    for (const input of [
      '7-orbit-frozen',
      '  7-orbit-frozen\n',
      '7-ORBIT-Frozen',
      '7 orbit frozen',
      '7  orbit\tfrozen',
      '7--orbit - frozen',
      '007-orbit-frozen',
    ]) {
      assert.equal(normalizeCode(input), '7-orbit-frozen', JSON.stringify(input));
    }
    assert.deepEqual(parseCode(' 12 Abandon Zoo '), { code: '12-abandon-zoo', number: 12, words: ['abandon', 'zoo'] });
    assert.equal(normalizeCode('0-abandon-zoo'), '0-abandon-zoo');
  });

  test('reject, each with a stable code and a helpful message', () => {
    rejects('', 'CODE_EMPTY');
    rejects('   \n', 'CODE_EMPTY');
    rejects('7-orbit', 'CODE_FORMAT', /number and 2 words/);
    rejects('7-orbit-frozen-extra', 'CODE_FORMAT');
    rejects('orbit-frozen-7', 'CODE_NUMBER', /starts with a number/);
    rejects('x7-orbit-frozen', 'CODE_NUMBER');
    rejects('1234567-orbit-frozen', 'CODE_NUMBER', /too long/);
    rejects('7-orbit-lantern', 'CODE_WORD', /"lantern" is not a code word/);
    rejects('7-orbit-froze', 'CODE_WORD', /did you mean "frozen"/);
    rejects('7-orbít-frozen', 'CODE_WORD');
    rejects('7_orbit_frozen', 'CODE_FORMAT');
    assert.equal(isValidCode('7-orbit-frozen'), true);
    assert.equal(isValidCode('7-orbit'), false);
  });
});
