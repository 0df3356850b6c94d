// `ferry connect NAME`: dial the peer that `ferry listen --id NAME` registered, over one WebRTC data channel.
// stdin lines become messages and messages become stdout lines; stdin's end (or the other side's) ends it.
import { type Command, Option } from 'commander';
import type { PeerDataChannel } from '../peer/data-channel.ts';
import { PeerLink } from '../peer/link.ts';
import { SignalingError } from '../peer/signaling-client.ts';
import { ExitCode, fail } from './exit.ts';
import {
  addPeerOptions,
  drained,
  exit,
  type PeerOptions,
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

async function connect(name: string, options: ConnectOptions): Promise<void> {
  const report = reporter(options.verbose);
  const signaling = await reachHub(options);
  report(`signaling connected as ${signaling.id}`);

  const failed = (reason: string) =>
    fail(ExitCode.ConnectionFailed, 'connection_failed', `no data channel to '${name}': ${reason}`);
  const link = new PeerLink(signaling, name, { bindAddress: options.bindAddress }, (reason) => {
    report(`connection closed: ${reason}`);
    if (!opened) failed(reason);
    exit(ExitCode.Ok);
  });
  let opened = false;
  const deadline = setTimeout(() => failed(`not open after ${options.timeout} s`), options.timeout * 1000);
  link.pc.onconnectionstatechange = () => report(`connection ${link.pc.connectionState}`);
  // Once the channel is open the hub is no longer needed: losing it then changes nothing.
  signaling.on('close', () => {
    if (!opened) fail(ExitCode.ServerUnreachable, 'server_lost', 'the signaling server went away');
  });
  signaling.on('error', (error) => report(`hub: ${error.code}: ${error.message}`));

  let channel: PeerDataChannel;
  try {
    channel = await link.dial('ferry');
  } catch (err) {
    if (err instanceof SignalingError && err.code === 'unknown_target') {
      fail(
        ExitCode.NameUnknown,
        'name_unknown',
        `no peer is listening as '${name}' (start \`ferry listen --id ${name}\`)`,
      );
    }
    return failed((err as Error).message);
  }

  // Lines typed before the channel opens wait for it.
  const waiting: string[] = [];
  let stdinDone = false;
  // Closing the channel resets its SCTP stream after the data queued on it (RFC 8831 §6.7), so the last
  // lines arrive before the close does; the connection goes when the channel has closed.
  const finish = async () => {
    await drained(channel);
    channel.close();
    setTimeout(() => link.close('done'), 5000).unref();
  };
  const lines = readLines(
    (line) => (channel.readyState === 'open' ? sendLine(channel, line, lines) : waiting.push(line)),
    () => {
      stdinDone = true;
      if (channel.readyState === 'open') void finish();
    },
  );
  channel.onopen = () => {
    opened = true;
    clearTimeout(deadline);
    report(`data channel open to ${name}`);
    for (const line of waiting.splice(0)) sendLine(channel, line, lines);
    if (stdinDone) void finish();
  };
  channel.onmessage = ({ data }) => printMessage(data);
  channel.onclose = () => {
    report('data channel closed');
    link.close('channel closed');
  };
}
