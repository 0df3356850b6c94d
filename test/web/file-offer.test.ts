// What the rooms screen offers for a browser file: its name made a safe one-segment transfer path (whatever the
// operating system allowed in it), and an offer the receiving side's frame rules accept.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeFrame, encodeFrame, offerFrames, TransferReceiver } from '../../src/protocol/transfer.ts';
import { entryName, offerFor } from '../../web/src/lib/file-offer.ts';

describe('room file offers', () => {
  test('a file name becomes one safe path segment', () => {
    assert.equal(entryName('report.pdf'), 'report.pdf');
    assert.equal(entryName('a/b\\c.txt'), 'a_b_c.txt');
    assert.equal(entryName('C:evil'), '_evil');
    assert.equal(entryName('tab\there'), 'tab_here');
    assert.equal(entryName('..'), 'file');
    assert.equal(entryName(''), 'file');
    assert.equal(new TextEncoder().encode(entryName('é'.repeat(300))).length <= 255, true);
  });

  test('the offer for a File passes the receiver’s checks', () => {
    const file = new File([new Uint8Array(1234)], 'notes/2024.txt', {
      type: 'text/plain',
      lastModified: 1_700_000_000,
    });
    const receiver = new TransferReceiver();
    let seen: unknown;
    for (const frame of offerFrames(offerFor(file))) {
      const event = receiver.receive(decodeFrame(encodeFrame(frame)));
      if (event?.type === 'offer') seen = event.offer;
    }
    assert.deepEqual(seen, {
      version: 1,
      kind: 'file',
      name: 'notes_2024.txt',
      entryCount: 1,
      totalSize: 1234,
      entries: [{ path: 'notes_2024.txt', kind: 'file', size: 1234, mtime: 1_700_000_000, type: 'text/plain' }],
    });
  });
});
