import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJsonShape, MAX_JSON_DEPTH, MAX_JSON_ITEMS } from '../../src/protocol/json-limits.ts';

test('checkJsonShape: nesting up to the bound passes, one deeper is too_deep, at any size', () => {
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  assert.equal(checkJsonShape(nested(MAX_JSON_DEPTH)), undefined);
  assert.equal(checkJsonShape(nested(MAX_JSON_DEPTH + 1))?.problem, 'too_deep');
  assert.equal(checkJsonShape(`{"a":${nested(1_000_000)}}`)?.problem, 'too_deep');
});

test('checkJsonShape: values are counted, brackets and commas inside strings are not', () => {
  const ones = (count: number) => JSON.stringify(Array<number>(count).fill(1));
  assert.equal(checkJsonShape(ones(MAX_JSON_ITEMS - 1)), undefined);
  assert.equal(checkJsonShape(ones(MAX_JSON_ITEMS + 1))?.problem, 'too_many_items');
  assert.equal(checkJsonShape(JSON.stringify({ s: `${'[,{'.repeat(10_000)}\\"[` })), undefined);
  assert.equal(checkJsonShape('{"a":"\\\\"}'), undefined);
});
