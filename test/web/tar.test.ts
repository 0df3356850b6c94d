// The browser's tar writer, run in Node (it uses only Blob): what the system's tar reads back, and the pax records
// for what USTAR cannot hold (long or non-ASCII names, sizes from 8 GiB).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { entryHeader, paddingFor, tarBlob } from '../../web/src/lib/tar.ts';

test('an archive of directories and files that tar lists and unpacks exactly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tar-'));
  try {
    const long = `${'x'.repeat(150)}.bin`;
    const entries = [
      { path: 'top', mtime: 1_700_000_000 },
      { path: 'top/a.txt', file: new Blob(['hello\n']), mtime: 1_700_000_001 },
      { path: 'top/empty', file: new Blob([]), mtime: 1_700_000_002 },
      { path: `top/${long}`, file: new Blob([new Uint8Array(1024).fill(7)]), mtime: 1_700_000_003 },
      { path: 'top/répertoire/ñ.txt', file: new Blob(['ü']), mtime: 1_700_000_004 },
    ];
    const blob = tarBlob(entries);
    assert.equal(blob.size % 512, 0, 'whole blocks');
    writeFileSync(join(dir, 'a.tar'), new Uint8Array(await blob.arrayBuffer()));
    const listing = execFileSync('tar', ['-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
    assert.match(listing, /^drwxr-xr-x .* top\/$/m);
    assert.match(listing, /^-rw-r--r-- .* 6 2023-11-14 \d\d:\d\d top\/a\.txt$/m);
    execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', dir]);
    assert.equal(readFileSync(join(dir, 'top/a.txt'), 'utf8'), 'hello\n');
    assert.equal(readFileSync(join(dir, 'top/empty')).length, 0);
    assert.deepEqual(readFileSync(join(dir, 'top', long)), Buffer.alloc(1024, 7));
    assert.equal(readFileSync(join(dir, 'top/répertoire/ñ.txt'), 'utf8'), 'ü');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a size from 8 GiB goes in a pax record; its USTAR field is left zero', () => {
  const huge = { size: 9_000_000_000 } as Blob;
  const header = entryHeader({ path: 'big.iso', file: huge, mtime: 0 });
  const text = Buffer.from(header).toString('latin1');
  assert.match(text, /\d+ size=9000000000\n/);
  const record = /(\d+) size=9000000000\n/.exec(text) as RegExpExecArray;
  assert.equal(Number(record[1]), record[0].length, 'a pax record counts its own length');
  assert.equal(text.slice(header.length - 512 + 124, header.length - 512 + 135), '00000000000');
  assert.equal(paddingFor(9_000_000_000), 0);
  assert.equal(paddingFor(9_000_000_001), 511);
});
