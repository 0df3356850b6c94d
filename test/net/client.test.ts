import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientKey, PerClientCounter } from '../../src/net/client.ts';

test('clientKey: IPv4 and IPv4-mapped IPv6 are one client; IPv6 counts by its /64', () => {
  assert.equal(clientKey('127.0.0.1'), '127.0.0.1');
  assert.equal(clientKey('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('2001:db8:1:2::5'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:DB8:1:3::5'), '2001:db8:1:3::/64');
  assert.equal(clientKey(undefined), 'unknown');
});

test('PerClientCounter: a client holds at most its limit, and what it gives back is free again', () => {
  const counter = new PerClientCounter(2);
  assert.equal(counter.acquire('a'), true);
  assert.equal(counter.acquire('a'), true);
  assert.equal(counter.acquire('a'), false);
  assert.equal(counter.acquire('b'), true);
  assert.equal(counter.count('a'), 2);
  counter.release('a');
  assert.equal(counter.acquire('a'), true);
  counter.release('a');
  counter.release('a');
  counter.release('b');
  assert.equal(counter.count('a'), 0);
  assert.equal(counter.count('b'), 0);
});
