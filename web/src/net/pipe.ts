// Pipe addresses as a person types them ("photos", "/team/logs", or a whole link pasted from a sender), turned into
// the relay URL both sides must use; and the few headers a sender sets so receivers see a name.

export interface PipeAddress {
  /** The request path, percent-encoded, starting with "/". */
  path: string;
  n: number;
}

export class PipeInputError extends Error {}

/** Ferry's own endpoints live under /_/ and the pages at these paths: the relay refuses to pipe through them. */
const RESERVED = new Set(['/', '/noscript', '/version', '/help', '/favicon.ico', '/robots.txt']);

export function parsePipeInput(input: string, nField: number, origin: string): PipeAddress {
  const text = input.trim();
  if (text === '') throw new PipeInputError('Enter a path, for example "photos".');
  let path: string;
  let n = nField;
  if (/^https?:\/\//i.test(text)) {
    const url = new URL(text);
    if (url.origin !== origin) throw new PipeInputError(`That link is for another server (${url.host}).`);
    path = url.pathname;
    const fromLink = Number.parseInt(url.searchParams.get('n') ?? '', 10);
    if (Number.isInteger(fromLink) && fromLink > 0) n = fromLink;
  } else {
    // Typed text is taken literally: each segment is encoded, so "%" or "?" are part of the name.
    path = `/${text
      .replace(/^\/+/, '')
      .split('/')
      .map((segment) => encodeURIComponent(segment))
      .join('/')}`;
  }
  if (RESERVED.has(path) || path.startsWith('/_/')) {
    throw new PipeInputError(`"${decodeURIComponent(path)}" is reserved by the server; choose another path.`);
  }
  if (!Number.isInteger(n) || n < 1) throw new PipeInputError('The number of receivers must be 1 or more.');
  return { path, n };
}

export function pipeUrl(origin: string, { path, n }: PipeAddress): string {
  return n === 1 ? `${origin}${path}` : `${origin}${path}?n=${n}`;
}

/** A short random path that is easy to read out: no 0/o or 1/l look-alikes. */
export function randomPath(length = 6): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

/** RFC 6266: an ASCII fallback for old clients and the exact UTF-8 name in filename*. */
export function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/** The file name a response suggests, from Content-Disposition, else from the pipe's last path segment. */
export function suggestedName(disposition: string | null, path: string): string {
  let name: string | undefined;
  if (disposition) {
    const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(disposition);
    const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/.exec(disposition);
    try {
      name = extended?.[1] ? decodeURIComponent(extended[1].trim()) : undefined;
    } catch {
      name = undefined;
    }
    name ??= plain?.[1]?.replace(/\\(.)/g, '$1') ?? plain?.[2]?.trim();
  }
  if (!name) {
    const last = path.split('/').filter(Boolean).pop() ?? '';
    try {
      name = decodeURIComponent(last);
    } catch {
      name = last;
    }
  }
  // A name, not a path: the browser would refuse or rewrite separators and control characters anyway.
  const safe = name
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is being removed.
    .replace(/[/\\\u0000-\u001f\u007f]/g, '_')
    .replace(/^\.+/, '')
    .trim();
  return safe || 'ferry-download';
}

/** Whether a response says "this is a file to save" (a filename in its disposition). */
export function namesAFile(disposition: string | null): boolean {
  return disposition !== null && /filename\*?\s*=/.test(disposition);
}
