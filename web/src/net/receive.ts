// Receiving from a pipe in the page: wait for the transfer to start, then either show a short text (a message sent
// from another Ferry page or `echo … | curl -T -`) or stream the bytes into a download, counting and hashing them
// on the way. A transfer that stops short fails the download, so a cut file never looks complete.

import { authHeaders } from './access.ts';
import { createHasher, type StreamHasher } from './hasher.ts';
import { namesAFile, suggestedName } from './pipe.ts';
import type { StreamSaver } from './save.ts';

/** Longest text shown in the page rather than saved; anything longer (or binary, or named) is a download. */
export const TEXT_LIMIT = 256 * 1024;

export interface IncomingInfo {
  name: string;
  size?: number;
  type?: string;
}

export interface ReceiveHooks {
  onStart(info: IncomingInfo): void;
  onProgress(bytes: number): void;
  /** Called when the bytes start going to a download (not for a text shown in the page). */
  onSaving?(): void;
}

/** `sha256` is empty unless it was asked for. */
export type ReceiveOutcome =
  | { kind: 'text'; text: string; bytes: number; sha256: string }
  | { kind: 'file'; name: string; bytes: number; sha256: string };

export class ReceiveError extends Error {
  constructor(
    message: string,
    readonly kind: 'refused' | 'cut' | 'network' | 'aborted',
  ) {
    super(message);
  }
}

function textLike(type: string | undefined): boolean {
  if (type === undefined) return true;
  const essence = (type.split(';')[0] ?? '').trim().toLowerCase();
  return (
    essence === '' ||
    essence.startsWith('text/') ||
    essence === 'application/json' ||
    // curl --data-binary sends this type whatever the data is.
    essence === 'application/x-www-form-urlencoded'
  );
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function asText(chunks: readonly Uint8Array[], length: number): string | undefined {
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return undefined;
  }
  // Control characters other than tabs, line and page breaks and escape mean binary data that happens to be UTF-8.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is being looked for.
  return /[\u0000-\u0008\u000e-\u001a\u001c-\u001f]/.test(text) ? undefined : text;
}

function streamError(err: unknown, signal: AbortSignal): ReceiveError {
  if (signal.aborted) return new ReceiveError('cancelled', 'aborted');
  return new ReceiveError(
    `the transfer was cut before the end (the sender left or the connection dropped): ${(err as Error).message}`,
    'cut',
  );
}

export interface ReceiveOptions {
  /** Hash what arrives (in a worker; it still costs CPU: on two busy cores it halved the speed). */
  sha256: boolean;
}

/** A hasher that does nothing, when no hash was asked for. */
const NO_HASH: StreamHasher = { update: () => undefined, digest: async () => '', close: () => {} };

export async function receive(
  url: string,
  path: string,
  saver: StreamSaver,
  hooks: ReceiveHooks,
  signal: AbortSignal,
  options: ReceiveOptions = { sha256: false },
): Promise<ReceiveOutcome> {
  let response: Response;
  try {
    response = await fetch(url, { signal, cache: 'no-store', headers: authHeaders() });
  } catch (err) {
    if (signal.aborted) throw new ReceiveError('cancelled', 'aborted');
    throw new ReceiveError(`the server could not be reached (${(err as Error).message})`, 'network');
  }
  if (response.status !== 200 || !response.body) {
    const text = (await response.text().catch(() => '')).trim();
    throw new ReceiveError(text.replace(/^\[ERROR\]\s*/, '') || `the server answered ${response.status}`, 'refused');
  }
  const lengthHeader = response.headers.get('content-length');
  const size = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const disposition = response.headers.get('content-disposition');
  const type = response.headers.get('content-type') ?? undefined;
  const name = suggestedName(disposition, path);
  hooks.onStart({ name, size, type });

  const reader = response.body.getReader();
  const hash = options.sha256 ? createHasher() : NO_HASH;
  let bytes = 0;
  const head: Uint8Array[] = [];
  let ended = false;
  try {
    if (!namesAFile(disposition) && textLike(type) && (size === undefined || size <= TEXT_LIMIT)) {
      while (bytes <= TEXT_LIMIT) {
        const { done, value } = await reader.read();
        if (done) {
          ended = true;
          break;
        }
        head.push(value);
        await hash.update(value);
        bytes += value.length;
        hooks.onProgress(bytes);
      }
      const text = ended ? asText(head, bytes) : undefined;
      if (text !== undefined) return { kind: 'text', text, bytes, sha256: await hash.digest() };
    }
  } catch (err) {
    hash.close();
    throw streamError(err, signal);
  }

  let out: WritableStream<Uint8Array>;
  try {
    out = await saver.open(name, size);
  } catch (err) {
    hash.close();
    await reader.cancel().catch(() => {});
    throw new ReceiveError(`the download could not start: ${(err as Error).message}`, 'network');
  }
  hooks.onSaving?.();
  const writer = out.getWriter();
  try {
    for (const chunk of head) await writer.write(chunk);
    while (!ended) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      const hashing = hash.update(value);
      await writer.write(value);
      await hashing;
      hooks.onProgress(bytes);
    }
    if (size !== undefined && bytes !== size) throw new Error(`${bytes} of ${size} bytes arrived`);
  } catch (err) {
    const error = err instanceof ReceiveError ? err : streamError(err, signal);
    hash.close();
    await writer.abort(error).catch(() => {});
    await reader.cancel().catch(() => {});
    throw error;
  }
  await writer.close();
  return { kind: 'file', name, bytes, sha256: await hash.digest() };
}
