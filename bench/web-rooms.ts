// Rooms benchmark: a file sent to a room member in the web app (two Chromium pages, the transfer protocol with its
// SHA-256 on both sides, the file read from disk and saved as a streamed download) against the rooms screen's own
// throughput test on the same pair of pages (zeros over a bare data channel, nothing read, hashed or saved): what the
// file path costs over the bare channel. Both are timed by this process from the click that starts them (Accept, or
// Start test) to the receiving page saying it has everything, so both include opening their data channel.
// Chromium gathers on every interface, so this runs itself in a loopback-only network namespace (as test/run.sh).
// Usage: node --import tsx bench/web-rooms.ts [--runs 5] [--mb 128]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { card, connected, nextDownload, roomLink, startRoomsRig, uniqueRoom } from '../test/helpers/rooms.ts';
import { median } from './lib/compare.ts';
import { describeMachine, loadAverage } from './lib/machine.ts';

if (!process.env.FERRY_TEST_NETNS) {
  const ns = process.getuid?.() === 0 ? ['--net'] : ['--net', '--map-root-user'];
  const self = [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  const quoted = self.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const result = spawnSync('unshare', [...ns, 'bash', '-c', `ip link set lo up && exec ${quoted}`], {
    stdio: 'inherit',
    env: { ...process.env, FERRY_TEST_NETNS: '1' },
  });
  process.exit(result.status ?? 1);
}

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, mb: { type: 'string', default: '128' } },
});
const RUNS = Number(args.runs);
const MB = Number(args.mb);
const BYTES = MB * 1_000_000;
const LIMIT_MS = 600_000;

async function fileRun(alice: Page, bob: Page, path: string): Promise<number> {
  const files = card(alice, 'Files');
  await files.getByLabel('File', { exact: true }).setInputFiles(path);
  await files.getByRole('button', { name: 'Send file' }).click();
  const incoming = bob.locator('article.file-transfer[data-direction="receive"]').first();
  const accept = incoming.getByRole('button', { name: 'Accept' });
  await accept.waitFor({ timeout: LIMIT_MS });
  const download = nextDownload(bob, LIMIT_MS);
  const start = performance.now();
  await accept.click();
  await incoming.getByRole('status').filter({ hasText: 'SHA-256 verified' }).waitFor({ timeout: LIMIT_MS });
  const ms = performance.now() - start;
  const saved = await download;
  if ((await saved.failure()) !== null) throw new Error(`the download failed: ${await saved.failure()}`);
  await saved.delete();
  return ms;
}

async function throughputRun(alice: Page, bob: Page): Promise<number> {
  const test = card(alice, 'Throughput test');
  await test.getByLabel('Megabytes').fill(String(MB));
  await test.getByLabel('Ordered delivery').setChecked(true);
  const status = card(bob, 'Throughput test').locator('p.status');
  // The last run's result must not count for this one.
  await status.evaluate((element) => {
    element.textContent = '';
  });
  const start = performance.now();
  await test.getByRole('button', { name: 'Start test' }).click();
  await status.filter({ hasText: /^Received/ }).waitFor({ timeout: LIMIT_MS });
  const ms = performance.now() - start;
  await card(alice, 'Throughput test').getByRole('status').filter({ hasText: /^Sent/ }).waitFor({ timeout: LIMIT_MS });
  return ms;
}

const rig = await startRoomsRig();
try {
  console.log(describeMachine());
  const path = join(rig.work, 'bench.bin');
  writeFileSync(path, randomBytes(BYTES));
  const link = roomLink(uniqueRoom('bench'));
  const alice = await rig.app(link);
  const bob = await rig.app(link);
  await Promise.all([connected(alice.page), connected(bob.page)]);
  const file: number[] = [];
  const bare: number[] = [];
  const loads: string[] = [];
  for (let run = 1; run <= RUNS; run++) {
    loads.push(loadAverage());
    // Alternating which goes first, so a change in the machine's load falls on both alike.
    const order = run % 2 ? ['file', 'bare'] : ['bare', 'file'];
    for (const which of order) {
      const ms =
        which === 'file' ? await fileRun(alice.page, bob.page, path) : await throughputRun(alice.page, bob.page);
      (which === 'file' ? file : bare).push(BYTES / 1000 / ms);
      process.stderr.write(`  run ${run}/${RUNS} ${which}: ${(BYTES / 1000 / ms).toFixed(1)} MB/s\n`);
    }
  }
  const [f, b] = [median(file), median(bare)];
  console.log(`\n### Rooms: ${MB} MB between two Chromium pages (median of ${RUNS} runs per side)\n`);
  console.log('| path | MB/s | every run |');
  console.log('|---|---:|---|');
  console.log(
    `| file to a member (transfer protocol, SHA-256, download) | ${f.toFixed(1)} | ${file.map((v) => v.toFixed(1)).join(' ')} |`,
  );
  console.log(
    `| throughput test (bare data channel, zeros) | ${b.toFixed(1)} | ${bare.map((v) => v.toFixed(1)).join(' ')} |`,
  );
  console.log(`\nfile / bare: ${(f / b).toFixed(2)}×; 1-minute load average at each run's start: ${loads.join(', ')}`);
} finally {
  await rig.close();
}
