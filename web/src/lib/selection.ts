// What the user picked to send: one file (sent as it is) or several files and folders (sent as one tar archive).
// Built from a file input (files, or a folder with webkitdirectory) or from a drop, whose folders are walked.
import type { TarEntry } from './tar.ts';

export interface Selection {
  /** Set when exactly one file was picked: it is sent unchanged, under its own name and type. */
  single?: File;
  /** Every entry of the archive otherwise (directories included, parents before children). */
  entries: TarEntry[];
  files: number;
  bytes: number;
  /** The name a receiver saves: the file's, or the folder's (or "files") plus ".tar". */
  name: string;
}

function seconds(file: File): number {
  return Math.floor((file.lastModified || Date.now()) / 1000);
}

/** Drop empty, "." and ".." segments: a picked name never climbs out of the archive. */
function cleanPath(path: string): string {
  return path
    .split('/')
    .filter((s) => s !== '' && s !== '.' && s !== '..')
    .join('/');
}

class Builder {
  readonly entries: TarEntry[] = [];
  private readonly seen = new Set<string>();
  files = 0;
  bytes = 0;
  single: File | undefined;

  dir(path: string, mtime = Math.floor(Date.now() / 1000)): void {
    const clean = cleanPath(path);
    if (clean === '' || this.seen.has(`${clean}/`)) return;
    const parent = clean.includes('/') ? clean.slice(0, clean.lastIndexOf('/')) : '';
    if (parent) this.dir(parent, mtime);
    this.seen.add(`${clean}/`);
    this.entries.push({ path: clean, mtime });
  }

  file(path: string, file: File): void {
    let clean = cleanPath(path) || 'file';
    const slash = clean.lastIndexOf('/');
    if (slash > 0) this.dir(clean.slice(0, slash));
    // Two picked files with one name (from different folders of a drop) must both arrive.
    if (this.seen.has(clean)) {
      const dot = clean.lastIndexOf('.');
      const [stem, ext] = dot > slash + 1 ? [clean.slice(0, dot), clean.slice(dot)] : [clean, ''];
      let n = 2;
      while (this.seen.has(`${stem} (${n})${ext}`)) n += 1;
      clean = `${stem} (${n})${ext}`;
    }
    this.seen.add(clean);
    this.entries.push({ path: clean, file, mtime: seconds(file) });
    this.files += 1;
    this.bytes += file.size;
    this.single = this.files === 1 && this.entries.length === 1 ? file : undefined;
  }

  build(): Selection {
    const tops = new Set(this.entries.map((e) => e.path.split('/')[0]));
    const onlyTop = tops.size === 1 ? [...tops][0] : undefined;
    const folder = onlyTop !== undefined && this.entries.some((e) => e.path === onlyTop && !e.file);
    if (this.single && this.entries.length === 1) {
      return { single: this.single, entries: this.entries, files: 1, bytes: this.bytes, name: this.single.name };
    }
    return { entries: this.entries, files: this.files, bytes: this.bytes, name: `${folder ? onlyTop : 'files'}.tar` };
  }
}

/** Files from an input: plain names, or their folder paths when the input picked a folder. */
export function fromFiles(files: readonly File[]): Selection {
  const builder = new Builder();
  for (const file of files) builder.file(file.webkitRelativePath || file.name, file);
  return builder.build();
}

/** Files and folders from a drop; folders are walked (the API hands out at most 100 entries per read). */
export async function fromDrop(items: DataTransferItemList): Promise<Selection> {
  const builder = new Builder();
  // Entries must be taken synchronously, during the drop event; the walk that follows may be async.
  const roots: FileSystemEntry[] = [];
  for (const item of Array.from(items)) {
    const entry = item.kind === 'file' ? item.webkitGetAsEntry() : null;
    if (entry) roots.push(entry);
  }
  const walk = async (entry: FileSystemEntry, path: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      builder.file(path, file);
      return;
    }
    builder.dir(path);
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${path}/${child.name}`);
    }
  };
  for (const root of roots) await walk(root, root.name);
  return builder.build();
}

export function isEmpty(selection: Selection | undefined): boolean {
  return selection === undefined || selection.entries.length === 0;
}
