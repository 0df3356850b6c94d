// The access token a client presents to a Ferry server (server/access.ts), and what its refusal means. The token goes
// only to the Ferry server, as `Authorization: Bearer` on every request and WebSocket upgrade; never to TURN or STUN.

export type AccessRefusalCode = 'token_required' | 'token_invalid';

/** The server answered 401: it wants a token and we sent none, or the one we sent is not one of its tokens. */
export class AccessRefused extends Error {
  override readonly name = 'AccessRefused';
  constructor(
    readonly code: AccessRefusalCode,
    message: string,
  ) {
    super(message);
  }
}

/** What a token may hold: visible ASCII (as the server requires), so it cannot break a header it travels in. */
export const TOKEN_SHAPE = /^[\x21-\x7e]+$/;

/** The headers that present `token` (none without one). */
export function authorization(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/**
 * A 401 for `what` as a refusal. The server says token_required for no token and token_invalid for a wrong one, so
 * whether we sent one tells which, without trusting a body. The message never holds the token.
 */
export function accessRefused(what: string, sentToken: boolean): AccessRefused {
  return sentToken
    ? new AccessRefused('token_invalid', `the server does not accept this access token for ${what}`)
    : new AccessRefused('token_required', `the server needs an access token for ${what} (--token or FERRY_TOKEN)`);
}
