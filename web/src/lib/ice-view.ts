// What a peer connection's ICE looks like to a person: the candidates it gathered (type, protocol, address, port,
// priority, time, server) as a table, and the selected candidate pair with its bytes and round trip. Shared by the
// diagnostics screen (a test connection) and the rooms screen (the connection to a member).
import { h } from './dom.ts';
import { formatBytes, plural } from './format.ts';

export interface Gathered {
  candidate: RTCIceCandidate;
  ms: number;
  url: string | null;
}

// Chromium and Firefox say which STUN/TURN server produced a candidate; TypeScript's DOM types lack the field.
export function serverOf(event: RTCPeerConnectionIceEvent): string | null {
  return (event as RTCPeerConnectionIceEvent & { url?: string | null }).url ?? null;
}

export function candidateTable(rows: Gathered[]): HTMLElement {
  const header = ['Type', 'Protocol', 'Address', 'Port', 'Priority', 'Time', 'Server'];
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'candidates' },
      h('caption', {}, `${plural(rows.length, 'candidate')} gathered`),
      h('thead', {}, h('tr', {}, ...header.map((label) => h('th', { scope: 'col' }, label)))),
      h(
        'tbody',
        {},
        ...rows.map(({ candidate: c, ms, url }) =>
          h(
            'tr',
            { 'data-type': c.type ?? '' },
            h('td', {}, c.type ?? '?'),
            h('td', {}, c.protocol ?? '?'),
            h('td', { class: 'mono' }, c.address ?? '?'),
            h('td', {}, String(c.port ?? '?')),
            h('td', {}, String(c.priority ?? '?')),
            h('td', {}, `${Math.round(ms)} ms`),
            h('td', { class: 'mono' }, url ?? '—'),
          ),
        ),
      ),
    ),
  );
}

/** The selected pair of `pc` as label/value rows, or undefined while none is selected. */
export async function selectedPair(pc: RTCPeerConnection): Promise<[string, string][] | undefined> {
  const stats = await pc.getStats();
  let selected: RTCIceCandidatePairStats | undefined;
  stats.forEach((report: RTCStats) => {
    if (report.type === 'transport') {
      const id = (report as RTCTransportStats).selectedCandidatePairId;
      if (id) selected = stats.get(id) as RTCIceCandidatePairStats;
    }
  });
  if (!selected) return undefined;
  const describe = (id: string) => {
    const c = stats.get(id) as Record<string, unknown> | undefined;
    // Browsers hide the address of a peer-reflexive candidate they learnt from a connectivity check.
    return c ? `${c.candidateType} ${c.protocol} ${c.address || '(address hidden)'}:${c.port}` : '?';
  };
  return [
    ['Local', describe(selected.localCandidateId)],
    ['Remote', describe(selected.remoteCandidateId)],
    ['Bytes sent', formatBytes(selected.bytesSent ?? 0)],
    ['Bytes received', formatBytes(selected.bytesReceived ?? 0)],
    [
      'Round trip',
      selected.currentRoundTripTime === undefined ? '?' : `${Math.round(selected.currentRoundTripTime * 1000)} ms`,
    ],
  ];
}

/** The children of a `dl.pair`. */
export function pairRows(entries: [string, string][] | undefined): HTMLElement[] {
  if (!entries) return [h('dt', {}, 'Pair'), h('dd', {}, 'none selected')];
  return entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, v)]);
}
