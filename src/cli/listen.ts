// `ferry listen --id NAME`: register NAME with the hub and accept any number of `ferry connect NAME` callers,
// one data channel each. Messages from any caller come out as stdout lines; each stdin line goes to all of them.
import type { Command } from 'commander';
import type { PeerDataChannel } from '../peer/data-channel.ts';
import { IceServerRefresher } from '../peer/ice-refresh.ts';
import { PeerLink } from '../peer/link.ts';
import { PeerId } from '../protocol/signaling.ts';
import { ExitCode, fail } from './exit.ts';
import {
  addPeerOptions,
  describeSelectedPair,
  exit,
  type PeerOptions,
  peerConfiguration,
  printMessage,
  reachHub,
  readLines,
  reporter,
  sendLine,
} from './peer-common.ts';

interface ListenOptions extends PeerOptions {
  id: string;
}

export function registerListen(program: Command): void {
  const command = program
    .command('listen')
    .description(
      'register a name and accept `ferry connect NAME` peers; stdin lines go to all, their messages to stdout',
    )
    .requiredOption('--id <name>', 'the name to register (1-64 of A-Z a-z 0-9 _ . -)');
  addPeerOptions(command);
  command.action((options: ListenOptions) => listen(options));
}

async function listen(options: ListenOptions): Promise<void> {
  if (!PeerId.safeParse(options.id).success) {
    fail(ExitCode.Usage, 'bad_flag', `--id: '${options.id}' is not 1-64 characters of A-Z a-z 0-9 _ . -`);
  }
  const report = reporter(options.verbose);
  const signaling = await reachHub(options, options.id);
  const configuration = peerConfiguration(options, signaling);
  // The welcome's TURN credentials expire (--turn-ttl); callers arriving later get fresh ones.
  const ice = new IceServerRefresher(options.server, signaling.iceServers, {
    token: options.token,
    onRefresh: () => report('TURN credentials refreshed'),
    onError: (err) => report(`could not refresh TURN credentials: ${err.message}`),
  });
  report(`listening as ${signaling.id} on ${options.server}`);

  const links = new Map<string, PeerLink>();
  const channels = new Set<PeerDataChannel>();

  signaling.on('offer', (offer) => {
    const caller = offer.from;
    links.get(caller)?.close('replaced by a new offer');
    const link = new PeerLink(signaling, caller, { ...configuration, iceServers: ice.current }, (reason) => {
      report(`${caller}: closed (${reason})`);
      if (links.get(caller) === link) links.delete(caller);
    });
    links.set(caller, link);
    report(`${caller}: offer received`);
    link.pc.onconnectionstatechange = () => report(`${caller}: connection ${link.pc.connectionState}`);
    link.pc.ondatachannel = ({ channel }) => {
      channel.onopen = () => {
        channels.add(channel);
        report(`${caller}: data channel open`);
        report(`${caller}: ${describeSelectedPair(link.pc)}`);
      };
      channel.onmessage = ({ data }) => printMessage(data);
      channel.onclose = () => {
        channels.delete(channel);
        report(`${caller}: data channel closed`);
        link.close('channel closed');
      };
    };
    link.accept({ type: 'offer', sdp: offer.sdp }).catch((err: Error) => {
      report(`${caller}: could not answer: ${err.message}`);
      link.close(`could not answer: ${err.message}`);
    });
  });

  const lines = readLines(
    (line) => {
      if (channels.size === 0) report('no peer connected; line dropped');
      for (const channel of channels) sendLine(channel, line, lines);
    },
    () => report('stdin ended; still accepting peers'),
  );

  signaling.on('error', (error) => report(`hub: ${error.code}: ${error.message}`));
  let stopping = false;
  signaling.on('close', () => {
    if (!stopping) fail(ExitCode.ServerUnreachable, 'server_lost', 'the signaling server went away');
  });
  const stop = () => {
    stopping = true;
    ice.stop();
    for (const link of links.values()) link.close('listener stopped');
    void signaling.close().finally(() => exit(ExitCode.Ok));
    setTimeout(() => exit(ExitCode.Ok), 1000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
