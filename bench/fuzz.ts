// The long fuzz run (issue 15): the generators of test/fuzz, many inputs per entrance, each entrance against a fresh
// `ferry serve` process with an honest client beside it. Reports inputs/s, crashes, findings, internal errors and
// the honest relay transfer's SHA-256; exits 1 if any entrance failed.
//
//   node --import tsx bench/fuzz.ts [--count 1000000] [--only http1,h2c,pipe,hub,compat,stun] [--seed N]
//
// Run it in a loopback-only network namespace like the tests:
//   unshare --net --map-root-user bash -c 'ip link set lo up && node --import tsx bench/fuzz.ts --count 100000'
import { parseArgs } from 'node:util';
import { ENTRANCES } from '../test/fuzz/entrances.ts';
import { failures, runFuzz } from '../test/fuzz/harness.ts';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '1000000' }, only: { type: 'string' }, seed: { type: 'string' } },
});
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) {
  console.error(`--count must be a positive whole number, got '${values.count}'`);
  process.exit(2);
}
const only = values.only?.split(',');
const unknown = only?.filter((name) => !ENTRANCES.some((e) => e.entrance.name === name));
if (unknown?.length) {
  console.error(`unknown entrance ${unknown.join(', ')}; known: ${ENTRANCES.map((e) => e.entrance.name).join(', ')}`);
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 0x1_0000_0000) : Number(values.seed) >>> 0;

console.log(`seed ${seed}, ${count.toLocaleString('en')} inputs per entrance\n`);
console.log(
  '| entrance | inputs | seconds | inputs/s | crashes | findings | internal errors | honest rounds (failed) | honest SHA-256 equal |',
);
console.log('| --- | --: | --: | --: | --: | --: | --: | --: | --- |');
let failed = false;
for (const { entrance } of ENTRANCES) {
  if (only && !only.includes(entrance.name)) continue;
  let lastReport = performance.now();
  const report = await runFuzz(entrance, {
    seed,
    count,
    onProgress(done) {
      if (performance.now() - lastReport < 30_000) return;
      lastReport = performance.now();
      console.error(`  ${entrance.name}: ${done.toLocaleString('en')} of ${count.toLocaleString('en')}`);
    },
  });
  const problems = failures(report);
  failed ||= problems.length > 0;
  const rate = Math.round(report.inputs / report.seconds);
  const sha = report.honestSha256 ? report.honestSha256.sent === report.honestSha256.received : false;
  console.log(
    `| ${entrance.name} | ${report.inputs.toLocaleString('en')} | ${report.seconds.toFixed(1)} | ${rate.toLocaleString('en')} | ${report.exited === null ? 0 : 1} | ${report.findings} | ${report.internalErrors.length} | ${report.honestRounds} (${report.honestFailures.length}) | ${sha ? 'yes' : 'NO'} |`,
  );
  for (const problem of problems.slice(0, 10)) console.error(`  ${entrance.name}: ${problem.slice(0, 2000)}`);
}
process.exit(failed ? 1 : 0);
