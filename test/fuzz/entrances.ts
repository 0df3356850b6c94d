// Every fuzzed entrance, by name, with the count each gets on every `npm test` (small: all of them together take
// well under a minute here). bench/fuzz.ts runs the same ones for long.
import { compatEntrance } from './compat.ts';
import { h2cEntrance } from './h2c.ts';
import type { Entrance } from './harness.ts';
import { http1Entrance } from './http1.ts';
import { hubEntrance } from './hub.ts';
import { pipeEntrance } from './pipe.ts';
import { stunEntrance } from './stun.ts';

export const ENTRANCES: ReadonlyArray<{ entrance: Entrance; testCount: number }> = [
  { entrance: http1Entrance, testCount: 1500 },
  { entrance: h2cEntrance, testCount: 600 },
  { entrance: pipeEntrance, testCount: 200 },
  { entrance: hubEntrance, testCount: 1000 },
  { entrance: compatEntrance, testCount: 1000 },
  { entrance: stunEntrance, testCount: 5000 },
];
