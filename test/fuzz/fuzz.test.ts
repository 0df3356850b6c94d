// The fuzz suite (issue 15): each entrance of `ferry serve` (run as its own process, so a crash is an exit) takes a
// seeded stream of structure-aware hostile inputs while an honest client on another address moves data beside it.
// Each test asserts that every answer was a proper refusal, nothing was logged as an internal error, the honest
// work succeeded (relay transfer SHA-256 equal), and afterwards the server still answers and holds nothing.
// FERRY_FUZZ_SEED replays a run (the seed is printed on failure); FERRY_FUZZ_COUNT sets the inputs per entrance.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ENTRANCES } from './entrances.ts';
import { failures, runFuzz } from './harness.ts';
import { fuzzSettings } from './rng.ts';

describe('fuzzing every entrance', () => {
  for (const { entrance, testCount } of ENTRANCES) {
    const { seed, count } = fuzzSettings(testCount);
    test(`${entrance.name}: ${count} hostile inputs (seed ${seed}), an honest client beside them`, {
      timeout: 120_000,
    }, async () => {
      const report = await runFuzz(entrance, { seed, count });
      assert.deepEqual(failures(report), [], `FERRY_FUZZ_SEED=${seed} FERRY_FUZZ_COUNT=${count} reproduces this run`);
      assert.equal(report.inputs, count);
      assert.ok(report.honestRounds > 0);
      assert.equal(report.honestSha256?.received, report.honestSha256?.sent);
    });
  }
});
