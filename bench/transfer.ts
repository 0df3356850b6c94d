// Code-transfer benchmarks, each side by side with what a user would pick instead, in the same run, on loopback:
//   1. P2P: 1 GiB `ferry send` → `ferry receive` (the built CLI, file to file) against a bare node-datachannel
//      sender/receiver pair in two processes, same chunking (64 KiB messages, 1 MiB high / 512 KiB low watermark),
//      file to file (it reads the file and writes the copy, as ferry does, but has no protocol and hashes nothing:
//      the target's baseline), and the same pair memory to memory, which shows what the data channel alone can do;
//   2. relay: the same with `--transport relay` through `ferry serve`, against
//      `openssl enc -aes-256-ctr -pbkdf2 < file | curl -T - piping-server | curl | openssl enc -d > file`
//      (openssl enc cannot stream an AEAD mode such as GCM, so CTR, without integrity, is its best offer), and against
//      the same pipeline with each end hashing the plaintext through `tee` and `openssl dgst -sha256`, which is the
//      verification ferry does before it reports done;
//   3. time from `ferry receive` start to the first byte of data on its stdout, P2P and relay.
// Throughput of ferry is the receiver's own timing of the transfer (offer → verified done, so it includes asking,
// disk reads and writes and both SHA-256s); the handshake is in (3). Baselines are timed from start to finish.
// Usage: node --import tsx bench/transfer.ts [--runs 3] [--mib 1024] [--ttfb 20] [--only p2p,relay,ttfb]
// Results (medians and ratios) go to stdout as Markdown; bench/README.md holds the latest.
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, openSync, readSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const CLI = join(ROOT, 'dist/cli/index.js');
const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const HIGH = 1024 * 1024;
const LOW = 512 * 1024;
const READ_BYTES = 1024 * 1024;

// ---- bare node-datachannel peer (child process mode) ------------------------------------------------------

type PeerMessage =
  | { kind: 'description'; sdp: string; type: string }
  | { kind: 'candidate'; candidate: string; mid: string }
  | { kind: 'result'; ms: number; bytes: number };

/** Native objects that JavaScript no longer references are collected, and their channels close with them. */
const keepAlive: unknown[] = [];

/**
 * `file`: the sender reads it and the receiver writes its copy there, as ferry does; none: memory to memory. `hash`:
 * the sender also computes the file's SHA-256 as it reads it, as ferry does (bench/web-code.ts's equal-work baseline).
 */
async function barePeer(role: 'sender' | 'receiver', total: number, file?: string, hash = false): Promise<void> {
  const { PeerConnection, cleanup } = await import('node-datachannel');
  const pc = new PeerConnection(role, { iceServers: [], bindAddress: '127.0.0.1' });
  keepAlive.push(pc);
  const send = (message: PeerMessage) => process.send?.(message);
  pc.onLocalDescription((sdp, type) => send({ kind: 'description', sdp, type }));
  // The offerer holds its candidates until the answer is applied, as ferry does (src/protocol/code-p2p.ts): otherwise
  // the answerer's DTLS handshake can beat its answer and libdatachannel fails it.
  let held: PeerMessage[] | undefined = role === 'sender' ? [] : undefined;
  pc.onLocalCandidate((candidate, mid) => {
    const message: PeerMessage = { kind: 'candidate', candidate, mid };
    if (held) held.push(message);
    else send(message);
  });
  process.on('message', (message: PeerMessage) => {
    if (message.kind === 'description') {
      pc.setRemoteDescription(message.sdp, message.type as 'offer');
      for (const m of held ?? []) send(m);
      held = undefined;
    } else if (message.kind === 'candidate') pc.addRemoteCandidate(message.candidate, message.mid);
  });
  const done = (ms: number, bytes: number) => {
    send({ kind: 'result', ms, bytes });
    setTimeout(() => {
      pc.close();
      cleanup();
      process.exit(0);
    }, 200);
  };
  if (role === 'receiver') {
    pc.onDataChannel((channel) => {
      keepAlive.push(channel);
      let bytes = 0;
      let started = 0;
      const out = file === undefined ? undefined : createWriteStream(file, { highWaterMark: READ_BYTES });
      channel.onMessage((data) => {
        if (started === 0) started = performance.now();
        bytes += (data as Buffer).length;
        out?.write(data as Buffer);
        if (bytes < total) return;
        if (out) out.end(() => done(performance.now() - started, bytes));
        else done(performance.now() - started, bytes);
      });
    });
    return;
  }
  const channel = pc.createDataChannel('bench');
  keepAlive.push(channel);
  let chunk = randomFillSync(Buffer.alloc(CHUNK));
  // From a file: 1 MiB reads into one buffer, sent as 64 KiB messages (the channel copies each one).
  const source = file === undefined ? undefined : { fd: openSync(file, 'r'), buffer: Buffer.alloc(READ_BYTES), at: 0 };
  const digest = hash ? createHash('sha256') : undefined;
  const next = (): Buffer => {
    if (!source) return chunk;
    if (source.at % READ_BYTES === 0) {
      const read = readSync(source.fd, source.buffer, 0, READ_BYTES, null);
      digest?.update(source.buffer.subarray(0, read));
      if (source.at + READ_BYTES >= total) digest?.digest();
    }
    chunk = source.buffer.subarray(source.at % READ_BYTES, (source.at % READ_BYTES) + CHUNK);
    source.at += CHUNK;
    return chunk;
  };
  channel.setBufferedAmountLowThreshold(LOW);
  // The receiver hangs up once it has everything.
  channel.onClosed(() => {
    pc.close();
    cleanup();
    process.exit(0);
  });
  channel.onOpen(() => {
    let sent = 0;
    const pump = () => {
      while (sent < total && channel.isOpen()) {
        channel.sendMessageBinary(next());
        sent += CHUNK;
        if (channel.bufferedAmount() > HIGH) return;
      }
    };
    channel.onBufferedAmountLow(pump);
    pump();
  });
}

async function runBare(total: number, files?: { from: string; to: string }): Promise<number> {
  const peers = (['sender', 'receiver'] as const).map((role) => {
    const file = files === undefined ? [] : [role === 'sender' ? files.from : files.to];
    return fork(SELF, ['--bare', role, String(total), ...file], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  });
  const [sender, receiver] = peers as [ChildProcess, ChildProcess];
  sender.on('message', (m: PeerMessage) => m.kind !== 'result' && receiver.send(m));
  receiver.on('message', (m: PeerMessage) => m.kind !== 'result' && sender.send(m));
  const result = await new Promise<PeerMessage & { kind: 'result' }>((resolve, reject) => {
    receiver.on('message', (m: PeerMessage) => m.kind === 'result' && resolve(m));
    receiver.once('exit', (code) => reject(new Error(`the bare receiver exited with ${code}`)));
    sender.once('exit', (code) => code !== 0 && reject(new Error(`the bare sender exited with ${code}`)));
  });
  await Promise.all(peers.map((p) => once(p, 'exit')));
  return (result.bytes / MiB / result.ms) * 1000;
}

// ---- harness --------------------------------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function run(command: string, args: string[], options: { stdout?: 'pipe' | 'ignore' } = {}): ChildProcess {
  return spawn(command, args, { stdio: ['pipe', options.stdout ?? 'pipe', 'pipe'] });
}

async function exited(child: ChildProcess, what: string): Promise<void> {
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${what} exited with ${code}`);
}

function lines(child: ChildProcess): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  let buffer = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
    let at = buffer.indexOf('\n');
    while (at >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      if (line.startsWith('{')) events.push(JSON.parse(line) as Record<string, unknown>);
      at = buffer.indexOf('\n');
    }
  });
  return events;
}

async function startServer(command: string[], banner: RegExp): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const check = (d: Buffer) => {
      out += d.toString();
      const match = banner.exec(out);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { url, child };
}

let codeNumber = 1;

/** One ferry transfer; resolves with the receiver's MiB/s (offer → done) and checks the hash. */
async function runFerry(server: string, file: string, sha: string, out: string, transport: string): Promise<number> {
  const code = `${codeNumber++}-orbit-zoo`;
  const common = ['--server', server, '--bind-address', '127.0.0.1', '--json'];
  const sender = run('node', [CLI, 'send', file, '--code', code, '--transport', transport, ...common], {
    stdout: 'ignore',
  });
  const receiver = run('node', [CLI, 'receive', code, '--out', out, '--yes', '--force', ...common]);
  const events = lines(receiver);
  let err = '';
  receiver.stderr?.on('data', (d) => {
    err += d;
  });
  await Promise.all([exited(sender, 'ferry send'), exited(receiver, `ferry receive: ${err}`)]);
  const done = events.find((e) => e.event === 'done');
  if (done?.sha256 !== sha) throw new Error(`hash mismatch: ${JSON.stringify(done)}`);
  if (done.transport !== (transport === 'auto' ? 'p2p' : transport)) throw new Error(`went ${done.transport}`);
  return (done.bytes as number) / MiB / (done.seconds as number);
}

/**
 * `openssl enc | curl -T -` → piping-server → `curl | openssl enc -d`; resolves with MiB/s, start to finish. With
 * `verify`, each end also hashes the plaintext as it streams by (`tee` into `openssl dgst -sha256`, as a user of these
 * tools would check the copy against the original), and the two digests must match: the work ferry's receiver does
 * before it says done.
 */
async function runPiping(
  server: string,
  file: string,
  sha: string,
  out: string,
  bytes: number,
  verify: boolean,
): Promise<number> {
  const path = `${server}/bench-${codeNumber++}`;
  const pass = 'pass:ferry-bench-password';
  const encrypt = `openssl enc -aes-256-ctr -pbkdf2 -pass ${pass}`;
  const copy = join(out, 'piping.bin');
  const digest = (side: string) => join(out, `piping-${side}.sha256`);
  // A FIFO and `wait`, not `>(…)`: the shell waits for the digest before it exits, so the timing includes it.
  const hashing = (side: string) =>
    `rm -f '${digest(side)}.fifo' && mkfifo '${digest(side)}.fifo' && { openssl dgst -sha256 -r < '${digest(side)}.fifo' > '${digest(side)}' & }`;
  const send = verify
    ? `${hashing('sent')} && tee '${digest('sent')}.fifo' < '${file}' | ${encrypt} | curl -sS -T - '${path}' > /dev/null; wait`
    : `${encrypt} -in '${file}' | curl -sS -T - '${path}' > /dev/null`;
  const receive = verify
    ? `${hashing('received')} && curl -sS '${path}' | ${encrypt} -d | tee '${digest('received')}.fifo' > '${copy}'; wait`
    : `curl -sS '${path}' | ${encrypt} -d -out '${copy}'`;
  const started = performance.now();
  const sender = spawn('bash', ['-c', send], { stdio: 'inherit' });
  const receiver = spawn('bash', ['-c', receive], { stdio: 'inherit' });
  await Promise.all([exited(sender, 'piping sender'), exited(receiver, 'piping receiver')]);
  const seconds = (performance.now() - started) / 1000;
  if (verify) {
    const [sent, received] = await Promise.all(
      ['sent', 'received'].map(async (side) => (await readFile(digest(side), 'utf8')).split(' ')[0]),
    );
    if (sent !== sha || received !== sha) throw new Error(`piping: digests ${sent} / ${received}, expected ${sha}`);
  }
  if ((await sha256(copy)) !== sha) throw new Error('piping: hash mismatch');
  return bytes / MiB / seconds;
}

/** Time from spawning `ferry receive --out -` to the first byte on its stdout, the sender already waiting. */
async function timeToFirstByte(server: string, file: string, transport: string): Promise<number> {
  const code = `${codeNumber++}-orbit-zoo`;
  const common = ['--server', server, '--bind-address', '127.0.0.1', '--json'];
  const sender = run('node', [CLI, 'send', file, '--code', code, '--transport', transport, ...common]);
  const senderEvents = lines(sender);
  while (!senderEvents.some((e) => e.event === 'code')) await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  const receiver = run('node', [CLI, 'receive', code, '--out', '-', '--yes', ...common]);
  await once(receiver.stdout as NodeJS.ReadableStream, 'data');
  const ms = performance.now() - started;
  receiver.stdout?.resume();
  await Promise.all([exited(sender, 'ferry send'), exited(receiver, 'ferry receive')]);
  return ms;
}

/** piping-server prints the port it was given, so give it a free one. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      mib: { type: 'string', default: '1024' },
      ttfb: { type: 'string', default: '20' },
      only: { type: 'string', default: 'p2p,relay,ttfb' },
    },
  });
  const runs = Number(values.runs);
  const bytes = Number(values.mib) * MiB;
  const only = new Set(values.only.split(','));
  process.stderr.write('building the CLI (npm run build)…\n');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
  const file = join(dir, 'payload.bin');
  const small = join(dir, 'small.bin');
  const out = join(dir, 'out');
  execFileSync('mkdir', ['-p', out]);
  const writer = createWriteStream(file);
  for (let left = bytes; left > 0; left -= 8 * MiB) {
    if (!writer.write(randomFillSync(Buffer.alloc(Math.min(8 * MiB, left))))) await once(writer, 'drain');
  }
  writer.end();
  await once(writer, 'finish');
  execFileSync('sh', ['-c', `head -c 1000000 '${file}' > '${small}'`]);
  const sha = await sha256(file);
  const ferry = await startServer(
    ['node', CLI, 'serve', '--host', '127.0.0.1', '--http-port', '0', '--stun-port', '0'],
    /listening on (http:\/\/\S+)/,
  );
  const pipingPort = await freePort();
  const piping = await startServer(
    [
      'node',
      join(ROOT, 'node_modules/piping-server/dist/src/index.js'),
      '--host',
      '127.0.0.1',
      '--http-port',
      String(pipingPort),
    ],
    /Listen HTTP on (\d+)/,
  );
  const report: string[] = [];
  const log = (line: string) => {
    report.push(line);
    process.stderr.write(`${line}\n`);
  };
  try {
    log(`# Code-transfer benchmark (${values.mib} MiB, ${runs} runs, medians)\n`);
    log(`node ${process.version}, ${(await import('node:os')).cpus().length} cores, loopback\n`);
    if (only.has('p2p')) {
      const ferryRates: number[] = [];
      const bareRates: number[] = [];
      const bareFileRates: number[] = [];
      const copy = join(out, 'bare.bin');
      for (let i = 0; i < runs; i++) {
        bareRates.push(await runBare(bytes));
        ferryRates.push(await runFerry(ferry.url, file, sha, out, 'auto'));
        bareFileRates.push(await runBare(bytes, { from: file, to: copy }));
        if ((await sha256(copy)) !== sha) throw new Error('bare pair: the copy differs');
        process.stderr.write(
          `  p2p run ${i + 1}: bare ${bareRates.at(-1)?.toFixed(0)} MiB/s, ferry ${ferryRates.at(-1)?.toFixed(0)} MiB/s, bare file to file ${bareFileRates.at(-1)?.toFixed(0)} MiB/s\n`,
        );
      }
      const f = median(ferryRates);
      const b = median(bareRates);
      const bf = median(bareFileRates);
      log('| P2P | MiB/s (median) | runs |');
      log('| --- | --- | --- |');
      log(
        `| \`ferry send\` → \`ferry receive\` (file to file, verified) | ${f.toFixed(1)} | ${ferryRates.map((r) => r.toFixed(0)).join(', ')} |`,
      );
      log(
        `| bare node-datachannel pair (memory to memory) | ${b.toFixed(1)} | ${bareRates.map((r) => r.toFixed(0)).join(', ')} |`,
      );
      log(
        `| bare node-datachannel pair, file to file (reads the file, writes the copy, no hash) | ${bf.toFixed(1)} | ${bareFileRates.map((r) => r.toFixed(0)).join(', ')} |`,
      );
      log(`\nRatio ferry / bare file to file: **${(f / bf).toFixed(2)}×** (target ≥ 0.8×)`);
      log(`Ratio ferry / bare memory to memory: ${(f / b).toFixed(2)}× (the data channel alone)\n`);
    }
    if (only.has('relay')) {
      const pipingUrl = `http://127.0.0.1:${piping.url}`;
      const ferryRates: number[] = [];
      const pipingRates: number[] = [];
      const verifiedRates: number[] = [];
      for (let i = 0; i < runs; i++) {
        pipingRates.push(await runPiping(pipingUrl, file, sha, out, bytes, false));
        ferryRates.push(await runFerry(ferry.url, file, sha, out, 'relay'));
        verifiedRates.push(await runPiping(pipingUrl, file, sha, out, bytes, true));
        process.stderr.write(
          `  relay run ${i + 1}: piping ${pipingRates.at(-1)?.toFixed(0)} MiB/s, ferry ${ferryRates.at(-1)?.toFixed(0)} MiB/s, piping verified ${verifiedRates.at(-1)?.toFixed(0)} MiB/s\n`,
        );
      }
      const f = median(ferryRates);
      const p = median(pipingRates);
      const v = median(verifiedRates);
      log('| relay | MiB/s (median) | runs |');
      log('| --- | --- | --- |');
      log(
        `| \`ferry send --transport relay\` → \`ferry serve\` → \`ferry receive\` (AES-256-GCM, verified) | ${f.toFixed(1)} | ${ferryRates.map((r) => r.toFixed(0)).join(', ')} |`,
      );
      log(
        `| \`openssl enc -aes-256-ctr\` \\| curl → piping-server 1.12.9 → curl \\| \`openssl enc -d\` | ${p.toFixed(1)} | ${pipingRates.map((r) => r.toFixed(0)).join(', ')} |`,
      );
      log(
        `| the same, each end also hashing the plaintext (\`tee\` → \`openssl dgst -sha256\`) | ${v.toFixed(1)} | ${verifiedRates.map((r) => r.toFixed(0)).join(', ')} |`,
      );
      log(`\nRatio ferry / piping+openssl: **${(f / p).toFixed(2)}×** (target ≥ 1.0×)`);
      log(`Ratio ferry / piping+openssl, both verified: **${(f / v).toFixed(2)}×**\n`);
    }
    if (only.has('ttfb')) {
      const n = Number(values.ttfb);
      log('| time from `ferry receive` start to first byte | p50 ms | min | max | runs |');
      log('| --- | --- | --- | --- | --- |');
      for (const transport of ['auto', 'relay']) {
        const times: number[] = [];
        for (let i = 0; i < n; i++) times.push(await timeToFirstByte(ferry.url, small, transport));
        log(
          `| ${transport === 'auto' ? 'P2P' : 'relay'} | ${median(times).toFixed(0)} | ${Math.min(...times).toFixed(0)} | ${Math.max(...times).toFixed(0)} | ${n} |`,
        );
      }
    }
  } finally {
    ferry.child.kill();
    piping.child.kill();
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${report.join('\n')}\n`);
}

const bareIndex = process.argv.indexOf('--bare');
if (bareIndex >= 0) {
  await barePeer(
    process.argv[bareIndex + 1] as 'sender' | 'receiver',
    Number(process.argv[bareIndex + 2]),
    process.argv[bareIndex + 3],
    process.argv[bareIndex + 4] === '--hash',
  );
} else {
  await main();
}
