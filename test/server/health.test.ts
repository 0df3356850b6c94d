import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { curl } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());

test('GET /_/health answers 200 with JSON', async () => {
  const res = await curl(['-i', `${ferry.url}/_/health`]);
  assert.equal(res.code, 0);
  const [head, body] = res.stdout.toString().split('\r\n\r\n');
  assert.match(head ?? '', /^HTTP\/1\.1 200/);
  assert.match(head ?? '', /content-type: application\/json/i);
  const health = JSON.parse(body ?? '');
  assert.equal(health.status, 'ok');
  assert.equal(typeof health.version, 'string');
});

test('an unknown /_/ endpoint is a 404, and /_/ cannot be a pipe', async () => {
  assert.match((await curl(['-i', `${ferry.url}/_/nope`])).stdout.toString(), /^HTTP\/1\.1 404/);
  const put = await curl(['-i', '-T', '-', `${ferry.url}/_/pipe`], 'x');
  assert.match(put.stdout.toString(), /HTTP\/1\.1 400[\s\S]*Cannot send to the reserved path '\/_\/pipe'/);
});
