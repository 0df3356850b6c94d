// The rooms screen: join a room by name on the signaling hub, see who else is in it (live), and talk to them over
// a data channel per member: chat, files, snapshots, a throughput test, and the connection's diagnostics. Each
// member's row shows its verification string; the same words appear on the other side exactly when nobody sits
// between the two browsers. `/#room=NAME` opens this screen in that room; `/#call=NAME` opens a video call, which is
// the hub room `call:NAME` joined with capacity 2 (so a call and a room of the same name never meet, and a third
// caller hears "room full"). When the hub connection drops, the screen reconnects and joins its room again.

import type { ServerMessage } from '../../../src/protocol/signaling.ts';
import { h, uid } from '../lib/dom.ts';
import { formatBytes, formatRate } from '../lib/format.ts';
import { FILES_LABEL } from '../net/room-files.ts';
import { RoomPeer } from '../net/room-peer.ts';
import { SignalingClient, SignalingError } from '../net/signaling.ts';
import { isSnapshotLabel } from '../net/snapshot.ts';
import { receiveThroughput, sendThroughput, type ThroughputResult, throughputBytes } from '../net/throughput.ts';
import type { AppContext } from '../screens.ts';
import { type CallCard, createCallCard, openCamera } from './room-call.ts';
import { createConnectionCard } from './room-connection.ts';
import { createFilesCard } from './room-files.ts';
import { createSnapshotCard } from './room-snapshot.ts';

const ROOM_HASH = /^#(room|call)=(.+)$/;
/** A call is this hub room: its own namespace, two people at most. */
const CALL_PREFIX = 'call:';
const CALL_CAPACITY = 2;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5000;

export interface RoomLink {
  name: string;
  call: boolean;
}

/** The room or call a hash names (`#room=NAME`, `#call=NAME`, URL-encoded), if any. */
export function roomFromHash(hash: string): RoomLink | undefined {
  const match = ROOM_HASH.exec(hash);
  if (!match?.[2]) return undefined;
  try {
    return { name: decodeURIComponent(match[2]), call: match[1] === 'call' };
  } catch {
    return undefined;
  }
}

const STATE_LABEL: Record<RTCPeerConnectionState, string> = {
  new: 'waiting',
  connecting: 'connecting',
  connected: 'connected',
  disconnected: 'connection interrupted',
  failed: 'connection failed',
  closed: 'closed',
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function mount(root: HTMLElement, context: AppContext, hash: string): () => void {
  let client: SignalingClient | undefined;
  let room: RoomLink | undefined;
  let call: CallCard | undefined;
  /** Bumped by every join and leave: a reconnect loop of an older one stops. */
  let generation = 0;
  const peers = new Map<string, RoomPeer>();
  const initial = roomFromHash(hash);

  const nameInput = h('input', {
    type: 'text',
    id: uid('room'),
    value: initial?.name ?? '',
    autocomplete: 'off',
    autocapitalize: 'off',
    spellcheck: false,
    required: true,
    maxlength: 120,
    placeholder: 'e.g. kitchen-table',
  });
  const callInput = h('input', { type: 'checkbox', checked: initial?.call ?? false });
  const joinButton = h('button', { type: 'submit', class: 'primary' }, 'Join');
  const leaveButton = h('button', { type: 'button', hidden: true }, 'Leave');
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const identity = h('p', { class: 'hint' });
  const shareLink = h('a', {});
  const share = h('p', { class: 'hint', hidden: true }, 'Invite others with ', shareLink);
  const joinForm = h(
    'form',
    { class: 'plain' },
    h('div', { class: 'field' }, h('label', { for: nameInput.id }, 'Room name'), nameInput),
    h('label', { class: 'check' }, callInput, 'Video call (two people, camera and microphone)'),
    h('div', { class: 'actions' }, joinButton, leaveButton),
  );

  const memberList = h('ul', { class: 'members', 'aria-label': 'Members' });
  const memberEmpty = h('p', { class: 'hint' }, 'Nobody else is here yet.');
  const targetSelect = h('select', { id: uid('target'), disabled: true });
  const targetField = h(
    'div',
    { class: 'field', hidden: true },
    h('label', { for: targetSelect.id }, 'Send to member'),
    targetSelect,
  );

  const chatLog = h('ol', { class: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Chat messages' });
  const chatInput = h('input', { type: 'text', id: uid('chat'), autocomplete: 'off', maxlength: 4000, disabled: true });
  const chatSend = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Send');
  const chatForm = h(
    'form',
    { class: 'chat-form' },
    h('label', { for: chatInput.id, class: 'visually-hidden' }, 'Message'),
    chatInput,
    chatSend,
  );

  const sizeInput = h('input', {
    type: 'number',
    id: uid('size'),
    min: 1,
    max: 1024,
    value: 16,
    inputmode: 'numeric',
    required: true,
  });
  const orderedInput = h('input', { type: 'checkbox', checked: true });
  const testButton = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Start test');
  const testStatus = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const testProgress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Throughput test progress' });
  const testForm = h(
    'form',
    { class: 'plain' },
    h('div', { class: 'field' }, h('label', { for: sizeInput.id }, 'Megabytes'), sizeInput),
    h('label', { class: 'check' }, orderedInput, 'Ordered delivery'),
    h('div', { class: 'actions' }, testButton),
  );

  const target = () => peers.get(targetSelect.value);
  const files = createFilesCard(context, target);
  const snapshot = createSnapshotCard(target, () => call?.stream);
  const connection = createConnectionCard(target);
  const callSlot = h('div', { class: 'call-slot' });

  root.append(
    h('h1', {}, 'Rooms'),
    h(
      'p',
      { class: 'lead' },
      'Join a room by name; everyone in it connects directly (WebRTC) and can chat and send files. Compare the verification words with the other person: if they match, nobody is in between.',
    ),
    callSlot,
    h(
      'div',
      { class: 'cards' },
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'room-h' },
        h('h2', { id: 'room-h' }, 'Room'),
        joinForm,
        status,
        identity,
        share,
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'members-h' },
        h('h2', { id: 'members-h' }, 'Members'),
        memberEmpty,
        memberList,
        targetField,
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'chat-h' },
        h('h2', { id: 'chat-h' }, 'Chat'),
        chatLog,
        chatForm,
      ),
      files.element,
      snapshot.element,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'tput-h' },
        h('h2', { id: 'tput-h' }, 'Throughput test'),
        h(
          'p',
          { class: 'hint' },
          'Sends zeros over a new data channel (256 KiB messages, at most 8 MiB waiting in the send buffer) and times both ends.',
        ),
        testForm,
        testStatus,
        testProgress,
      ),
      connection.element,
    ),
  );

  function say(text: string, tone: 'done' | 'failed' | '' = ''): void {
    status.textContent = text;
    status.dataset.tone = tone;
  }

  function renderMembers(): void {
    memberList.replaceChildren(
      ...[...peers.values()].map((peer) =>
        h(
          'li',
          { class: 'member', 'data-peer': peer.remoteId, 'data-state': peer.state },
          h('span', { class: 'member-id' }, peer.remoteId),
          h('span', { class: 'member-state' }, STATE_LABEL[peer.state]),
          peer.verification
            ? h(
                'span',
                { class: 'verification', 'aria-label': `Verification with ${peer.remoteId}` },
                h('span', { class: 'verification-label' }, 'Verify:'),
                h('span', { class: 'words' }, peer.verification.words),
                h('span', { class: 'digits' }, peer.verification.digits),
              )
            : h('span', { class: 'verification pending' }, 'verification pending'),
        ),
      ),
    );
    memberEmpty.hidden = peers.size > 0 || room === undefined;
    const connected = [...peers.values()].filter((p) => p.chatOpen);
    const some = connected.length > 0;
    chatInput.disabled = !some;
    chatSend.disabled = !some;
    const chosen = targetSelect.value;
    targetSelect.replaceChildren(
      ...connected.map((p) => h('option', { value: p.remoteId, selected: p.remoteId === chosen }, p.remoteId)),
    );
    targetSelect.disabled = !some;
    targetField.hidden = !some;
    testButton.disabled = !some || testing;
    files.setEnabled(some);
    snapshot.setEnabled(some);
    connection.refresh();
  }

  let testing = false;

  function showResult(verb: string, who: string, result: ThroughputResult): void {
    const seconds = result.ms / 1000;
    const remote = result.remoteMs === undefined ? '' : ` (${who} took ${(result.remoteMs / 1000).toFixed(2)} s)`;
    testStatus.textContent = `${verb} ${formatBytes(result.bytes)} in ${seconds.toFixed(2)} s: ${formatRate(result.bytes / seconds)}${remote}.`;
    testStatus.dataset.tone = 'done';
  }

  function progress(total: number): (bytes: number) => void {
    testProgress.hidden = false;
    testProgress.value = 0;
    return (bytes) => {
      testProgress.value = Math.min(1, bytes / total);
    };
  }

  async function runTest(peer: RoomPeer, bytes: number, ordered: boolean): Promise<void> {
    testing = true;
    renderMembers();
    testStatus.dataset.tone = '';
    testStatus.textContent = `Sending ${formatBytes(bytes)} to ${peer.remoteId}…`;
    try {
      showResult(
        ordered ? 'Sent (ordered)' : 'Sent (unordered)',
        peer.remoteId,
        await sendThroughput(peer.pc, bytes, ordered, progress(bytes)),
      );
    } catch (err) {
      testStatus.textContent = `The test failed: ${(err as Error).message}.`;
      testStatus.dataset.tone = 'failed';
    } finally {
      testing = false;
      renderMembers();
    }
  }

  async function receiveTest(from: string, channel: RTCDataChannel): Promise<void> {
    const bytes = throughputBytes(channel.label) ?? 0;
    testStatus.dataset.tone = '';
    testStatus.textContent = `Receiving a ${formatBytes(bytes)} test from ${from}…`;
    try {
      showResult('Received', from, await receiveThroughput(channel, progress(bytes)));
    } catch (err) {
      testStatus.textContent = `The test from ${from} failed: ${(err as Error).message}.`;
      testStatus.dataset.tone = 'failed';
    }
  }

  function addChat(who: string, text: string, mine: boolean): void {
    chatLog.append(
      h(
        'li',
        { class: mine ? 'chat mine' : 'chat' },
        h('span', { class: 'chat-from' }, mine ? 'you' : who),
        h('span', { class: 'chat-text' }, text),
      ),
    );
    chatLog.scrollTop = chatLog.scrollHeight;
  }

  /** A channel the member opened: its label says what it carries. */
  function incoming(from: string, channel: RTCDataChannel): void {
    if (throughputBytes(channel.label) !== undefined) void receiveTest(from, channel);
    else if (channel.label === FILES_LABEL) files.incoming(from, channel);
    else if (isSnapshotLabel(channel.label)) snapshot.incoming(from, channel);
    else channel.close();
  }

  function peerFor(id: string): RoomPeer {
    let peer = peers.get(id);
    if (!peer && client) {
      const signaling = client;
      const media = call;
      peer = new RoomPeer(
        signaling.id,
        id,
        signaling.welcome.iceServers,
        (message) => signaling.send(message),
        {
          change: renderMembers,
          chat: (text) => addChat(id, text, false),
          channel: (channel) => incoming(id, channel),
          stream: (stream) => media?.remoteStream(id, stream),
          media: (state) => media?.remoteMedia(id, state),
        },
        media?.stream,
      );
      media?.attach(peer);
      peers.set(id, peer);
      renderMembers();
    }
    return peer as RoomPeer;
  }

  function drop(id: string): void {
    peers.get(id)?.close();
    peers.delete(id);
    call?.remoteGone(id);
    renderMembers();
  }

  function hubRoom(link: RoomLink): string {
    return link.call ? `${CALL_PREFIX}${link.name}` : link.name;
  }

  function onPush(message: ServerMessage): void {
    const inRoom = room !== undefined && 'room' in message && message.room === hubRoom(room);
    if (message.type === 'member-joined' && inRoom) peerFor(message.peer);
    else if (message.type === 'member-left' && inRoom) drop(message.peer);
    else if (message.type === 'hangup') {
      if (peers.has(message.from) && call) say(`${message.from} hung up.`);
      drop(message.from);
    } else if (message.type === 'offer' || message.type === 'answer' || message.type === 'candidate')
      void peerFor(message.from).handle(message);
    else if (message.type === 'error') say(`The signaling server refused a message: ${message.message}`, 'failed');
  }

  function dropPeers(): void {
    files.close();
    for (const id of [...peers.keys()]) drop(id);
  }

  function reset(): void {
    generation += 1;
    dropPeers();
    room = undefined;
    client = undefined;
    call?.close();
    call = undefined;
    callSlot.replaceChildren();
    joinButton.hidden = false;
    leaveButton.hidden = true;
    nameInput.disabled = false;
    callInput.disabled = false;
    share.hidden = true;
    identity.textContent = '';
    renderMembers();
  }

  /** Connect to the hub and join; the room's members become peers. Throws a SignalingError when refused. */
  async function enter(link: RoomLink, attempt: number): Promise<void> {
    const signaling = await SignalingClient.connect(context.origin, onPush, (reason) => {
      if (client === signaling && attempt === generation) void rejoin(link, reason, attempt);
    });
    if (attempt !== generation) {
      signaling.close();
      return;
    }
    client = signaling;
    let reply: ServerMessage;
    try {
      reply = await signaling.request({
        type: 'join',
        room: hubRoom(link),
        ...(link.call ? { capacity: CALL_CAPACITY } : {}),
      });
      if (reply.type !== 'joined') throw new SignalingError('unexpected', `unexpected reply ${reply.type}`);
    } catch (err) {
      if (client === signaling) client = undefined;
      signaling.close();
      throw err;
    }
    room = link;
    for (const member of reply.members) peerFor(member);
    identity.textContent = `You are ${signaling.id}.`;
    renderMembers();
  }

  function refusal(err: unknown): string {
    if (err instanceof SignalingError && err.code === 'room_full') return 'room full';
    return (err as Error).message;
  }

  async function join(link: RoomLink): Promise<void> {
    const attempt = ++generation;
    joinButton.disabled = true;
    nameInput.disabled = true;
    callInput.disabled = true;
    const what = link.call ? `the call “${link.name}”` : `“${link.name}”`;
    say(`Joining ${what}…`);
    try {
      if (link.call) {
        const stream = await openCamera();
        if (attempt !== generation) {
          for (const track of stream.getTracks()) track.stop();
          return;
        }
        call = createCallCard(stream, () => peers.values(), hangUp, say);
        callSlot.replaceChildren(call.element);
      }
      await enter(link, attempt);
      if (attempt !== generation) return;
      say(link.call ? `In the call “${link.name}”.` : `In room “${link.name}”.`, 'done');
      const link_ = `${context.origin}/#${link.call ? 'call' : 'room'}=${encodeURIComponent(link.name)}`;
      shareLink.href = link_;
      shareLink.textContent = link_;
      share.hidden = false;
      joinButton.hidden = true;
      leaveButton.hidden = false;
    } catch (err) {
      if (attempt !== generation) return;
      reset();
      const hint = link.call ? ' A call is for two people.' : '';
      say(`Could not join ${what}: ${refusal(err)}.${hint} Try again or pick another name.`, 'failed');
    } finally {
      joinButton.disabled = false;
    }
  }

  // The hub went away (a restart, a network change): the member connections were negotiated through our old id,
  // so they are closed, and the room is joined again under a new one, with growing pauses while the hub is down.
  async function rejoin(link: RoomLink, reason: string, attempt: number): Promise<void> {
    dropPeers();
    client = undefined;
    identity.textContent = '';
    say(`Lost the signaling server (${reason}). Reconnecting…`, 'failed');
    let wait = RETRY_FIRST_MS;
    while (attempt === generation) {
      await sleep(wait);
      if (attempt !== generation) return;
      try {
        await enter(link, attempt);
        if (attempt === generation) say(`Reconnected to the signaling server and rejoined “${link.name}”.`, 'done');
        return;
      } catch (err) {
        if (err instanceof SignalingError && err.code === 'room_full') {
          reset();
          say(`Could not rejoin “${link.name}”: room full.`, 'failed');
          return;
        }
        say(`Lost the signaling server (${reason}). Still reconnecting: ${(err as Error).message}…`, 'failed');
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      }
    }
  }

  function leave(text: string): void {
    const signaling = client;
    const link = room;
    const members = [...peers.keys()];
    reset();
    say(text);
    if (!signaling) return;
    if (!link) return signaling.close();
    if (link.call) for (const id of members) signaling.send({ type: 'hangup', to: id, reason: 'hung up' });
    // Leaving the room tells the others at once; closing the socket ends our id.
    void signaling
      .request({ type: 'leave', room: hubRoom(link) })
      .catch(() => {})
      .finally(() => signaling.close());
  }

  function hangUp(): void {
    leave('You hung up.');
  }

  joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (name) void join({ name, call: callInput.checked });
  });
  leaveButton.addEventListener('click', () => leave(call ? 'You hung up.' : 'You left the room.'));
  chatForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = chatInput.value.trim();
    if (!text) return;
    let sent = 0;
    for (const peer of peers.values()) {
      if (peer.chatOpen) {
        peer.sendChat(text);
        sent += 1;
      }
    }
    if (sent > 0) {
      addChat('', text, true);
      chatInput.value = '';
    }
  });

  testForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const peer = target();
    const megabytes = sizeInput.valueAsNumber;
    if (!peer || !Number.isInteger(megabytes) || megabytes < 1 || megabytes > 1024) {
      testStatus.textContent = 'Pick a connected member and a whole number of megabytes from 1 to 1024.';
      testStatus.dataset.tone = 'failed';
      return;
    }
    void runTest(peer, megabytes * 1_000_000, orderedInput.checked);
  });

  if (initial) void join(initial);
  renderMembers();

  return () => {
    const signaling = client;
    reset();
    connection.close();
    snapshot.close();
    signaling?.close();
  };
}
