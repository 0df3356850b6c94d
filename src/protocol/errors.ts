// One error type for everything in src/protocol: a stable machine-readable `code` (what the CLI maps to an exit
// code and the web app to a message) and a human sentence. Runs in Node and in the browser.

/** Every code a protocol-core error can carry. Stable: callers switch on these, so never rename one. */
export type ProtocolErrorCode =
  // code.ts
  | 'CODE_EMPTY'
  | 'CODE_FORMAT'
  | 'CODE_NUMBER'
  | 'CODE_WORD'
  // spake2.ts
  | 'WRONG_CODE'
  | 'SPAKE2_BAD_MESSAGE'
  | 'SPAKE2_STATE'
  // keys.ts
  | 'FINGERPRINT_MISMATCH'
  | 'FINGERPRINT_FORMAT'
  // stream-cipher.ts
  | 'CIPHER_BAD_KEY'
  | 'CIPHER_BAD_HEADER'
  | 'CIPHER_TAMPERED'
  | 'CIPHER_TRUNCATED'
  | 'CIPHER_REORDERED'
  | 'CIPHER_DUPLICATED'
  | 'CIPHER_TRAILING_DATA'
  | 'CIPHER_LIMIT'
  | 'CIPHER_STATE'
  // transfer.ts
  | 'FRAME_TYPE'
  | 'FRAME_LENGTH'
  | 'FRAME_TOO_LARGE'
  | 'FRAME_JSON'
  | 'FRAME_FIELD'
  | 'FRAME_PATH'
  | 'FRAME_TRUNCATED'
  | 'FRAME_ORDER'
  | 'OFFER_TOO_LARGE'
  | 'FLOW_CLOSED'
  // session.ts
  | 'SESSION_PROTOCOL'
  | 'SESSION_TRANSPORT'
  | 'SESSION_PEER';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isProtocolError(error: unknown, code?: ProtocolErrorCode): error is ProtocolError {
  return error instanceof ProtocolError && (code === undefined || error.code === code);
}
