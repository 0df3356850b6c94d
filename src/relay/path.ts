// What identifies a pipe and how many receivers it wants, read from the request-target exactly as
// piping-server does (WHATWG URL against `a:///`): dot segments resolved, escapes kept, query ignored but for n.

export interface PipeTarget {
  path: string;
  /** The first `n` query parameter, parsed like parseInt (NaN when unparsable). */
  n: number;
}

export function parseTarget(url: URL): PipeTarget {
  // Most targets have no query: skip building a URLSearchParams for them (the same n = 1 either way).
  const n = url.search === '' ? 1 : Number.parseInt(url.searchParams.get('n') ?? '1', 10);
  return { path: url.pathname, n };
}

/** Ferry's own endpoints live under this prefix; no pipe can use it. */
export const FERRY_PREFIX = '/_/';

const RESERVED_PAGES = new Set(['/', '/noscript', '/version', '/help', '/favicon.ico', '/robots.txt']);

export function isReserved(path: string): boolean {
  return RESERVED_PAGES.has(path) || path.startsWith(FERRY_PREFIX);
}
