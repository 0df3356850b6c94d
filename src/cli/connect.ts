// `ferry connect NAME`: dial the peer that `ferry listen --id NAME` registered, over one WebRTC data channel.
// stdin lines become messages and messages become stdout lines; stdin's end (or the other side's) ends it.
import { type Command, Option } from 'commander';
import type { PeerDataChannel } from '../peer/data-channel.ts';
import { PeerLink } from '../peer/link.ts';
import type { PeerConfiguration } from '../peer/peer-connection.ts';
import { type SignalingClient, SignalingError } from '../peer/signaling-client.ts';
import { ExitCode, fail } from './exit.ts';
import {
  addPeerOptions,
  describeSelectedPair,
  drained,
  exit,
  type PeerOptions,
  peerConfiguration,
  printMessage,
  reachHub,
  readLines,
  reporter,
  sendLine,
} from './peer-common.ts';

interface ConnectOptions extends PeerOptions {
  timeout: number;
}

export function registerConnect(program: Command): void {
  const command = program
    .command('connect')
    .description('dial a `ferry listen` peer by name; stdin lines go to it, its messages come out on stdout')
    .argument('<name>', 'the name the listening peer registered');
  addPeerOptions(command).addOption(
    new Option('--timeout <seconds>', 'seconds to wait for the data channel to open').default(20).argParser((raw) => {
      const value = Number(raw);
      if (!Number.isFinite(value) || value <= 0) fail(ExitCode.Usage, 'bad_flag', `--timeout: '${raw}' is not > 0`);
      return value;
    }),
  );
  command.action((name: string, options: ConnectOptions) => connect(name, options));
}

/** Tries a failed negotiation gets within --timeout: libdatachannel occasionally fails one early (ICE/DTLS). */
const ATTEMPTS = 3;

async function connect(name: string, options: ConnectOptions): Promise<void> {
  const report = reporter(options.verbose);
  const signaling = await reachHub(options);
  const configuration = peerConfiguration(options, signaling);
  report(`signaling connected as ${signaling.id}`);
  const failed = (reason: string): never =>
    fail(ExitCode.ConnectionFailed, 'connection_failed', `no data channel to '${name}': ${reason}`);
  const deadline = setTimeout(() => failed(`not open after ${options.timeout} s`), options.timeout * 1000);
  let opened = false;
  // Once the channel is open the hub is no longer needed: losing it then changes nothing.
  signaling.on('close', () => {
    if (!opened) fail(ExitCode.ServerUnreachable, 'server_lost', 'the signaling server went away');
  });
  signaling.on('error', (error) => report(`hub: ${error.code}: ${error.message}`));

  // Lines typed before the channel opens wait for it.
  const waiting: string[] = [];
  let channel: PeerDataChannel | undefined;
  let stdinDone = false;
  let finish = () => {};
  const lines = readLines(
    (line) => (channel?.readyState === 'open' ? sendLine(channel, line, lines) : waiting.push(line)),
    () => {
      stdinDone = true;
      finish();
    },
  );

  for (let attempt = 1; ; attempt++) {
    const outcome = await dialOnce(signaling, name, configuration, report);
    if ('failure' in outcome) {
      if (attempt >= ATTEMPTS) failed(outcome.failure);
      report(`attempt ${attempt} failed (${outcome.failure}); trying again`);
      continue;
    }
    const { link } = outcome;
    const open = outcome.channel;
    channel = open;
    opened = true;
    clearTimeout(deadline);
    report(`data channel open to ${name}`);
    report(describeSelectedPair(link.pc));
    // Closing the channel resets its SCTP stream after the data queued on it (RFC 8831 §6.7), so the last
    // lines arrive before the close does; the connection goes when the channel has closed.
    finish = () => {
      if (open.readyState !== 'open') return;
      void drained(open).then(() => {
        open.close();
        setTimeout(() => link.close('done'), 5000).unref();
      });
    };
    open.onmessage = ({ data }) => printMessage(data);
    open.onclose = () => {
      report('data channel closed');
      link.close('channel closed');
    };
    for (const line of waiting.splice(0)) sendLine(open, line, lines);
    if (stdinDone) finish();
    return;
  }
}

type DialOutcome = { link: PeerLink; channel: PeerDataChannel } | { failure: string };

/** One negotiation: resolves with an open channel, or why none opened. An unknown name ends the process. */
function dialOnce(
  signaling: SignalingClient,
  name: string,
  configuration: PeerConfiguration,
  report: (message: string) => void,
): Promise<DialOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const link = new PeerLink(signaling, name, configuration, (reason) => {
      report(`connection closed: ${reason}`);
      if (!settled) resolve({ failure: reason });
      else exit(ExitCode.Ok);
    });
    link.pc.onconnectionstatechange = () => report(`connection ${link.pc.connectionState}`);
    link.dial('ferry').then(
      (channel) => {
        const opened = () => {
          settled = true;
          resolve({ link, channel });
        };
        if (channel.readyState === 'open') opened();
        else channel.onopen = opened;
      },
      (err: Error) => {
        if (err instanceof SignalingError && err.code === 'unknown_target') {
          fail(
            ExitCode.NameUnknown,
            'name_unknown',
            `no peer is listening as '${name}' (start \`ferry listen --id ${name}\`)`,
          );
        }
        link.close(err.message, false);
      },
    );
  });
}
