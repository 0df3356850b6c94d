// `ferry receive CODE`: meet the sender that printed CODE, see what it offers, accept (asked, or --yes) and save it
// under DIR — or write it to stdout when the sender sent a stream (unless stdout is a terminal) or with --out -. Nothing is overwritten without
// --force, and nothing partial is left behind (transfer-files.ts stages everything until DONE checked out).
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { type Command, Option } from 'commander';
import { type ParsedCode, parseCode } from '../protocol/code.ts';
import { claimCode } from '../protocol/rendezvous.ts';
import { startSpake2 } from '../protocol/session.ts';
import type { Offer } from '../protocol/transfer.ts';
import { type Decision, receiveTransfer, TransferError } from '../protocol/transfer-session.ts';
import { ExitCode } from './exit.ts';
import { describeOffer, offerEvent } from './send.ts';
import { printable } from './terminal.ts';
import {
  addTransferOptions,
  classifyFailure,
  deadline,
  describeTransport,
  finish,
  handshake,
  Interrupts,
  nodeScrypt,
  openTransport,
  reachHub,
  reportDone,
  seconds,
  type TransferFlags,
  TransferOutput,
} from './transfer-common.ts';
import { DiskSink, existing, nodeSha256, StdoutSink } from './transfer-files.ts';

interface ReceiveOptions extends TransferFlags {
  out: string;
  yes: boolean;
  force: boolean;
  timeout: number;
}

export function registerReceive(program: Command): void {
  const command = program
    .command('receive')
    .description('receive what `ferry send` offers under CODE')
    .argument('<code>', 'the code the sender shows, e.g. 7-orbit-lantern')
    .addOption(new Option('--out <dir>', 'folder to save into, or - for stdout').default('.'))
    .addOption(new Option('--yes', 'accept the offer without asking').default(false))
    .addOption(new Option('--force', 'overwrite files and merge into folders that already exist').default(false))
    .addOption(
      new Option('--timeout <seconds>', 'give up when the sender sends nothing for this long (0: never)')
        .argParser(seconds('--timeout'))
        .default(30),
    );
  addTransferOptions(command);
  command.action((code: string, options: ReceiveOptions) => receive(code, options));
}

async function ask(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(printable(question))).trim());
  } finally {
    prompt.close();
  }
}

async function receive(input: string, options: ReceiveOptions): Promise<void> {
  // JSON lines go to stdout, unless the received bytes do (--out -): then to stderr.
  const out: TransferOutput = new TransferOutput(options, options.out === '-' ? process.stderr : process.stdout);
  const interrupts = new Interrupts(out);
  let code: ParsedCode;
  try {
    code = parseCode(input);
  } catch (error) {
    out.fail(ExitCode.Usage, 'bad_code', (error as Error).message);
  }
  if (options.out !== '-') {
    const info = await stat(options.out).catch(() => undefined);
    if (!info?.isDirectory()) out.fail(ExitCode.Usage, 'bad_flag', `--out: '${options.out}' is not a folder`);
  }
  const spake2 = startSpake2('receiver', code.code, nodeScrypt);
  spake2.catch(() => {});

  const signaling = await reachHub(options, out);
  try {
    const rendezvous = await claimCode(signaling, code);
    // Our own scrypt is not the sender's silence: only the code check's messages are timed.
    const { keys, transport } = await deadline(
      handshake('receiver', await spake2, options, rendezvous, out),
      options.timeout,
      () =>
        out.fail(
          ExitCode.ConnectionFailed,
          'timeout',
          `the sender stopped answering for ${options.timeout} s during the code check`,
        ),
    );
    out.say(`Verification: ${keys.verification.words} (the sender sees the same words)`);
    const channel = await openTransport({
      role: 'receiver',
      agreed: transport,
      keys,
      rendezvous,
      flags: options,
      p2pTimeout: 0,
      out,
    });
    rendezvous.detach();
    out.say(describeTransport(channel, options.server));
    interrupts.transferring();
    let declineWord = 'declined';
    let accepted = false;
    const decide = async (offer: Offer): Promise<Decision> => {
      const decline = (word: string, reason: string): Decision => {
        declineWord = word;
        return { accept: false, reason };
      };
      const files = offer.entries.filter((e) => e.kind === 'file');
      const toStdout = options.out === '-' || offer.kind === 'stream';
      if (toStdout && (files.length !== 1 || offer.entries.length !== 1)) {
        return decline('declined', 'a folder or several files cannot be written to stdout; use --out DIR');
      }
      if (offer.kind === 'stream' && options.out !== '-' && process.stdout.isTTY) {
        // Raw bytes on a terminal can be escape sequences that rewrite the screen or answer back as keystrokes.
        return decline(
          'stdout_is_terminal',
          'the sender offers a stream and stdout is a terminal; redirect it (> file, | command), or pass --out - to print it here',
        );
      }
      if (!toStdout) {
        const taken = await existing(options.out, offer);
        const link = taken.find((t) => t.link);
        if (link) {
          // Writing into it would put the files wherever it points, outside the target folder: never, not even with --force.
          return decline('unsafe_path', `'${link.name}' in ${options.out} is a symbolic link; not writing through it`);
        }
        if (taken.length > 0 && !options.force) {
          return decline(
            'file_exists',
            `${taken.map((t) => `'${t.name}'`).join(', ')} already exists in ${options.out}; use --force to overwrite, or --out another folder`,
          );
        }
      }
      if (!options.yes) {
        if (!process.stdin.isTTY) {
          return decline(
            'not_asked',
            'there is no terminal to ask for consent (stdin is not a TTY); use --yes to accept',
          );
        }
        if (!(await ask(`Accept ${describeOffer(offer)}? [y/N] `))) return decline('declined', 'the receiver said no');
      }
      accepted = true;
      return {
        accept: true,
        sink: toStdout ? new StdoutSink() : await DiskSink.create(options.out, offer, options.force),
      };
    };
    const started = performance.now();
    let total: number | null = null;
    const result = await receiveTransfer(channel, {
      decide,
      createHash: nodeSha256,
      signal: interrupts.signal,
      idleTimeoutMs: options.timeout * 1000,
      onOffer: (offer) => {
        total = offer.totalSize;
        if (offer.kind === 'stream') out.setJsonStream(process.stderr);
        out.event({ ...offerEvent(offer), transport: channel.transport, verification: keys.verification.words });
        out.say(`Offered: ${describeOffer(offer)}`);
      },
      onProgress: (progress) => {
        if (accepted) out.progress(progress);
      },
    }).catch((error: unknown) => {
      if (
        error instanceof TransferError &&
        error.failure === 'declined' &&
        !error.byPeer &&
        error.code === 'DECLINED'
      ) {
        out.fail(ExitCode.Declined, declineWord, `not accepted: ${error.message}`);
      }
      throw error;
    });
    out.progress({ bytes: result.bytes, total }, true);
    reportDone(out, result, started, 'Received', (single) =>
      single ? `SHA-256 ${single.sha256} verified` : `all ${result.files.length} SHA-256 hashes verified`,
    );
    await signaling.close();
    finish();
  } catch (error) {
    const { exit, code: word, message } = classifyFailure(error);
    out.fail(exit, word, message);
  }
}
