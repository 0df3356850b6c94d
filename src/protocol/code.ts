// Code phrases: `<number>-<word>-<word>`, e.g. `7-orbit-frozen`. The number is the rendezvous (it picks the
// signaling room both sides join); the whole normalised code is the SPAKE2 password (see spake2.ts).
//
// Entropy. Each word is one of 2,048 (the BIP-39 English list: 3–8 lowercase ASCII letters, no two sharing their
// first four letters, chosen to be unambiguous and easy to type), so the two words carry 2 × 11 = 22 bits. The number
// adds ~10 bits (1–999) but it is public to the signaling server (it names the room), so we count only the 22 bits.
// That is enough because of the PAKE: an attacker who does not know the code learns nothing offline from a SPAKE2
// run (RFC 9382 §3, §7) — each guess costs one live protocol run, which the real peers see fail as "wrong code" and
// abort. One guess per transfer succeeds with probability 2^-22 ≈ 1 in 4.2 million. This is the same bargain
// magic-wormhole makes with its default two-word codes.

import { wordlist } from '@scure/bip39/wordlists/english.js';
import { ProtocolError } from './errors.ts';

/** The 2,048-word list codes are drawn from (BIP-39 English). Index = 11-bit value. */
export const CODE_WORDLIST: readonly string[] = Object.freeze([...wordlist]);
export const CODE_WORDS = 2;
/** Bits of secret in a generated code (the words only; the number is not secret). */
export const CODE_SECRET_BITS = CODE_WORDS * Math.log2(CODE_WORDLIST.length);
/** Generated numbers are 1..DEFAULT_MAX_NUMBER: short to type, and enough rooms for concurrent transfers. */
export const DEFAULT_MAX_NUMBER = 999;
/** The largest number a code may carry (six digits), so a pasted phone number is not silently accepted. */
export const MAX_CODE_NUMBER = 999_999;

const WORD_INDEX: ReadonlyMap<string, number> = new Map(CODE_WORDLIST.map((word, index) => [word, index]));
const BY_PREFIX: ReadonlyMap<string, string> = new Map(CODE_WORDLIST.map((word) => [word.slice(0, 4), word]));

export interface ParsedCode {
  /** Canonical form: decimal number without leading zeros, lowercase words, single hyphens. The SPAKE2 password. */
  readonly code: string;
  /** The rendezvous number (picks the signaling room). */
  readonly number: number;
  readonly words: readonly string[];
}

/** Uniform integer in [0, bound) from the platform CSPRNG, by rejection sampling (no modulo bias). */
function randomBelow(bound: number): number {
  if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 32) throw new RangeError('bound out of range');
  const limit = 2 ** 32 - (2 ** 32 % bound);
  const buf = new Uint32Array(1);
  for (;;) {
    globalThis.crypto.getRandomValues(buf);
    const value = buf[0] as number;
    if (value < limit) return value % bound;
  }
}

export interface GenerateCodeOptions {
  /** Use this rendezvous number instead of a random one (e.g. one the server handed out). */
  number?: number;
  /** Random numbers are drawn from 1..maxNumber (default 999). */
  maxNumber?: number;
}

/** A fresh code with crypto-random words (and number, unless one is given). */
export function generateCode(options: GenerateCodeOptions = {}): ParsedCode {
  const maxNumber = options.maxNumber ?? DEFAULT_MAX_NUMBER;
  if (!Number.isInteger(maxNumber) || maxNumber < 1 || maxNumber > MAX_CODE_NUMBER) {
    throw new RangeError(`maxNumber must be an integer in 1..${MAX_CODE_NUMBER}`);
  }
  const number = options.number ?? 1 + randomBelow(maxNumber);
  checkNumber(number, String(number));
  const words: string[] = [];
  for (let i = 0; i < CODE_WORDS; i++) words.push(CODE_WORDLIST[randomBelow(CODE_WORDLIST.length)] as string);
  return { code: [number, ...words].join('-'), number, words };
}

function checkNumber(number: number, shown: string): void {
  if (!Number.isSafeInteger(number) || number < 0 || number > MAX_CODE_NUMBER) {
    throw new ProtocolError('CODE_NUMBER', `the number "${shown}" must be 0..${MAX_CODE_NUMBER}`);
  }
}

/**
 * Parses what a person typed or pasted: surrounding whitespace, upper case, spaces or several hyphens between the
 * parts and leading zeros in the number are all accepted and normalised. Anything else is a ProtocolError with code
 * CODE_EMPTY, CODE_FORMAT, CODE_NUMBER or CODE_WORD and a message that says how to fix it.
 */
export function parseCode(input: string): ParsedCode {
  const trimmed = input.trim();
  if (trimmed === '') throw new ProtocolError('CODE_EMPTY', 'no code given: expected something like "7-orbit-frozen"');
  const parts = trimmed.toLowerCase().split(/[\s-]+/);
  if (parts.length !== 1 + CODE_WORDS) {
    throw new ProtocolError(
      'CODE_FORMAT',
      `"${trimmed}" is not a code: expected a number and ${CODE_WORDS} words, like "7-orbit-frozen"`,
    );
  }
  const [numberText, ...words] = parts as [string, ...string[]];
  if (!/^[0-9]{1,6}$/.test(numberText)) {
    throw new ProtocolError(
      'CODE_NUMBER',
      /^[0-9]+$/.test(numberText)
        ? `the number "${numberText}" is too long (at most 6 digits)`
        : `a code starts with a number, not "${numberText}" (expected something like "7-orbit-frozen")`,
    );
  }
  const number = Number.parseInt(numberText, 10);
  checkNumber(number, numberText);
  for (const word of words) {
    if (WORD_INDEX.has(word)) continue;
    const guess = BY_PREFIX.get(word.slice(0, 4));
    const hint = guess !== undefined && guess !== word ? ` (did you mean "${guess}"?)` : '';
    throw new ProtocolError('CODE_WORD', `"${word}" is not a code word${hint}; check the code and type it again`);
  }
  return { code: [number, ...words].join('-'), number, words };
}

/** The canonical form of a code (throws like parseCode). */
export function normalizeCode(input: string): string {
  return parseCode(input).code;
}

export function isValidCode(input: string): boolean {
  try {
    parseCode(input);
    return true;
  } catch {
    return false;
  }
}
