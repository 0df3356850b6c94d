// Sending to a pipe: one PUT whose body is a Blob (a File, the tar archive's composite Blob, or text), through
// XMLHttpRequest because it alone reports upload progress. The browser reads a Blob from disk as it sends, so nothing
// is held in memory, and the request carries a Content-Length that receivers turn into a percentage and an ETA.
// (A fetch() with a ReadableStream body streams too, but Chromium allows it only over HTTP/2 or HTTP/3, it sends no
// Content-Length, and it measured slower here; see README "Web app".)

import { authHeaders } from './access.ts';

export interface UploadHooks {
  /** Bytes handed to the network so far. */
  onProgress(sent: number, total: number): void;
  /** The relay's log to the sender so far (readable once the body has gone out). */
  onLog(log: string): void;
}

export interface UploadResult {
  status: number;
  log: string;
}

export class UploadError extends Error {
  constructor(
    message: string,
    readonly kind: 'network' | 'aborted',
  ) {
    super(message);
  }
}

export function upload(
  url: string,
  body: Blob,
  headers: Record<string, string>,
  hooks: UploadHooks,
  signal: AbortSignal,
): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [name, value] of Object.entries({ ...authHeaders(), ...headers })) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => hooks.onProgress(e.loaded, e.lengthComputable ? e.total : body.size);
    xhr.upload.onload = () => hooks.onProgress(body.size, body.size);
    xhr.onprogress = () => hooks.onLog(xhr.responseText);
    xhr.onload = () => {
      hooks.onLog(xhr.responseText);
      resolve({ status: xhr.status, log: xhr.responseText });
    };
    xhr.onerror = () => reject(new UploadError('the connection to the server was lost', 'network'));
    xhr.onabort = () => reject(new UploadError('cancelled', 'aborted'));
    const abort = () => xhr.abort();
    signal.addEventListener('abort', abort, { once: true });
    xhr.onloadend = () => signal.removeEventListener('abort', abort);
    xhr.send(body);
  });
}

/** What the relay's sender log says so far (its lines are piping-server's, word for word). */
export interface SenderLogState {
  /** Receivers the pipe waits for. */
  expected?: number;
  connected: number;
  started: boolean;
  sent: boolean;
  outcome?: 'received' | 'partial' | 'aborted';
  received?: number;
  aborted?: number;
  error?: string;
}

// Each line of the log and what it changes; the lines are piping-server's, kept word for word by Ferry's relay.
const LOG_LINES: [RegExp, (state: SenderLogState, match: RegExpExecArray) => void][] = [
  [/^\[INFO\] Waiting for (\d+) receiver\(s\)/, (s, m) => (s.expected = Number(m[1]))],
  [/^\[INFO\] (\d+) receiver\(s\) has\/have been connected/, (s, m) => (s.connected = Number(m[1]))],
  [/^\[INFO\] A receiver was connected/, (s) => (s.connected += 1)],
  [/^\[INFO\] Start sending/, (s) => (s.started = true)],
  [/^\[INFO\] Sent successfully/, (s) => (s.sent = true)],
  [/^\[INFO\] All receiver\(s\) was\/were received successfully/, (s) => (s.outcome = 'received')],
  [/^\[INFO\] All receiver\(s\) was\/were aborted halfway/, (s) => (s.outcome = 'aborted')],
  [
    /^\[INFO\] (\d+) receiver\(s\) received successfully; (\d+) aborted halfway/,
    (s, m) => {
      s.outcome = 'partial';
      s.received = Number(m[1]);
      s.aborted = Number(m[2]);
    },
  ],
  [/^\[ERROR\] (.*)$/, (s, m) => (s.error = m[1])],
];

export function readSenderLog(log: string): SenderLogState {
  const state: SenderLogState = { connected: 0, started: false, sent: false };
  for (const line of log.split('\n')) {
    for (const [pattern, apply] of LOG_LINES) {
      const match = pattern.exec(line);
      if (match) {
        apply(state, match);
        break;
      }
    }
  }
  return state;
}
