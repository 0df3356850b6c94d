// The diagnostics screen: what WebRTC can do from this browser with these STUN/TURN servers. "Gather candidates"
// shows which candidate types the servers yield (and which server gave each); "Test a connection" connects two
// peer connections inside this page through them and shows the state timeline, the selected candidate pair and
// its bytes. The servers start as the ones this Ferry server hands out (GET /_/ice).

import { IceServer } from '../../../src/protocol/signaling.ts';
import { h, uid } from '../lib/dom.ts';
import { candidateTable, type Gathered, pairRows, selectedPair, serverOf } from '../lib/ice-view.ts';
import { authHeaders } from '../net/access.ts';

const GATHER_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 15_000;

/** One line per server: `URL [username credential]`. */
export function parseServers(text: string): RTCIceServer[] {
  const servers: RTCIceServer[] = [];
  for (const line of text.split('\n')) {
    const [urls, username, credential] = line.trim().split(/\s+/);
    if (!urls) continue;
    servers.push({ urls, ...(username ? { username } : {}), ...(credential ? { credential } : {}) });
  }
  return servers;
}

function formatServers(servers: readonly IceServer[]): string {
  return servers
    .flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).map((url) => [url, s.username, s.credential]))
    .map((parts) => parts.filter(Boolean).join(' '))
    .join('\n');
}

function typeSummary(rows: Gathered[]): string {
  const counts = new Map<string, number>();
  for (const { candidate } of rows) counts.set(candidate.type ?? '?', (counts.get(candidate.type ?? '?') ?? 0) + 1);
  if (counts.size === 0) return 'No candidates at all: this browser may block WebRTC, or no network is up.';
  const parts = ['host', 'srflx', 'prflx', 'relay'].filter((t) => counts.has(t)).map((t) => `${counts.get(t)} ${t}`);
  const missing = ['srflx', 'relay'].filter((t) => !counts.has(t));
  return `Got ${parts.join(', ')}.${missing.length ? ` None of type ${missing.join(' or ')}.` : ''}`;
}

/** Collect `pc`'s local candidates until gathering completes (or a timeout: a dead TURN server can stall it). */
function gather(pc: RTCPeerConnection, start: number, onCandidate: (g: Gathered) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener('icecandidate', (event) => {
      if (event.candidate?.candidate)
        onCandidate({ candidate: event.candidate, ms: performance.now() - start, url: serverOf(event) });
      else if (!event.candidate) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export function mount(root: HTMLElement): () => void {
  const live = new Set<RTCPeerConnection>();
  const serversInput = h('textarea', {
    id: uid('servers'),
    rows: 3,
    spellcheck: false,
    placeholder: 'stun:stun.example.org:3478',
  });
  const serversHint = h(
    'p',
    { class: 'hint', id: uid('hint') },
    'One per line: URL, then username and credential for TURN.',
  );
  serversInput.setAttribute('aria-describedby', serversHint.id);
  const gatherButton = h('button', { type: 'button', class: 'primary' }, 'Gather candidates');
  const connectButton = h('button', { type: 'button' }, 'Test a connection');
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const summary = h('p', { class: 'summary' });
  const candidates = h('div', {});
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'State timeline' });
  const pair = h('dl', { class: 'pair', 'aria-label': 'Selected candidate pair' });
  const connection = h(
    'section',
    { class: 'card', 'aria-labelledby': 'conn-h', hidden: true },
    h('h2', { id: 'conn-h' }, 'Connection'),
    h('h3', {}, 'Selected candidate pair'),
    pair,
    h('h3', {}, 'State timeline'),
    timeline,
  );

  root.append(
    h('h1', {}, 'Diagnostics'),
    h(
      'p',
      { class: 'lead' },
      'Check what WebRTC can do from here: which candidates this browser finds with your STUN/TURN servers, and whether a connection comes up through them.',
    ),
    h(
      'div',
      { class: 'cards' },
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'ice-h' },
        h('h2', { id: 'ice-h' }, 'STUN/TURN servers'),
        h('div', { class: 'field' }, h('label', { for: serversInput.id }, 'Servers'), serversInput),
        serversHint,
        h('div', { class: 'actions' }, gatherButton, connectButton),
        status,
        summary,
      ),
      connection,
      h(
        'section',
        { class: 'card wide', 'aria-labelledby': 'cand-h' },
        h('h2', { id: 'cand-h' }, 'Candidates'),
        candidates,
      ),
    ),
  );

  void fetch('/_/ice', { headers: authHeaders() })
    .then((res) => (res.ok ? res.json() : undefined))
    .then((body: unknown) => {
      const servers = IceServer.array().safeParse((body as { iceServers?: unknown } | undefined)?.iceServers);
      if (servers.success && !serversInput.value) serversInput.value = formatServers(servers.data);
    })
    .finally(() => {
      // Marks the field as settled (for people's scripts and our tests): what the server offers is in it now.
      serversInput.dataset.loaded = '';
    })
    .catch(() => {
      // Without the server's list the field stays empty: the user can still type servers in.
    });

  function busy(on: boolean): void {
    gatherButton.disabled = on;
    connectButton.disabled = on;
  }

  function closeAll(): void {
    for (const pc of live) pc.close();
    live.clear();
  }

  function open(): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: parseServers(serversInput.value) });
    live.add(pc);
    return pc;
  }

  async function runGather(): Promise<void> {
    closeAll();
    busy(true);
    connection.hidden = true;
    status.textContent = 'Gathering candidates…';
    const rows: Gathered[] = [];
    try {
      const pc = open();
      pc.createDataChannel('probe');
      const start = performance.now();
      const done = gather(pc, start, (g) => {
        rows.push(g);
        candidates.replaceChildren(candidateTable(rows));
      });
      await pc.setLocalDescription();
      await done;
      candidates.replaceChildren(candidateTable(rows));
      summary.textContent = typeSummary(rows);
      status.textContent = `Gathering finished after ${Math.round(performance.now() - start)} ms.`;
    } catch (err) {
      status.textContent = `Gathering failed: ${(err as Error).message}. Check the server lines.`;
    } finally {
      closeAll();
      busy(false);
    }
  }

  async function runConnect(): Promise<void> {
    closeAll();
    busy(true);
    status.textContent = 'Connecting two peer connections in this page…';
    timeline.replaceChildren();
    pair.replaceChildren();
    connection.hidden = false;
    const rows: Gathered[] = [];
    const start = performance.now();
    const note = (what: string, value: string) =>
      timeline.append(
        h('li', {}, h('span', { class: 'at' }, `+${Math.round(performance.now() - start)} ms`), ` ${what}: ${value}`),
      );
    try {
      const a = open();
      const b = open();
      a.addEventListener('signalingstatechange', () => note('signaling', a.signalingState));
      a.addEventListener('icegatheringstatechange', () => note('ICE gathering', a.iceGatheringState));
      a.addEventListener('iceconnectionstatechange', () => note('ICE connection', a.iceConnectionState));
      a.addEventListener('connectionstatechange', () => note('connection', a.connectionState));
      a.addEventListener('icecandidate', (event) => {
        if (event.candidate?.candidate) {
          rows.push({ candidate: event.candidate, ms: performance.now() - start, url: serverOf(event) });
          candidates.replaceChildren(candidateTable(rows));
          void b.addIceCandidate(event.candidate).catch(() => {});
        }
      });
      b.addEventListener('icecandidate', (event) => {
        if (event.candidate?.candidate) void a.addIceCandidate(event.candidate).catch(() => {});
      });
      const channel = a.createDataChannel('probe');
      const opened = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no connection within 15 s')), CONNECT_TIMEOUT_MS);
        channel.addEventListener('open', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await a.setLocalDescription();
      await b.setRemoteDescription(a.localDescription as RTCSessionDescription);
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription as RTCSessionDescription);
      await opened;
      // Some bytes, so the pair's counters show traffic.
      channel.send(new Uint8Array(16_384));
      await showPair(a);
      summary.textContent = typeSummary(rows);
      status.textContent = `Connected after ${Math.round(performance.now() - start)} ms.`;
    } catch (err) {
      status.textContent = `The connection test failed: ${(err as Error).message}.`;
    } finally {
      closeAll();
      busy(false);
    }
  }

  async function showPair(pc: RTCPeerConnection): Promise<void> {
    pair.replaceChildren(...pairRows(await selectedPair(pc)));
  }

  gatherButton.addEventListener('click', () => void runGather());
  connectButton.addEventListener('click', () => void runConnect());
  return closeAll;
}
