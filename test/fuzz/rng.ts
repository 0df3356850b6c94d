// A small seeded PRNG (mulberry32) and the mutations every generator shares, so that a failing input is reproduced
// from its seed and index alone: FERRY_FUZZ_SEED picks the run, each batch gets its own stream derived from it.

export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The stream of batch `index` of a run seeded `seed`: independent of every other batch, so one can be replayed. */
  static forBatch(seed: number, index: number): Rng {
    return new Rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** Mostly small sizes, sometimes large ones: fuzzers find more at the edges than in the middle. */
  size(max: number): number {
    const roll = this.int(10);
    if (roll < 6) return this.int(Math.min(16, max + 1));
    if (roll < 9) return this.int(Math.min(1024, max + 1));
    return this.int(max + 1);
  }
}

/** The seed and count of a run: FERRY_FUZZ_SEED (a number; random when unset), FERRY_FUZZ_COUNT. */
export function fuzzSettings(defaultCount: number): { seed: number; count: number } {
  const seedText = process.env.FERRY_FUZZ_SEED;
  const seed = seedText ? Number(seedText) >>> 0 : Math.floor(Math.random() * 0x1_0000_0000);
  const count = process.env.FERRY_FUZZ_COUNT ? Number(process.env.FERRY_FUZZ_COUNT) : defaultCount;
  if (!Number.isInteger(count) || count < 1) throw new Error(`FERRY_FUZZ_COUNT must be a positive integer`);
  return { seed, count };
}

// Bytes that parsers treat specially: NUL, CR, LF, TAB, DEL, the top of Latin-1, UTF-8 lead bytes, separators.
const SPECIAL_BYTES = [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x25, 0x2f, 0x3a, 0x3b, 0x3d, 0x5c, 0x7f, 0x80, 0xc0];
const SPECIAL_STRINGS = [
  '\r\n',
  '\r\n\r\n',
  '\n',
  '\r',
  '%',
  '%00',
  '%zz',
  '%E2%82%AC',
  '%F0%9F%98%80',
  '%E2%80%AE',
  '\u202e',
  '\u0000',
  '😀',
  'é',
  '..',
  '//',
  '?',
  '#',
  ';',
  ',',
  '"',
  '\\',
  '-1',
  '99999999999999999999',
  '0x10',
  '1e400',
];

/** A few byte-level mutations of `input`: flips, inserts, deletes, duplications, truncation, special bytes. */
export function mutateBytes(rng: Rng, input: Buffer, rounds = rng.range(1, 4)): Buffer {
  let out = Buffer.from(input);
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(8)) {
      case 0:
        if (out.length > 0) {
          const i = Math.min(at, out.length - 1);
          out[i] = (out[i] ?? 0) ^ (1 << rng.int(8));
        }
        break;
      case 1:
        out = Buffer.concat([out.subarray(0, at), Buffer.from([rng.pick(SPECIAL_BYTES)]), out.subarray(at)]);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), Buffer.from(rng.pick(SPECIAL_STRINGS)), out.subarray(at)]);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + rng.size(64)))]);
        break;
      case 4: {
        const len = rng.size(64);
        out = Buffer.concat([out.subarray(0, at + len), out.subarray(at, at + len), out.subarray(at)]);
        break;
      }
      case 5:
        out = out.subarray(0, at);
        break;
      case 6:
        out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.size(32)), out.subarray(at)]);
        break;
      default:
        if (out.length > 0) out[Math.min(at, out.length - 1)] = rng.next() & 0xff;
    }
  }
  return out;
}

/** A string-level mutation (the same operations, kept as UTF-8 text). */
export function mutateText(rng: Rng, input: string): string {
  return mutateBytes(rng, Buffer.from(input)).toString('utf8');
}

/** A JSON value that schemas do not expect: wrong types, edges of numbers, odd strings, nesting. */
export function oddJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(14)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -0, -1, 1.5, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, -1e-308, Number.MAX_SAFE_INTEGER]);
    case 3:
      return '';
    case 4:
      return rng.pick(SPECIAL_STRINGS).repeat(rng.range(1, 8));
    case 5:
      return 'x'.repeat(rng.pick([63, 64, 65, 128, 129, 256, 257, 4096, 4097, 70_000]));
    case 6:
      return String.fromCodePoint(...Array.from({ length: rng.range(1, 12) }, () => rng.pick(CODE_POINTS)));
    case 7: {
      // Nesting around the server's depth limit, and far beyond it.
      const levels = rng.pick([10, 63, 64, 65, 100, 200, 1500]);
      let value: unknown = rng.chance(0.5) ? 1 : {};
      for (let i = 0; i < levels; i++) value = rng.chance(0.5) ? [value] : { a: value };
      return value;
    }
    case 8:
      // Many values (around the hub's count limit) are cheap scalars; a few nested odd ones beside them.
      return rng.chance(0.3)
        ? Array.from({ length: rng.pick([600, 5000, 6000]) }, () => rng.int(10))
        : Array.from({ length: rng.int(4) }, () => (depth > 2 ? 1 : oddJson(rng, depth + 1)));
    case 9:
      return depth > 3
        ? {}
        : Object.fromEntries([
            ['__proto__', oddJson(rng, depth + 1)],
            ['constructor', 1],
          ]);
    case 10:
      return { type: rng.pick(['hello', 'join', 'message', 'offer', 'end', 'ping', 'toString']) };
    case 11:
      return rng.bytes(rng.size(48)).toString('latin1');
    case 12:
      return rng.bytes(rng.size(48)).toString('base64');
    default:
      return rng.next();
  }
}

const CODE_POINTS = [0x00, 0x01, 0x1f, 0x7f, 0x85, 0xa0, 0x202e, 0x2066, 0xfeff, 0xfffd, 0xd7ff, 0x1f600, 0x10ffff];

/** A structure-aware mutation of a JSON object: a field replaced, removed or added, or the type changed. */
export function mutateJson(rng: Rng, value: Record<string, unknown>): unknown {
  if (rng.chance(0.05)) return oddJson(rng);
  const out: Record<string, unknown> = { ...value };
  const keys = Object.keys(out);
  for (let r = rng.range(1, 3); r > 0; r--) {
    const key = rng.pick(keys.length > 0 ? keys : ['type']);
    switch (rng.int(5)) {
      case 0:
        delete out[key];
        break;
      case 1:
        out[rng.pick(['from', 'extra', 'rid', 'id', 'to', 'data', '', 'type'])] = oddJson(rng);
        break;
      case 2: {
        // A nested field of an object value.
        const inner = out[key];
        out[key] =
          typeof inner === 'object' && inner !== null && !Array.isArray(inner)
            ? mutateJson(rng, inner as Record<string, unknown>)
            : oddJson(rng);
        break;
      }
      default:
        out[key] = oddJson(rng);
    }
  }
  return out;
}

/** JSON text of `value`, sometimes damaged at the text level too (so the parser, not only the schema, is tried). */
export function jsonText(rng: Rng, value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return rng.chance(0.15) ? mutateText(rng, text) : text;
}

/** A short printable description of an input for a failure report. */
export function describeInput(input: Buffer | string, max = 400): string {
  const text = typeof input === 'string' ? input : input.toString('latin1');
  const shown = JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
  return `${shown} (${typeof input === 'string' ? Buffer.byteLength(input) : input.length} bytes)`;
}
