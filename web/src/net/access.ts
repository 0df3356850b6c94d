// The access token of a server that asks for one (README "Access control"): kept in this browser's localStorage,
// sent as `Authorization: Bearer` on fetches and uploads, and as `?token=` on WebSockets, where a page cannot set
// headers. Without a token nothing is added, and a server without access control sees what it always saw.
const KEY = 'ferry.accessToken';

export function accessToken(): string | undefined {
  try {
    return localStorage.getItem(KEY) || undefined;
  } catch {
    // Storage may be off (a privacy setting): the token then lives only as long as nothing asks for it.
    return undefined;
  }
}

export function setAccessToken(token: string | undefined): void {
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {}
}

/** Headers for a fetch or an XMLHttpRequest to our own server. */
export function authHeaders(): Record<string, string> {
  const token = accessToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** A WebSocket URL with the token on it. */
export function withToken(url: URL): URL {
  const token = accessToken();
  if (token) url.searchParams.set('token', token);
  return url;
}
