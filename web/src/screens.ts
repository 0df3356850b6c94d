// The app's screens. Each is one module with a `mount` function; the shell shows one at a time, chosen by the URL's
// hash (#/relay). A screen may also claim other hashes: the code-transfer screen claims a code link (/#7-word-word).
// Screens other than the first load on demand (esbuild splits them into their own chunk), so the page a person
// opens first stays small.

import { isValidCode } from '../../src/protocol/code.ts';
import type { Saver } from './net/save.ts';
import * as relay from './screens/relay.ts';

export interface AppContext {
  version: string;
  origin: string;
  /** How received files are saved; resolved once the service worker is up (or known to be unavailable). */
  saver: Promise<Saver>;
}

export interface ScreenModule {
  /** Build the screen into `root`; return what tears it down (timers, transfers) when another screen is shown. */
  mount(root: HTMLElement, context: AppContext, hash: string): () => void;
}

export interface ScreenEntry {
  id: string;
  /** The navigation label. */
  title: string;
  /** Extra hashes this screen answers, besides #/<id>. */
  claims?(hash: string): boolean;
  load(): Promise<ScreenModule>;
}

export const SCREENS: readonly ScreenEntry[] = [
  { id: 'relay', title: 'Relay', load: async () => relay },
  // `/#room=NAME` is a room link, `/#call=NAME` a video call link: both open the rooms screen.
  {
    id: 'rooms',
    title: 'Rooms',
    claims: (hash) => hash.startsWith('#room=') || hash.startsWith('#call='),
    load: () => import('./screens/rooms.ts'),
  },
  // `/#7-orbit-frozen` is a code link: it opens the code screen, which starts receiving at once.
  {
    id: 'code',
    title: 'Code',
    claims: (hash) => hash.length > 1 && isValidCode(safeDecode(hash.slice(1))),
    load: () => import('./screens/code.ts'),
  },
  { id: 'diagnostics', title: 'Diagnostics', load: () => import('./screens/diagnostics.ts') },
];

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export function screenFor(hash: string): ScreenEntry {
  const id = /^#\/([\w-]+)/.exec(hash)?.[1];
  return SCREENS.find((s) => s.id === id) ?? SCREENS.find((s) => s.claims?.(hash)) ?? (SCREENS[0] as ScreenEntry);
}
