// `ferry send <file|dir|->`: offer a file, a folder or stdin to whoever types the code this prints. The code's number
// is a nameplate the hub hands out; its words are the SPAKE2 password (docs/transfer-protocol.md).
import { type Command, Option } from 'commander';
import QRCode from 'qrcode';
import { type ParsedCode, parseCode } from '../protocol/code.ts';
import { allocateCode, handshakeWithClaimer } from '../protocol/rendezvous.ts';
import { startSpake2 } from '../protocol/session.ts';
import type { Offer } from '../protocol/transfer.ts';
import { sendTransfer } from '../protocol/transfer-session.ts';
import { ExitCode } from './exit.ts';
import { DEFAULT_SERVER } from './peer-common.ts';
import {
  addTransferOptions,
  classifyFailure,
  describeTransport,
  finish,
  formatBytes,
  handshake,
  Interrupts,
  nodeScrypt,
  openTransport,
  positiveSeconds,
  reachHub,
  reportDone,
  type TransferEvent,
  type TransferFlags,
  TransferOutput,
} from './transfer-common.ts';
import { nodeSha256, type OfferSource, offerFor } from './transfer-files.ts';

interface SendOptions extends TransferFlags {
  code?: string;
  p2pTimeout: number;
}

export function registerSend(program: Command): void {
  const command = program
    .command('send')
    .description('send a file, a folder or stdin (-) to whoever runs `ferry receive` with the code this prints')
    .argument('<path>', 'a file, a folder, or - for stdin')
    .addOption(new Option('--code <code>', 'use this code (NUMBER-WORD-WORD) instead of a random one'))
    .addOption(
      new Option('--p2p-timeout <seconds>', 'how long to try a direct connection before using the relay')
        .default(5)
        .argParser(positiveSeconds('--p2p-timeout')),
    );
  addTransferOptions(command);
  command.action((path: string, options: SendOptions) => send(path, options));
}

export function describeOffer(offer: Offer): string {
  const files = offer.entries.filter((e) => e.kind === 'file').length;
  const folders = offer.entries.filter((e) => e.kind === 'directory').length;
  switch (offer.kind) {
    case 'stream':
      return "a stream (the sender's standard input, size unknown until the end)";
    case 'file':
      return `'${offer.name}' (${formatBytes(offer.totalSize ?? 0)})`;
    case 'directory':
      return `the folder '${offer.name}' (${files} file${files === 1 ? '' : 's'}, ${folders - 1} subfolder${folders === 2 ? '' : 's'}, ${formatBytes(offer.totalSize ?? 0)})`;
    default:
      return `${files} files (${offer.totalSize === null ? 'size unknown' : formatBytes(offer.totalSize)})`;
  }
}

export function offerEvent(offer: Offer): TransferEvent {
  return {
    event: 'offer',
    kind: offer.kind,
    name: offer.name,
    size: offer.totalSize,
    files: offer.entries.filter((e) => e.kind === 'file').length,
    folders: offer.entries.filter((e) => e.kind === 'directory').length,
  };
}

async function send(path: string, options: SendOptions): Promise<void> {
  const out: TransferOutput = new TransferOutput(options);
  const interrupts = new Interrupts(out);
  let source: OfferSource;
  try {
    source = await offerFor(path);
  } catch (error) {
    out.fail(ExitCode.Usage, 'bad_path', `cannot send '${path}': ${(error as Error).message}`);
  }
  for (const skipped of source.skipped) out.warn(`skipping ${skipped} (links and special files are not sent)`);
  let chosen: ParsedCode | undefined;
  try {
    chosen = options.code === undefined ? undefined : parseCode(options.code);
  } catch (error) {
    out.fail(ExitCode.Usage, 'bad_code', `--code: ${(error as Error).message}`);
  }

  const signaling = await reachHub(options, out);
  try {
    const { rendezvous, code } = await allocateCode(signaling, chosen);
    // scrypt (~150 ms) runs while we wait for the receiver.
    const spake2 = startSpake2('sender', code.code, nodeScrypt);
    spake2.catch(() => {});
    await announce(code.code, options, out);
    out.event(offerEvent(source.offer));
    const { keys, transport } = await handshakeWithClaimer(
      rendezvous,
      (attempt) => {
        if (attempt > 1) out.debug('the last claimer left before the key exchange; waiting for the receiver again');
        // A SPAKE2 run is single use: whoever claims next meets a fresh one.
        const run = attempt === 1 ? spake2 : startSpake2('sender', code.code, nodeScrypt);
        return handshake('sender', run, options, rendezvous, out);
      },
      () => out.say('The receiver is here; checking the code…'),
    );
    out.say(`Verification: ${keys.verification.words} (the receiver sees the same words)`);
    const channel = await openTransport({
      role: 'sender',
      agreed: transport,
      keys,
      rendezvous,
      flags: options,
      p2pTimeout: options.p2pTimeout,
      out,
    });
    rendezvous.detach();
    out.say(`${describeTransport(channel, options.server)}; offering ${describeOffer(source.offer)}`);
    out.event({ event: 'transport', transport: channel.transport });
    interrupts.transferring();
    const started = performance.now();
    let accepted = false;
    const result = await sendTransfer(channel, source.offer, {
      read: (index) => source.read(index),
      createHash: nodeSha256,
      signal: interrupts.signal,
      onAccepted: () => {
        accepted = true;
        out.say('Accepted; sending…');
      },
      onProgress: (progress) => {
        if (accepted) out.progress(progress);
      },
    });
    out.progress({ bytes: result.bytes, total: source.offer.totalSize }, true);
    reportDone(out, result, started, 'Sent', (single) =>
      single
        ? `the receiver verified SHA-256 ${single.sha256}`
        : `the receiver verified the SHA-256 of all ${result.files.length} files`,
    );
    await signaling.close();
    finish();
  } catch (error) {
    const { exit, code: word, message } = classifyFailure(error);
    out.fail(exit, word, message);
  }
}

async function announce(code: string, options: SendOptions, out: TransferOutput): Promise<void> {
  const base = options.server.replace(/\/+$/, '');
  const url = `${base}/#${code}`;
  const serverFlag = options.server === DEFAULT_SERVER ? '' : ` --server ${options.server}`;
  const command = `ferry receive ${code}${serverFlag}`;
  out.event({ event: 'code', code, command, url });
  if (out.json) return;
  out.say(`Code: ${code}`);
  out.say(`On the other device run:\n\n    ${command}\n\nor open ${url}\n`);
  // A QR code of the link, for a phone's camera (text blocks, no colours: it also survives a log file).
  out.say(await QRCode.toString(url, { type: 'utf8', errorCorrectionLevel: 'L' }));
}
