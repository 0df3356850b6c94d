// src/protocol is bundled for the browser as well: it may only use Web-platform APIs and its few isomorphic packages.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const DIR = join(import.meta.dirname, '../../src/protocol');
const ALLOWED_PACKAGES = /^(@noble\/curves|@noble\/hashes|@scure\/bip39|zod)(\/|$)/;

test('src/protocol imports nothing Node-only and uses no Node globals', () => {
  const files = readdirSync(DIR).filter((name) => name.endsWith('.ts'));
  assert.ok(files.length >= 6);
  for (const name of files) {
    const source = readFileSync(join(DIR, name), 'utf8');
    for (const match of source.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)) {
      const specifier = (match[1] ?? match[2]) as string;
      assert.ok(
        specifier.startsWith('./') || ALLOWED_PACKAGES.test(specifier),
        `${name} imports ${specifier}: only relative modules and isomorphic packages are allowed`,
      );
    }
    const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const global of [/\bBuffer\b/, /\bprocess\./, /\brequire\(/, /\b__dirname\b/, /\bsetImmediate\b/]) {
      assert.ok(!global.test(code), `${name} uses the Node-only ${global.source}`);
    }
  }
});
