// The transfer offer (src/protocol/transfer.ts) for one file a person picked in the browser: its name made a safe
// one-segment path whatever the operating system allowed in it, its size, time and type. No DOM here, so Node tests
// can check it against the receiver's frame rules.
import {
  type Entry,
  type Offer,
  TRANSFER_PROTOCOL_VERSION,
  validateEntryPath,
} from '../../../src/protocol/transfer.ts';

/** The fields of a DOM File an offer needs. */
export interface FileLike {
  name: string;
  size: number;
  type: string;
  lastModified: number;
}

/** A browser file name as a transfer path: one safe segment (no slashes, controls or dot names). */
export function entryName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  let safe = name.replace(/[\u0000-\u001f\u007f-\u009f/\\]/g, '_').replace(/^[A-Za-z]:/, '_');
  while (new TextEncoder().encode(safe).length > 255) safe = safe.slice(0, -1);
  if (safe === '' || safe === '.' || safe === '..') safe = 'file';
  validateEntryPath(safe);
  return safe;
}

/** The transfer offer for one browser File. */
export function offerFor(file: FileLike): Offer {
  const entry: Entry = { path: entryName(file.name), kind: 'file', size: file.size, mtime: file.lastModified };
  if (file.type && file.type.length <= 255) entry.type = file.type;
  return {
    version: TRANSFER_PROTOCOL_VERSION,
    kind: 'file',
    name: entry.path,
    entryCount: 1,
    totalSize: file.size,
    entries: [entry],
  };
}
