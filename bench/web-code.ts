// The web app's code transfers against bare data channels with the same chunking, in the same Chromium (Debian's,
// through playwright-core), side by side and interleaved, on loopback only:
//   b2b: page → page through the code screen (P2P) vs. a bare two-page RTCDataChannel sender/receiver (64 KiB
//        messages read from the same File, 4 MiB high / 2 MiB low watermark, as the app's sender);
//   b2c: page → `ferry receive` vs. that bare page sender → a bare node-datachannel receiver (bench/transfer.ts --bare);
//   c2b: `ferry send` → page vs. a bare node-datachannel sender (the same file in 64 KiB messages, 1 MiB / 512 KiB, as
//        the CLI) → a bare page; and vs. the same pair doing the work Ferry must and nothing else (equal work): the
//        sender hashes the file as it reads it, the page has the app's service worker hash and save every message
//        (bench/lib/bare-page.js's bareReceiveSaved), and no framing, session or protocol.
// Every bare sender reads the file, as Ferry's do. Ferry's time runs from the receiver's Accept (a click, or --yes) to
// its verified end: both SHA-256s and the page's download (or the CLI's file) are in it; the bare receivers only count
// bytes in memory.
// Chromium gathers on every interface, so this runs itself in a loopback-only network namespace (unshare --net).
// Usage: node --import tsx bench/web-code.ts [--runs 3] [--mib 256] [--only b2b,b2c,c2b] [--profile]
// --profile prints where the app's pages spend each Ferry transfer (CPU self time of their main thread).
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { defaultConfig } from '../src/server/config.ts';
import { startServer } from '../src/server/index.ts';
import { createLogger } from '../src/server/log.ts';
import { type AppPage, launchBrowser, openApp } from '../test/helpers/browser.ts';
import { runCli } from '../test/helpers/ferry.ts';
import { Proc } from '../test/helpers/proc.ts';
import { within } from '../test/helpers/relay.ts';
import { buildWeb } from '../web/build.ts';
import { median } from './lib/compare.ts';
import { profilePage } from './lib/cpu-profile.ts';
import { describeMachine, loadAverage } from './lib/machine.ts';

const SELF = fileURLToPath(import.meta.url);
const TRANSFER = fileURLToPath(new URL('transfer.ts', import.meta.url));
const MiB = 1024 * 1024;

if (process.env.FERRY_BENCH_NETNS !== '1') {
  // Re-run inside a fresh network namespace with only loopback up: nothing Chromium gathers can leave the machine.
  const script = 'ip link set lo up && exec "$0" --import tsx "$@"';
  const child = spawnSync(
    'unshare',
    ['--net', 'bash', '-c', script, process.execPath, SELF, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, FERRY_BENCH_NETNS: '1' },
    },
  );
  process.exit(child.status ?? 1);
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    mib: { type: 'string', default: '256' },
    only: { type: 'string', default: 'b2b,b2c,c2b' },
    profile: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const bytes = Number(values.mib) * MiB;
const only = new Set(values.only.split(','));

type PeerMessage =
  | { kind: 'description'; sdp: string; type: string }
  | { kind: 'candidate'; candidate: string; mid: string }
  | { kind: 'result'; ms: number; bytes: number };

const BARE_PAGE = fileURLToPath(new URL('lib/bare-page.js', import.meta.url));

/** Loads the bare baseline (bench/lib/bare-page.js) into a page; evaluated, as the app's CSP refuses inline scripts. */
async function barePage(app: AppPage): Promise<Page> {
  await app.page.evaluate(`(() => {${readFileSync(BARE_PAGE, 'utf8')}\n})()`);
  return app.page;
}

/** Calls one of bare-page.js's functions in the page. */
function call<T>(page: Page, name: string, arg?: unknown): Promise<T> {
  return page.evaluate(
    ([fn, value]) =>
      (globalThis as unknown as Record<string, (v: unknown) => Promise<T>>)[fn as string]?.(value) as Promise<T>,
    [name, arg] as const,
  );
}

const offer = (page: Page) => call<string>(page, 'bareOffer');
const answer = (page: Page, sdp: string) => call<string>(page, 'bareAnswer', sdp);
const apply = (page: Page, message: PeerMessage) => call<void>(page, 'bareApply', message);
const receiveAll = (page: Page, total: number) => call<{ ms: number; bytes: number }>(page, 'bareReceive', total);
const pageSendsFile = (page: Page) => call<void>(page, 'bareSendFile');

const rate = (result: { ms: number; bytes: number }) => result.bytes / MiB / (result.ms / 1000);

async function main(): Promise<void> {
  const machine = describeMachine();
  const work = await mkdtemp(join(tmpdir(), 'ferry-bench-web-'));
  const file = join(work, `random-${values.mib}MiB.bin`);
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(MiB);
  const fileHash = createHash('sha256');
  for (let i = 0; i < bytes / MiB; i++) {
    writeSync(fd, randomFillSync(block));
    fileHash.update(block);
  }
  closeSync(fd);
  const fileSha = fileHash.digest('hex');
  await buildWeb(join(work, 'web'));
  const config = { ...defaultConfig(), host: '127.0.0.1', httpPort: 0, stunPort: 0, logLevel: 'silent' as const };
  const server = await startServer(config, createLogger('silent'), { webRoot: join(work, 'web') });
  const url = `http://127.0.0.1:${server.http.port}`;
  const browser: Browser = await launchBrowser({ webrtc: true });
  const page = (hash = '#/code') => openApp(browser, `${url}/${hash}`, undefined, { media: true });
  const cli = (args: string[]) => new Proc(runCli([...args, '--server', url, '--bind-address', '127.0.0.1', '--json']));
  const results: Record<string, { ferry: number[]; bare: number[] }> = {};
  // A bare pair whose ICE or DTLS fails now and then never delivers: such a run is retried, not waited for forever.
  const attempt = async (name: string, side: 'ferry' | 'bare', measure: () => Promise<number>) => {
    for (let tries = 1; ; tries++) {
      try {
        record(name, side, await within(measure(), 300_000, `${name} ${side}`));
        return;
      } catch (error) {
        process.stderr.write(`  [${name}] ${side} failed (${(error as Error).message.split('\n')[0]})\n`);
        if (tries === 3) throw error;
      }
    }
  };
  const record = (name: string, side: 'ferry' | 'bare', value: number) => {
    results[name] ??= { ferry: [], bare: [] };
    results[name][side].push(value);
    process.stderr.write(`  [${name}] ${side}: ${value.toFixed(1)} MiB/s (load ${loadAverage()})\n`);
  };

  const ferrySender = async (): Promise<{ app: AppPage; code: string }> => {
    const app = await page();
    await app.page.locator('input[type=file]:not([webkitdirectory])').setInputFiles(file);
    await app.page.getByRole('button', { name: 'Get a code' }).click();
    const code = app.page.locator('.code-value');
    await code.waitFor({ timeout: 60_000 });
    return { app, code: (await code.getAttribute('data-code')) ?? '' };
  };
  const ferryReceiverPage = async (
    code: string,
    opened: AppPage[],
    sender?: AppPage,
  ): Promise<{ app: AppPage; mibs: number }> => {
    const app = await page(`#${code}`);
    opened.push(app);
    const accept = app.page.getByRole('button', { name: 'Accept' });
    await accept.waitFor({ timeout: 60_000 });
    const download = app.page.waitForEvent('download', { timeout: 600_000 });
    const profiles = values.profile
      ? await Promise.all([
          profilePage(app.page, 'receiving page'),
          ...(sender ? [profilePage(sender.page, 'sending page')] : []),
        ])
      : [];
    // Timed in the page, from the click as the page gets it to the moment it shows "Received": Playwright's click
    // (actionability checks) and its polling of the status (every 500 ms after the first second, which rounded every
    // Ferry run up by 0-0.5 s) stay out of it, as the bare receivers time their channel in the page too.
    await app.page.evaluate(`(() => {
      const marks = (globalThis.benchMarks = {});
      document.addEventListener('click', () => (marks.clicked ??= performance.now()), { capture: true });
      const watch = new MutationObserver(() => {
        const shown = [...document.querySelectorAll('[role=status]')].some((e) => e.textContent.startsWith('Received'));
        if (shown && marks.received === undefined) marks.received = performance.now();
      });
      for (const status of document.querySelectorAll('[role=status]')) {
        watch.observe(status, { childList: true, characterData: true, subtree: true });
      }
    })()`);
    const started = performance.now();
    await accept.click();
    // Under the attempt's 300 s: a run that never gets there says what the page showed instead (an error, or progress
    // that stopped).
    await app.page
      .getByRole('status')
      .filter({ hasText: /^Received/ })
      .waitFor({ timeout: 280_000 })
      .catch(async () => {
        const shown = await app.page.getByRole('status').allTextContents();
        throw new Error(
          `no "Received" after 280 s; the receiving page shows: ${shown.join(' | ').replace(/\s+/g, ' ')}`,
        );
      });
    const wall = (performance.now() - started) / 1000;
    const marks = (await app.page.evaluate('globalThis.benchMarks')) as { clicked?: number; received?: number };
    if (marks.clicked === undefined || marks.received === undefined) throw new Error('the page timed nothing');
    const seconds = (marks.received - marks.clicked) / 1000;
    process.stderr.write(`  (timed in the page ${seconds.toFixed(2)} s; from Playwright ${wall.toFixed(2)} s)\n`);
    for (const stop of profiles) process.stderr.write(`${await stop()}\n`);
    if ((await (await download).failure()) !== null) throw new Error('the download failed');
    const transport = await app.page.locator('.badge').getAttribute('data-transport');
    if (transport !== 'p2p') throw new Error(`the transfer went over ${transport}`);
    return { app, mibs: bytes / MiB / seconds };
  };
  const bareNode = (role: 'sender' | 'receiver', from?: string, hash = false) =>
    fork(TRANSFER, ['--bare', role, String(bytes), ...(from ? [from] : []), ...(hash ? ['--hash'] : [])], {
      execArgv: ['--import', 'tsx'],
      stdio: 'inherit',
    });

  /** Closes what a measurement opened, whether it finished or not. */
  const closing = async (contexts: AppPage[], nodes: ChildProcess[] = []) => {
    for (const node of nodes) node.kill();
    await Promise.all(contexts.map((c) => c.context.close().catch(() => {})));
  };
  const bareB2B = async (): Promise<number> => {
    const [a, b] = [await page(), await page()];
    try {
      await Promise.all([barePage(a), barePage(b)]);
      await a.page.locator('#bench-file').setInputFiles(file);
      // Listening before the answer: the channel may open (and its event pass) before the next call would run.
      const received = receiveAll(b.page, bytes);
      const sdp = await offer(a.page);
      await apply(a.page, { kind: 'description', type: 'answer', sdp: await answer(b.page, sdp) });
      await pageSendsFile(a.page);
      return rate(await received);
    } finally {
      await closing([a, b]);
    }
  };
  const ferryB2B = async (): Promise<number> => {
    const sender = await ferrySender();
    const opened = [sender.app];
    try {
      const receiver = await ferryReceiverPage(sender.code, opened, sender.app);
      return receiver.mibs;
    } finally {
      await closing(opened);
    }
  };
  const bareB2C = async (): Promise<number> => {
    const a = await page();
    const node = bareNode('receiver');
    try {
      await barePage(a);
      await a.page.locator('#bench-file').setInputFiles(file);
      const result = new Promise<PeerMessage>((resolve) =>
        node.on('message', (m: PeerMessage) => m.kind === 'result' && resolve(m)),
      );
      let chain = Promise.resolve();
      node.on('message', (m: PeerMessage) => {
        if (m.kind !== 'result') chain = chain.then(() => apply(a.page, m));
      });
      node.send({ kind: 'description', type: 'offer', sdp: await offer(a.page) } satisfies PeerMessage);
      const sending = pageSendsFile(a.page);
      const got = (await result) as PeerMessage & { kind: 'result' };
      await sending;
      return rate(got);
    } finally {
      await closing([a], [node]);
    }
  };
  const ferryB2C = async (): Promise<number> => {
    const sender = await ferrySender();
    const out = await mkdtemp(join(work, 'out-'));
    const receiver = cli(['receive', sender.code, '--out', out, '--yes']);
    try {
      if ((await receiver.exited) !== 0) throw new Error(`ferry receive failed: ${receiver.err}`);
      const { seconds, transport } = receiver.event('done') as { seconds: number; transport: string };
      if (transport !== 'p2p') throw new Error(`the transfer went over ${transport}`);
      await sender.app.page.getByRole('status').filter({ hasText: /^Sent/ }).waitFor({ timeout: 60_000 });
      return bytes / MiB / seconds;
    } finally {
      await receiver.stop();
      await closing([sender.app]);
      await rm(out, { recursive: true, force: true });
    }
  };
  /** `saved`: the equal-work pair (the sender hashes, the page hashes and saves through the service worker). */
  const bareC2B = async (saved = false): Promise<number> => {
    const b = await page();
    const node = bareNode('sender', file, saved);
    try {
      await barePage(b);
      const download = saved ? b.page.waitForEvent('download', { timeout: 300_000 }) : undefined;
      // A run that fails first closes the page, which rejects this wait: that is no second failure.
      download?.catch(() => {});
      const received = saved
        ? call<{ ms: number; bytes: number; sha256: string }>(b.page, 'bareReceiveSaved', bytes)
        : receiveAll(b.page, bytes);
      let chain = Promise.resolve();
      node.on('message', (m: PeerMessage) => {
        if (m.kind === 'description') {
          chain = chain.then(async () => {
            const sdp = await answer(b.page, m.sdp);
            node.send({ kind: 'description', type: 'answer', sdp } satisfies PeerMessage);
          });
        } else if (m.kind === 'candidate') chain = chain.then(() => apply(b.page, m));
      });
      const result = await received;
      if (download && (await (await download).failure()) !== null) throw new Error('the bare download failed');
      if ('sha256' in result && result.sha256 !== fileSha) throw new Error('the bare page hashed something else');
      return rate(result);
    } finally {
      await closing([b], [node]);
    }
  };
  const ferryC2B = async (): Promise<number> => {
    const sender = cli(['send', file]);
    const opened: AppPage[] = [];
    try {
      await sender.waitFor('out', /"event":"code"/, 60_000);
      const code = String((JSON.parse(sender.out.split('\n')[0] ?? '{}') as { code?: string }).code);
      const receiver = await ferryReceiverPage(code, opened);
      if ((await sender.exited) !== 0) throw new Error(`ferry send failed: ${sender.err}`);
      return receiver.mibs;
    } finally {
      await sender.stop();
      await closing(opened);
    }
  };

  try {
    for (let run = 0; run < runs; run++) {
      if (only.has('b2b')) {
        await attempt('b2b', 'bare', bareB2B);
        await attempt('b2b', 'ferry', ferryB2B);
      }
      if (only.has('b2c')) {
        await attempt('b2c', 'bare', bareB2C);
        await attempt('b2c', 'ferry', ferryB2C);
      }
      if (only.has('c2b')) {
        await attempt('c2b', 'bare', () => bareC2B());
        await attempt('c2b=', 'bare', () => bareC2B(true));
        await attempt('c2b', 'ferry', ferryC2B);
      }
    }
  } finally {
    await browser.close();
    await server.close(0);
    await rm(work, { recursive: true, force: true });
  }

  const names: Record<string, [string, string]> = {
    b2b: ['page → page, code screen (P2P, verified, saved)', 'bare page → page data channel (memory)'],
    b2c: ['page → `ferry receive` (P2P, verified, saved)', 'bare page → bare node-datachannel (memory)'],
    c2b: ['`ferry send` → page (P2P, verified, saved)', 'bare node-datachannel (file) → bare page (memory)'],
    'c2b=': [
      '`ferry send` → page (P2P, verified, saved)',
      'the same bare pair, hashing both ends and saving (equal work)',
    ],
  };
  const lines = [
    `${values.mib} MiB, ${runs} interleaved run(s) per side; ${machine}; load average at the end ${loadAverage()}`,
    '',
    '| path | Ferry MiB/s (median) | bare MiB/s (median) | ratio | target | runs (Ferry \\| bare) |',
    '| --- | ---: | ---: | ---: | --- | --- |',
  ];
  let met = true;
  for (const [name, { bare }] of Object.entries(results)) {
    // The equal-work row compares the same Ferry runs with another baseline; it has no target of its own.
    const equalWork = name === 'c2b=';
    const ferry = results[equalWork ? 'c2b' : name]?.ferry ?? [];
    const ratio = median(ferry) / median(bare);
    if (ratio < 0.8 && !equalWork) met = false;
    const [ferryName, bareName] = names[name] as [string, string];
    lines.push(
      `| ${ferryName} vs ${bareName} | ${median(ferry).toFixed(1)} | ${median(bare).toFixed(1)} | ${ratio.toFixed(2)}× | ${equalWork ? '—' : '≥ 0.8×'} | ${ferry.map((v) => v.toFixed(1)).join(' ')} \\| ${bare.map((v) => v.toFixed(1)).join(' ')} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exitCode = met ? 0 : 1;
}

await main();
