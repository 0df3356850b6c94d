// The filesystem side of `ferry send` / `ferry receive`: what to offer for a file, a folder or stdin, and where
// received bytes go. A receiver writes everything into a hidden staging folder inside the target folder and moves
// it into place only after DONE checked out, so a declined, cancelled or failed transfer leaves nothing behind.
// Entry paths were already validated by the protocol (no "..", no absolute paths); here we also refuse to write
// through a symbolic link that exists on disk, so nothing can land outside the target folder.
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import {
  chmod,
  type FileHandle,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  stat,
  utimes,
} from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import {
  DATA_FRAME_BYTES,
  type Entry,
  type IncrementalSha256,
  type Offer,
  validateEntryPath,
} from '../protocol/transfer.ts';
import type { FileSink } from '../protocol/transfer-session.ts';

/** SHA-256 over node:crypto (native, about ten times @noble's JavaScript on this hot path). */
export function nodeSha256(): IncrementalSha256 {
  const hash = createHash('sha256');
  let bytes = 0;
  return {
    update(data: Uint8Array) {
      hash.update(data);
      bytes += data.length;
    },
    get bytes() {
      return bytes;
    },
    hex: () => hash.digest('hex'),
  };
}

export interface OfferSource {
  offer: Offer;
  /** Absolute path of each entry (empty for stdin). */
  paths: string[];
  /** Symbolic links and special files that were left out of a folder. */
  skipped: string[];
  read(index: number): AsyncIterable<Uint8Array>;
}

/**
 * File reads of about 1 MiB (fewer thread-pool round trips than 64 KiB ones), a whole number of DATA frames so the
 * transfer loop cuts only full frames from them.
 */
const READ_BYTES = 16 * DATA_FRAME_BYTES;

/** Reads into `buffer` until it is full or the file ends; resolves with the bytes read. */
async function fill(handle: FileHandle, buffer: Buffer): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/**
 * A file's bytes in full pieces of READ_BYTES (the last one shorter), read ahead into two buffers in turn: the next
 * piece is read while the transfer loop sends this one (a read no longer leaves the channel idle), and nothing is
 * allocated per read. The loop is done with a piece when it asks for the next, which goes into the other buffer.
 */
async function* readFile(path: string): AsyncGenerator<Uint8Array> {
  const handle = await open(path, 'r');
  let current = Buffer.allocUnsafe(READ_BYTES);
  let spare = Buffer.allocUnsafe(READ_BYTES);
  const read = (buffer: Buffer) => {
    const promise = fill(handle, buffer);
    // Awaited below; until then a failed read must not count as unhandled.
    promise.catch(() => {});
    return promise;
  };
  let reading = read(current);
  try {
    for (;;) {
      const filled = await reading;
      const piece = current.subarray(0, filled);
      if (filled < READ_BYTES) {
        if (filled > 0) yield piece;
        return;
      }
      [current, spare] = [spare, current];
      reading = read(current);
      yield piece;
    }
  } finally {
    // The loop may stop early with a read in flight: let it finish before the file is closed.
    await reading.catch(() => {});
    await handle.close();
  }
}

/** Permission bits we send and restore: rwx for user, group, others. Set-id and sticky bits are not carried. */
const MODE_BITS = 0o777;

/** This process's umask, read once: process.umask() sets it to 0 and back, which is not for every file. */
let umask: number | undefined;

/**
 * The mode a received entry gets here: the sender's permission bits, less what this user's umask takes away (as for
 * any file this user creates), and never writable by others — whatever the sender asks for.
 */
function localMode(mode: number): number {
  umask ??= process.umask();
  return mode & MODE_BITS & ~umask & ~0o002;
}

/** What `ferry send PATH` offers: one file, a folder tree, or stdin ('-') as a stream of unknown length. */
export async function offerFor(target: string): Promise<OfferSource> {
  if (target === '-') {
    return {
      offer: {
        version: 1,
        kind: 'stream',
        name: 'stdin',
        entryCount: 1,
        totalSize: null,
        entries: [{ path: 'stdin', kind: 'file', size: null }],
      },
      paths: [''],
      skipped: [],
      read: () => process.stdin as AsyncIterable<Uint8Array>,
    };
  }
  const root = resolve(target);
  const info = await stat(root);
  const name = basename(root);
  validateEntryPath(name);
  if (info.isFile()) {
    const entry: Entry = {
      path: name,
      kind: 'file',
      size: info.size,
      mode: info.mode & MODE_BITS,
      mtime: info.mtimeMs,
    };
    return {
      offer: { version: 1, kind: 'file', name, entryCount: 1, totalSize: info.size, entries: [entry] },
      paths: [root],
      skipped: [],
      read: () => readFile(root),
    };
  }
  if (!info.isDirectory()) throw new Error(`${target} is neither a file nor a folder`);
  const entries: Entry[] = [
    { path: name, kind: 'directory', size: null, mode: info.mode & MODE_BITS, mtime: info.mtimeMs },
  ];
  const paths: string[] = [root];
  const skipped: string[] = [];
  // Depth first, names sorted: the same folder always gives the same offer.
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const child of names) {
      const full = join(dir, child);
      const path = `${prefix}/${child}`;
      const childInfo = await lstat(full);
      if (childInfo.isSymbolicLink() || !(childInfo.isFile() || childInfo.isDirectory())) {
        // A link could point anywhere on this machine; the protocol carries files and folders only.
        skipped.push(path);
        continue;
      }
      validateEntryPath(path);
      const mode = childInfo.mode & MODE_BITS;
      if (childInfo.isDirectory()) {
        entries.push({ path, kind: 'directory', size: null, mode, mtime: childInfo.mtimeMs });
        paths.push(full);
        await walk(full, path);
      } else {
        entries.push({ path, kind: 'file', size: childInfo.size, mode, mtime: childInfo.mtimeMs });
        paths.push(full);
      }
    }
  };
  await walk(root, name);
  const totalSize = entries.reduce((sum, e) => sum + (e.size ?? 0), 0);
  return {
    offer: { version: 1, kind: 'directory', name, entryCount: entries.length, totalSize, entries },
    paths,
    skipped,
    read: (index) => readFile(paths[index] as string),
  };
}

/** The top-level names an offer would create in the target folder. */
export function topLevelNames(offer: Offer): string[] {
  return [...new Set(offer.entries.map((e) => e.path.split('/')[0] as string))];
}

/**
 * Names of the offer that exist already in `dir` (what --force is needed for), and which are links: the top-level
 * names, and, under a top-level folder that exists (a --force merge), every offered path that is a link on disk, so
 * the offer is refused before any byte could be written through one.
 */
export async function existing(dir: string, offer: Offer): Promise<{ name: string; link: boolean }[]> {
  const found: { name: string; link: boolean }[] = [];
  const folders = new Set<string>();
  for (const name of topLevelNames(offer)) {
    try {
      const info = await lstat(join(dir, name));
      found.push({ name, link: info.isSymbolicLink() });
      if (info.isDirectory()) folders.add(name);
    } catch {
      // Free.
    }
  }
  // What each offered path is on disk, asked once per path: a path's parents are asked before it (only a real folder
  // can have something below it), each from the cache once known, so a deep chain costs one lstat per name.
  const seen = new Map<string, Promise<'folder' | 'other'>>();
  const state = (path: string): Promise<'folder' | 'other'> => {
    let known = seen.get(path);
    if (known === undefined) {
      known = (async () => {
        const cut = path.lastIndexOf('/');
        if (cut === -1) return folders.has(path) ? 'folder' : 'other';
        if ((await state(path.slice(0, cut))) !== 'folder') return 'other';
        try {
          const info = await lstat(join(dir, path));
          if (info.isDirectory()) return 'folder';
          // A link stops the walk and the offer.
          if (info.isSymbolicLink()) found.push({ name: path, link: true });
        } catch {
          // Not there: nothing below it can be a link.
        }
        return 'other';
      })();
      seen.set(path, known);
    }
    return known;
  };
  for (const entry of offer.entries) {
    if (folders.has(entry.path.split('/', 1)[0] as string)) await state(entry.path);
  }
  return found;
}

export class RefusedError extends Error {
  override readonly name = 'RefusedError';
}

/** Writes an offer under a staging folder in `dir`; complete() moves it into place, abort() removes it. */
export class DiskSink implements FileSink {
  #stage: string | undefined;
  #open: { index: number; handle: FileHandle } | undefined;
  #done = false;

  private constructor(
    private readonly dir: string,
    private readonly offer: Offer,
    private readonly force: boolean,
  ) {}

  static async create(dir: string, offer: Offer, force: boolean): Promise<DiskSink> {
    const sink = new DiskSink(resolve(dir), offer, force);
    // The staging folder sits in the target folder: same filesystem, so moving into place is a rename.
    sink.#stage = await mkdtemp(join(sink.dir, '.ferry-receiving-'));
    for (const entry of offer.entries) {
      if (entry.kind === 'directory') await mkdir(join(sink.#stage, entry.path), { recursive: true, mode: 0o700 });
    }
    return sink;
  }

  async write(index: number, entry: Entry, data: Uint8Array): Promise<void> {
    const { fd } = await this.#file(index, entry);
    // Written at once and synchronously, while the frame is still in the CPU's cache: copying it into the page cache
    // takes microseconds, where 1 MiB batches written on the thread pool read every byte back from memory and kept
    // the frames alive into the old generation (16 % of the receiver's CPU time on a relay transfer, bench/README.md).
    // Backpressure is unchanged: a slow disk blocks the loop, which then reads nothing more from the network.
    let at = 0;
    while (at < data.length) at += writeSync(fd, data, at);
  }

  async fileDone(index: number, entry: Entry): Promise<void> {
    const handle = await this.#file(index, entry);
    this.#open = undefined;
    await handle.close();
    const path = join(this.#stage as string, entry.path);
    if (entry.mode !== undefined) await chmod(path, localMode(entry.mode));
    if (entry.mtime !== undefined) await utimes(path, new Date(), new Date(entry.mtime));
  }

  async complete(): Promise<void> {
    const stage = this.#stage as string;
    // Folder modes last (deepest first): a read-only folder must not stop its own files from being written.
    const dirs = this.offer.entries.filter((e) => e.kind === 'directory').reverse();
    for (const entry of dirs) {
      const path = join(stage, entry.path);
      if (entry.mode !== undefined) await chmod(path, localMode(entry.mode) | 0o700);
      if (entry.mtime !== undefined) await utimes(path, new Date(), new Date(entry.mtime));
    }
    for (const name of topLevelNames(this.offer)) await this.#place(join(stage, name), join(this.dir, name));
    // Exact folder modes once everything is in place (0o700 was kept above so the merge could write into them).
    for (const entry of dirs) {
      if (entry.mode !== undefined) await chmod(join(this.dir, entry.path), localMode(entry.mode));
    }
    this.#done = true;
    await rm(stage, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    if (this.#done || this.#stage === undefined) return;
    this.#done = true;
    await this.#open?.handle.close().catch(() => {});
    await rm(this.#stage, { recursive: true, force: true }).catch(() => {});
  }

  async #file(index: number, entry: Entry): Promise<FileHandle> {
    if (this.#open?.index === index) return this.#open.handle;
    // 'wx': a fresh file, never one that is already there (nor a link planted in the staging folder).
    const handle = await open(join(this.#stage as string, entry.path), 'wx', 0o600);
    this.#open = { index, handle };
    return handle;
  }

  /** Moves a staged entry to `dest`: a rename when free; with --force, replaces a file, merges into a folder. */
  async #place(staged: string, dest: string): Promise<void> {
    let current: Awaited<ReturnType<typeof lstat>> | undefined;
    try {
      current = await lstat(dest);
    } catch {
      current = undefined;
    }
    if (current === undefined) return rename(staged, dest);
    if (current.isSymbolicLink()) {
      throw new RefusedError(`${dest} is a symbolic link: not writing through it`);
    }
    if (!this.force) throw new RefusedError(`${dest} already exists (use --force to overwrite)`);
    const incoming = await lstat(staged);
    if (incoming.isDirectory() && current.isDirectory()) {
      for (const child of await readdir(staged)) await this.#place(join(staged, child), join(dest, child));
      return;
    }
    await rm(dest, { recursive: true, force: true });
    await rename(staged, dest);
  }
}

/** Writes the (single) file of an offer to stdout, with backpressure; nothing to undo if it fails. */
export class StdoutSink implements FileSink {
  async write(_index: number, _entry: Entry, data: Uint8Array): Promise<void> {
    if (process.stdout.write(data)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        process.stdout.off('drain', onDrain).off('error', done);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => done();
      process.stdout.on('drain', onDrain).on('error', done);
    });
  }

  async fileDone(): Promise<void> {}

  async complete(): Promise<void> {}

  async abort(): Promise<void> {}
}
