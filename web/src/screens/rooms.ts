// The rooms screen: join a room by name on the signaling hub, see who else is in it (live), and talk to them over
// a data channel per member. Each member's row shows its verification string; the same words appear on the
// other side exactly when nobody sits between the two browsers. `/#room=NAME` opens this screen in that room.

import type { ServerMessage } from '../../../src/protocol/signaling.ts';
import { h, uid } from '../lib/dom.ts';
import { formatBytes, formatRate } from '../lib/format.ts';
import { RoomPeer } from '../net/room-peer.ts';
import { SignalingClient, SignalingError } from '../net/signaling.ts';
import { receiveThroughput, sendThroughput, type ThroughputResult, throughputBytes } from '../net/throughput.ts';
import type { AppContext } from '../screens.ts';

const ROOM_HASH = /^#room=(.+)$/;

/** The room a hash names (`#room=NAME`, URL-encoded), if any. */
export function roomFromHash(hash: string): string | undefined {
  const raw = ROOM_HASH.exec(hash)?.[1];
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
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

export function mount(root: HTMLElement, context: AppContext, hash: string): () => void {
  let client: SignalingClient | undefined;
  let room: string | undefined;
  const peers = new Map<string, RoomPeer>();

  const nameInput = h('input', {
    type: 'text',
    id: uid('room'),
    value: roomFromHash(hash) ?? '',
    autocomplete: 'off',
    autocapitalize: 'off',
    spellcheck: false,
    required: true,
    maxlength: 128,
    placeholder: 'e.g. kitchen-table',
  });
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
    h('div', { class: 'actions' }, joinButton, leaveButton),
  );

  const memberList = h('ul', { class: 'members', 'aria-label': 'Members' });
  const memberEmpty = h('p', { class: 'hint' }, 'Nobody else is here yet.');

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

  const targetSelect = h('select', { id: uid('target'), disabled: true });
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
    h(
      'div',
      { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: targetSelect.id }, 'To member'), targetSelect),
      h('div', { class: 'field' }, h('label', { for: sizeInput.id }, 'Megabytes'), sizeInput),
    ),
    h('label', { class: 'check' }, orderedInput, 'Ordered delivery'),
    h('div', { class: 'actions' }, testButton),
  );

  root.append(
    h('h1', {}, 'Rooms'),
    h(
      'p',
      { class: 'lead' },
      'Join a room by name; everyone in it connects directly (WebRTC) and can chat. Compare the verification words with the other person: if they match, nobody is in between.',
    ),
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
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'chat-h' },
        h('h2', { id: 'chat-h' }, 'Chat'),
        chatLog,
        chatForm,
      ),
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
    chatInput.disabled = connected.length === 0;
    chatSend.disabled = connected.length === 0;
    const chosen = targetSelect.value;
    targetSelect.replaceChildren(
      ...connected.map((p) => h('option', { value: p.remoteId, selected: p.remoteId === chosen }, p.remoteId)),
    );
    targetSelect.disabled = connected.length === 0 || testing;
    testButton.disabled = connected.length === 0 || testing;
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

  function peerFor(id: string): RoomPeer {
    let peer = peers.get(id);
    if (!peer && client) {
      const signaling = client;
      peer = new RoomPeer(signaling.id, id, signaling.welcome.iceServers, (message) => signaling.send(message), {
        change: renderMembers,
        chat: (text) => addChat(id, text, false),
        channel: (channel) => {
          if (throughputBytes(channel.label) !== undefined) void receiveTest(id, channel);
          else channel.close();
        },
      });
      peers.set(id, peer);
      renderMembers();
    }
    return peer as RoomPeer;
  }

  function drop(id: string): void {
    peers.get(id)?.close();
    peers.delete(id);
    renderMembers();
  }

  function onPush(message: ServerMessage): void {
    if (message.type === 'member-joined' && message.room === room) peerFor(message.peer);
    else if (message.type === 'member-left' && message.room === room) drop(message.peer);
    else if (message.type === 'hangup') drop(message.from);
    else if (message.type === 'offer' || message.type === 'answer' || message.type === 'candidate')
      void peerFor(message.from).handle(message);
    else if (message.type === 'error') say(`The signaling server refused a message: ${message.message}`, 'failed');
  }

  function reset(): void {
    for (const id of [...peers.keys()]) drop(id);
    room = undefined;
    client = undefined;
    joinButton.hidden = false;
    leaveButton.hidden = true;
    nameInput.disabled = false;
    share.hidden = true;
    identity.textContent = '';
    renderMembers();
  }

  async function join(name: string): Promise<void> {
    joinButton.disabled = true;
    nameInput.disabled = true;
    say(`Joining “${name}”…`);
    try {
      const signaling = await SignalingClient.connect(context.origin, onPush, (reason) => {
        if (client === signaling) {
          reset();
          say(`Disconnected from the signaling server (${reason}). Join again to reconnect.`, 'failed');
        }
      });
      client = signaling;
      const reply = await signaling.request({ type: 'join', room: name });
      if (reply.type !== 'joined') throw new SignalingError('unexpected', `unexpected reply ${reply.type}`);
      room = name;
      for (const member of reply.members) peerFor(member);
      say(`In room “${name}”.`, 'done');
      identity.textContent = `You are ${signaling.id}.`;
      const link = `${context.origin}/#room=${encodeURIComponent(name)}`;
      shareLink.href = link;
      shareLink.textContent = link;
      share.hidden = false;
      joinButton.hidden = true;
      leaveButton.hidden = false;
      renderMembers();
    } catch (err) {
      client?.close();
      reset();
      const reason =
        err instanceof SignalingError && err.code === 'room_full' ? 'the room is full' : (err as Error).message;
      say(`Could not join “${name}”: ${reason}. Try again or pick another name.`, 'failed');
    } finally {
      joinButton.disabled = false;
    }
  }

  joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (name) void join(name);
  });
  leaveButton.addEventListener('click', () => {
    const signaling = client;
    const name = room;
    reset();
    if (signaling && name) {
      // Leaving the room tells the others at once; closing the socket ends our id.
      void signaling.request({ type: 'leave', room: name }).finally(() => signaling.close());
    }
    say('You left the room.');
  });
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
    const peer = peers.get(targetSelect.value);
    const megabytes = sizeInput.valueAsNumber;
    if (!peer || !Number.isInteger(megabytes) || megabytes < 1 || megabytes > 1024) {
      testStatus.textContent = 'Pick a connected member and a whole number of megabytes from 1 to 1024.';
      testStatus.dataset.tone = 'failed';
      return;
    }
    void runTest(peer, megabytes * 1_000_000, orderedInput.checked);
  });

  const initial = roomFromHash(hash);
  if (initial) void join(initial);
  renderMembers();

  return () => {
    const signaling = client;
    reset();
    signaling?.close();
  };
}
