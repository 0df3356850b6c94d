// A tar (POSIX pax) writer for several files or a folder picked in the browser. The archive is a Blob made of
// small header blobs and the File objects themselves, so the browser streams it from disk when it is uploaded and
// never holds the files in memory; its exact length is known before the first byte, so receivers get a
// Content-Length. tar rather than zip: headers need no checksum of the data (zip's CRC-32 would mean reading every
// file twice or giving up the length), `curl … | tar x` unpacks as it arrives, and `ferry send` uses tar too.
// The same header functions serve a streaming writer (entries arriving one by one) when one is needed.

export interface TarEntry {
  /** Relative path with `/` separators; a directory's ends without a slash (one is added). */
  path: string;
  /** The content; absent for a directory. */
  file?: Blob;
  /** Seconds since the epoch. */
  mtime: number;
}

const BLOCK = 512;
const encoder = new TextEncoder();
// USTAR fields hold at most 11 octal digits: sizes from 8 GiB need a pax record.
const MAX_OCTAL_SIZE = 0o77777777777;

function writeString(block: Uint8Array, offset: number, length: number, text: string): void {
  block.set(encoder.encode(text).subarray(0, length), offset);
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  writeString(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function ustarHeader(name: string, size: number, mtime: number, type: '0' | '5' | 'x'): Uint8Array<ArrayBuffer> {
  const block = new Uint8Array(BLOCK);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, type === '5' ? 0o755 : 0o644);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, Math.max(0, Math.min(Math.floor(mtime), MAX_OCTAL_SIZE)));
  block.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  writeString(block, 156, 1, type);
  writeString(block, 257, 8, 'ustar\u000000');
  let sum = 0;
  for (const byte of block) sum += byte;
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** One pax record, "<length> <key>=<value>\n", where the length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = encoder.encode(body).length;
  let length = bodyBytes + 1;
  while (String(length).length + bodyBytes !== length) length = String(length).length + bodyBytes;
  return `${length}${body}`;
}

export function paddingFor(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Header blocks for one entry: a pax header first when the name or the size does not fit USTAR. */
export function entryHeader(entry: TarEntry): Uint8Array<ArrayBuffer> {
  const isDir = entry.file === undefined;
  const name = isDir ? `${entry.path}/` : entry.path;
  const size = entry.file?.size ?? 0;
  const nameBytes = encoder.encode(name);
  const ascii = nameBytes.length === name.length;
  let records = '';
  if (!ascii || nameBytes.length > 100) records += paxRecord('path', name);
  if (size > MAX_OCTAL_SIZE) records += paxRecord('size', String(size));
  const header = ustarHeader(
    ascii ? name : name.replace(/[^\x20-\x7e]/g, '_'),
    size > MAX_OCTAL_SIZE ? 0 : size,
    entry.mtime,
    isDir ? '5' : '0',
  );
  if (records === '') return header;
  const paxBody = encoder.encode(records);
  const out = new Uint8Array(BLOCK + paxBody.length + paddingFor(paxBody.length) + BLOCK);
  out.set(
    ustarHeader(`PaxHeader/${name.replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100), paxBody.length, entry.mtime, 'x'),
  );
  out.set(paxBody, BLOCK);
  out.set(header, out.length - BLOCK);
  return out;
}

/** Two zero blocks end an archive. */
export const TAR_END = new Uint8Array(2 * BLOCK);

const ZEROS = new Uint8Array(BLOCK);

/** The whole archive as a Blob that references the files rather than copying them. */
export function tarBlob(entries: readonly TarEntry[]): Blob {
  const parts: (Blob | Uint8Array<ArrayBuffer>)[] = [];
  for (const entry of entries) {
    parts.push(entryHeader(entry));
    if (entry.file) {
      parts.push(entry.file);
      const pad = paddingFor(entry.file.size);
      if (pad > 0) parts.push(ZEROS.subarray(0, pad));
    }
  }
  parts.push(TAR_END);
  return new Blob(parts, { type: 'application/x-tar' });
}
