// The README is the user's reference: every serve flag, its variable and its default must be in it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SERVE_OPTIONS } from '../src/server/config.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('the README documents every ferry serve option with its variable and default', () => {
  for (const option of SERVE_OPTIONS) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${option.flags}\``));
    assert.ok(row, `README has no row for ${option.flags}`);
    assert.ok(row.includes(`\`${option.env}\``), `README row of ${option.flags} lacks ${option.env}`);
    if (option.default !== undefined && !Array.isArray(option.default)) {
      assert.ok(row.includes(`\`${String(option.default)}\``), `README row of ${option.flags} lacks its default`);
    }
  }
});
