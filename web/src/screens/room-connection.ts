// The rooms screen's connection card: the diagnostics of the real peer connection to the chosen member — the
// candidates this side gathered, the state timeline since the connection was made, and the selected candidate pair
// with its bytes — refreshed while it is on screen.
import { h } from '../lib/dom.ts';
import { candidateTable, pairRows, selectedPair } from '../lib/ice-view.ts';
import type { RoomPeer } from '../net/room-peer.ts';

const REFRESH_MS = 1000;

export interface ConnectionCard {
  element: HTMLElement;
  /** Redraw now (a member came, went or changed state), besides the timer's refreshes. */
  refresh(): void;
  close(): void;
}

export function createConnectionCard(target: () => RoomPeer | undefined): ConnectionCard {
  const title = h('p', { class: 'hint' }, 'Join a room: the connection to the chosen member shows here.');
  const pair = h('dl', { class: 'pair', 'aria-label': 'Selected candidate pair' });
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'State timeline' });
  const candidates = h('div', {});
  const body = h(
    'div',
    { hidden: true },
    h('h3', {}, 'Selected candidate pair'),
    pair,
    h('h3', {}, 'State timeline'),
    timeline,
    h('h3', {}, 'Candidates gathered here'),
    candidates,
  );
  const element = h(
    'section',
    { class: 'card wide', 'aria-labelledby': 'rconn-h' },
    h('h2', { id: 'rconn-h' }, 'Connection details'),
    title,
    body,
  );
  let shown: RoomPeer | undefined;
  let busy = false;

  async function refresh(): Promise<void> {
    const peer = target();
    if (busy) return;
    if (!peer) {
      if (shown) {
        shown = undefined;
        title.textContent = 'No member connected: the connection to the chosen member shows here.';
        body.hidden = true;
      }
      return;
    }
    busy = true;
    try {
      shown = peer;
      body.hidden = false;
      title.textContent = `Your connection to ${peer.remoteId} (${peer.offerer ? 'you offered' : 'they offered'}).`;
      pair.replaceChildren(...pairRows(await selectedPair(peer.pc)));
      timeline.replaceChildren(
        ...peer.timeline.map((entry) =>
          h('li', {}, h('span', { class: 'at' }, `+${Math.round(entry.ms)} ms`), ` ${entry.what}: ${entry.value}`),
        ),
      );
      if (candidates.dataset.count !== String(peer.candidates.length) || candidates.dataset.peer !== peer.remoteId) {
        candidates.dataset.count = String(peer.candidates.length);
        candidates.dataset.peer = peer.remoteId;
        candidates.replaceChildren(candidateTable(peer.candidates));
      }
    } catch {
      // The connection closed under us (the member left): the next refresh shows the next member or nothing.
    } finally {
      busy = false;
    }
  }

  const timer = setInterval(() => void refresh(), REFRESH_MS);
  return {
    element,
    refresh: () => void refresh(),
    close: () => clearInterval(timer),
  };
}
