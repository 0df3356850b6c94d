// Reference §1.11: a multipart/form-data sender forwards its first part only, with the part's own headers.
// And the fixes: B3 (no boundary: a clear 400, the path never wedges), B4 (a multi-field form: the receiver
// gets exactly the first field and the transfer completes), B5 (a sender leaving mid-part cuts the receivers).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { curl } from '../helpers/curl.ts';
import { startFerry, type TestServer } from '../helpers/ferry.ts';
import {
  RawClient,
  Receiver,
  type ReceiverResult,
  randomFile,
  request,
  Sender,
  SUITE_TIMEOUT,
  startCurl,
  uniquePath,
  waitForStats,
  within,
} from '../helpers/relay.ts';

let ferry: TestServer;
before(async () => {
  ferry = await startFerry();
});
after(() => ferry.close());
afterEach(() => waitForStats(ferry.url, (s) => s.waiting === 0 && s.active === 0, 'the relay to be idle'));

const ALL_RECEIVED = '[INFO] All receiver(s) was/were received successfully.\n';
const malformed = (reason: string) => `[ERROR] Malformed multipart/form-data: ${reason}.\n`;

/**
 * A form found broken is never a clean end for a receiver: before its headers went out it gets a 400 with the
 * reason; after (when the fault shows up later in the stream) its response is cut. Which one depends on how the
 * upload was split into packets, so both are accepted.
 */
function assertFailed(received: ReceiverResult, reason: string): void {
  if (received.status === 400) {
    assert.equal(received.body.toString(), malformed(reason));
  } else {
    assert.equal(received.status, 200);
    assert.equal(received.complete, false, 'the response is cut');
  }
}

/** A receiver that is registered before the test goes on. */
async function waitingReceiver(url: string, count = 1): Promise<Receiver> {
  const receiver = new Receiver(url);
  await waitForStats(ferry.url, (s) => s.waitingReceivers === count, 'the receiver');
  return receiver;
}

/** Put a hand-made multipart body through a pipe; return what the receiver and the sender saw. */
async function sendForm(contentType: string, body: string | Buffer) {
  const path = uniquePath();
  const receiver = await waitingReceiver(`${ferry.url}${path}`);
  const sent = await request(`${ferry.url}${path}`, { method: 'POST', headers: { 'Content-Type': contentType }, body });
  return { received: await receiver.result, sent, path };
}

describe('multipart/form-data senders', { timeout: SUITE_TIMEOUT }, () => {
  test('a file field: its bytes, its disposition, its type made inert; no wrong Content-Length', async () => {
    const file = randomFile(200_000);
    try {
      const path = uniquePath();
      const receiver = await waitingReceiver(`${ferry.url}${path}`);
      const sent = await curl(['-F', `upload=@${file.path};type=text/html;filename=page.html`, `${ferry.url}${path}`]);
      assert.equal(sent.code, 0);
      assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED));
      const result = await receiver.result;
      assert.equal(result.status, 200);
      assert.equal(result.sha256, file.sha256);
      assert.equal(result.headers['content-disposition'], 'form-data; name="upload"; filename="page.html"');
      assert.equal(result.headers['content-type'], 'text/plain');
      assert.equal(result.headers['x-content-type-options'], 'nosniff');
      const length = result.headers['content-length'];
      assert.ok(length === undefined || Number(length) === file.size, `Content-Length ${length}`);
    } finally {
      file.remove();
    }
  });

  test('B4: `-F a=first -F b=second` delivers exactly "first" and the transfer completes', async () => {
    const path = uniquePath();
    const receiver = startCurl(['-D', '-', `${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sent = await curl(['-F', 'a=first', '-F', 'b=second', `${ferry.url}${path}`]);
    assert.equal(sent.code, 0);
    assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED), sent.stdout.toString());
    const got = await receiver.result;
    assert.equal(got.code, 0, got.stderr);
    const [head = '', body] = got.stdout.toString().split('\r\n\r\n');
    assert.equal(body, 'first');
    assert.match(head, /^content-disposition: form-data; name="a"\r?$/im);
    assert.doesNotMatch(head, /^content-type:/im, 'a field without a type gets no Content-Type');
    const length = /^content-length: (\d+)/im.exec(head)?.[1];
    assert.ok(length === undefined || length === '5', `Content-Length ${length}`);
  });

  test('a chunked multipart upload: no Content-Length, the first part whole', async () => {
    const path = uniquePath();
    const receiver = await waitingReceiver(`${ferry.url}${path}`);
    const sent = await curl([
      '-H',
      'Transfer-Encoding: chunked',
      '-F',
      'text=over chunks',
      '-F',
      'x=y',
      `${ferry.url}${path}`,
    ]);
    assert.equal(sent.code, 0);
    const result = await receiver.result;
    assert.equal(result.body.toString(), 'over chunks');
    assert.equal(result.headers['content-length'], undefined);
    assert.equal(result.headers['transfer-encoding'], 'chunked');
  });

  test('a browser-style form: preamble, quoted boundary, CRLFs inside the value kept', async () => {
    const value = 'line one\r\nline two\r\n--not-the-boundary\r\n';
    const { received, sent } = await sendForm(
      'multipart/form-data; boundary="----WebKitFormBoundary7MA4YWxk"',
      'ignored preamble\r\n' +
        '------WebKitFormBoundary7MA4YWxk\r\nContent-Disposition: form-data; name="input_text"\r\n\r\n' +
        `${value}\r\n------WebKitFormBoundary7MA4YWxk--\r\n`,
    );
    assert.equal(received.body.toString(), value);
    assert.equal(received.headers['content-disposition'], 'form-data; name="input_text"');
    assert.ok(sent.body.toString().endsWith(ALL_RECEIVED));
  });

  test('the form type is recognised in any letter case', async () => {
    const { received } = await sendForm(
      'Multipart/Form-Data; Boundary=XyZ',
      '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nfirst\r\n--XyZ--\r\n',
    );
    assert.equal(received.body.toString(), 'first');
  });

  test('a type that only mentions multipart/form-data in a parameter is not a form: forwarded as it is', async () => {
    const body = '--XyZ\r\nnot parsed\r\n--XyZ--\r\n';
    const { received } = await sendForm('text/plain; note="multipart/form-data; boundary=XyZ"', body);
    assert.equal(received.body.toString(), body);
    assert.equal(received.headers['content-type'], 'text/plain; note="multipart/form-data; boundary=XyZ"');
  });

  test('a part that declares its Content-Length gets it forwarded', async () => {
    const { received } = await sendForm(
      'multipart/form-data; boundary=XyZ',
      '--XyZ\r\nContent-Disposition: form-data; name="f"\r\nContent-Type: image/png\r\nContent-Length: 6\r\n\r\n' +
        'PNG..!\r\n--XyZ--\r\n',
    );
    assert.equal(received.headers['content-length'], '6');
    assert.equal(received.headers['content-type'], 'image/png');
    assert.equal(received.body.toString(), 'PNG..!');
  });

  test('a part shorter than its declared Content-Length, all in one piece: a clear 400 for the receiver', async () => {
    const { received, sent } = await sendForm(
      'multipart/form-data; boundary=XyZ',
      '--XyZ\r\nContent-Disposition: form-data; name="f"\r\nContent-Length: 100\r\n\r\nshort\r\n--XyZ--\r\n',
    );
    assertFailed(received, 'the part is shorter than its Content-Length');
    assert.ok(sent.body.toString().endsWith(malformed('the part is shorter than its Content-Length')));
  });

  test('a part that turns out shorter than declared after its bytes began to flow: the receiver is cut', async () => {
    const path = uniquePath();
    const receiver = await waitingReceiver(`${ferry.url}${path}`);
    const sender = new Sender(`${ferry.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data; boundary=XyZ' },
    });
    await sender.write('--XyZ\r\nContent-Disposition: form-data; name="f"\r\nContent-Length: 100\r\n\r\nfirst bytes');
    await receiver.waitForBytes('first bytes'.length);
    sender.end('\r\n--XyZ--\r\n');
    const result = await receiver.result;
    assert.equal(result.status, 200);
    assert.equal(result.headers['content-length'], '100');
    assert.equal(result.complete, false);
    assert.equal(result.body.toString(), 'first bytes');
    const log = (await sender.result).log;
    assert.ok(log.endsWith(malformed('the part is shorter than its Content-Length')), log);
  });

  test('a part longer than declared: the receiver is cut, never given extra bytes', async () => {
    const { received, sent } = await sendForm(
      'multipart/form-data; boundary=XyZ',
      '--XyZ\r\nContent-Disposition: form-data; name="f"\r\nContent-Length: 3\r\n\r\nfar too long\r\n--XyZ--\r\n',
    );
    assertFailed(received, 'the part is longer than its Content-Length');
    assert.ok(received.bytes <= 3 || received.status === 400);
    assert.ok(sent.body.toString().endsWith(malformed('the part is longer than its Content-Length')));
  });
});

describe('B3: a multipart type without a boundary', { timeout: SUITE_TIMEOUT }, () => {
  for (const contentType of [
    'multipart/form-data',
    'multipart/form-data; boundary=',
    'multipart/form-data; charset=utf-8',
    `multipart/form-data; boundary=${'b'.repeat(71)}`,
  ]) {
    test(`${JSON.stringify(contentType.slice(0, 50))}: 400 at once, the path free`, async () => {
      const path = uniquePath();
      const res = await request(`${ferry.url}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': contentType },
        body: 'whatever',
      });
      assert.equal(res.status, 400);
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(
        res.body.toString(),
        '[ERROR] Malformed multipart/form-data: the Content-Type has no valid boundary.\n',
      );
      // The path is not wedged: an ordinary transfer uses it right away.
      const receiver = await waitingReceiver(`${ferry.url}${path}`);
      const sent = await curl(['-T', '-', `${ferry.url}${path}`], 'after the bad form');
      assert.ok(sent.stdout.toString().endsWith(ALL_RECEIVED));
      assert.equal((await receiver.result).body.toString(), 'after the bad form');
    });
  }

  test('a receiver already waiting keeps waiting and gets the next good sender', async () => {
    const path = uniquePath();
    const receiver = await waitingReceiver(`${ferry.url}${path}`);
    const curlForm = await curl([
      '-H',
      'Content-Type: multipart/form-data',
      '--data-binary',
      'x',
      `${ferry.url}${path}`,
    ]);
    assert.equal(
      curlForm.stdout.toString(),
      '[ERROR] Malformed multipart/form-data: the Content-Type has no valid boundary.\n',
    );
    await waitForStats(ferry.url, (s) => s.waiting === 1 && s.waitingReceivers === 1, 'the receiver, still waiting');
    await curl(['-F', 'f=good', `${ferry.url}${path}`]);
    assert.equal((await receiver.result).body.toString(), 'good');
  });
});

describe('broken multipart bodies', { timeout: SUITE_TIMEOUT }, () => {
  const cases: Array<[name: string, body: string, reason: string]> = [
    ['no delimiter at all', 'just some bytes', 'the form ended before its closing boundary'],
    ['only the closing delimiter', '--XyZ--\r\n', 'the form has no parts'],
    [
      'part headers never end',
      '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n',
      'the form ended before its closing boundary',
    ],
    [
      'no closing delimiter after the part',
      '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nabc',
      'the form ended before its closing boundary',
    ],
  ];
  for (const [name, body, reason] of cases) {
    test(`${name}: the receiver is told or cut, the sender is told, the path is reusable`, async () => {
      const { received, sent, path } = await sendForm('multipart/form-data; boundary=XyZ', body);
      assert.equal(sent.status, 200);
      assertFailed(received, reason);
      assert.ok(sent.body.toString().endsWith(malformed(reason)), sent.body.toString());
      const receiver = await waitingReceiver(`${ferry.url}${path}`);
      await curl(['-T', '-', `${ferry.url}${path}`], 'next');
      assert.equal((await receiver.result).body.toString(), 'next');
    });
  }

  test('part headers over 16 KiB are refused', async () => {
    const { received } = await sendForm(
      'multipart/form-data; boundary=XyZ',
      `--XyZ\r\nContent-Disposition: form-data; name="a"\r\nX-Pad: ${'p'.repeat(17 * 1024)}\r\n\r\nabc\r\n--XyZ--\r\n`,
    );
    assert.equal(received.status, 400);
    assert.equal(received.body.toString(), malformed('the part headers are too large'));
    // And headers that never end are not buffered past the limit either.
    const endless = await sendForm(
      'multipart/form-data; boundary=XyZ',
      `--XyZ\r\nContent-Disposition: form-data; name="a"\r\nX-Pad: ${'p'.repeat(40 * 1024)}`,
    );
    assert.equal(endless.received.body.toString(), malformed('the part headers are too large'));
  });

  test('a large file part (far past the header limit) is not mistaken for large headers', async () => {
    const big = 'z'.repeat(300_000);
    const { received } = await sendForm(
      'multipart/form-data; boundary=XyZ',
      `--XyZ\r\nContent-Disposition: form-data; name="a"; filename="z.txt"\r\n\r\n${big}\r\n--XyZ--\r\n`,
    );
    assert.equal(received.status, 200);
    assert.equal(received.body.toString(), big);
  });
});

describe('malformed part headers: a clear refusal, never a hang', { timeout: SUITE_TIMEOUT }, () => {
  /** A transfer on a path of its own, run beside the broken one: it must get every byte, checked by SHA-256. */
  async function honestTransfer(): Promise<void> {
    const data = randomBytes(256 * 1024);
    const path = uniquePath('honest');
    const receiver = new Receiver(`${ferry.url}${path}`);
    const sent = await request(`${ferry.url}${path}`, { method: 'PUT', body: data });
    assert.ok(sent.body.toString().endsWith(ALL_RECEIVED), sent.body.toString());
    const got = await receiver.result;
    assert.equal(got.status, 200);
    assert.equal(got.sha256, createHash('sha256').update(data).digest('hex'));
  }

  const lines: Array<[name: string, line: string]> = [
    ['a control character (\\x01) in a value', 'Content-Disposition: form-data; name="a"\x01'],
    ['a lone CR inside a value', 'Content-Disposition: form-data;\r name="a"'],
    ['a lone LF inside a value', 'Content-Disposition: form-data;\n name="a"'],
    ['a lone CR at the end of a line', 'Content-Disposition: form-data; name="a"\r'],
    ['a lone LF at the end of a line', 'Content-Disposition: form-data; name="a"\n'],
    ['a NUL in a value', 'Content-Type: text/plain\x00'],
    ['a DEL in a value', 'Content-Type: text/pl\x7fain'],
    ['an ESC in a name', 'Content\x1b-Type: text/plain'],
    ['a line without a colon', 'Content-Disposition form-data; name="a"'],
    ['a space before the colon', 'Content-Type : text/plain'],
    ['an empty name', ': text/plain'],
    ['a folded line', 'Content-Disposition: form-data;\r\n name="a"'],
    ['a repeated Content-Type', 'Content-Type: text/plain\r\nContent-Type: text/html'],
    ['a repeated Content-Length', 'Content-Length: 3\r\nContent-Length: 4'],
  ];
  for (const [name, line] of lines) {
    test(`${name}: the receiver gets a 400 (or is cut), the sender is told, the path is free`, async () => {
      const reason = 'a part header is malformed';
      const beside = honestTransfer();
      const { received, sent, path } = await within(
        sendForm('multipart/form-data; boundary=XyZ', `--XyZ\r\n${line}\r\n\r\nabc\r\n--XyZ--\r\n`),
        10_000,
        'the broken form to be answered',
      );
      assert.equal(sent.status, 200);
      assertFailed(received, reason);
      assert.ok(sent.body.toString().endsWith(malformed(reason)), sent.body.toString());
      await beside;
      const receiver = await waitingReceiver(`${ferry.url}${path}`);
      await curl(['-T', '-', `${ferry.url}${path}`], 'next');
      assert.equal((await receiver.result).body.toString(), 'next');
    });
  }

  test('obs-text (bytes 0x80-0xFF) in a value is no control character: the part is forwarded', async () => {
    const { received, sent } = await sendForm(
      'multipart/form-data; boundary=XyZ',
      Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="caf\xe9"\r\n\r\nabc\r\n--XyZ--\r\n', 'latin1'),
    );
    assert.equal(received.status, 200);
    assert.equal(received.body.toString(), 'abc');
    assert.match(received.headers['content-disposition'] ?? '', /^form-data; name="caf/);
    assert.ok(sent.body.toString().endsWith(ALL_RECEIVED));
  });
});

describe('B5: a multipart sender that leaves mid-part', { timeout: SUITE_TIMEOUT }, () => {
  test('every receiver is cut (curl exit 18), never a clean end; the path is free again', async () => {
    const path = uniquePath();
    const url = `${ferry.url}${path}?n=2`;
    const watcher = new Receiver(url);
    const viaCurl = startCurl([url], { hashOnly: true });
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 2, 'both receivers');
    const sender = new Sender(url, {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data; boundary=XyZ' },
      contentLength: 10_000,
    });
    await sender.write('--XyZ\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n');
    await sender.write('the first bytes of the part');
    await watcher.waitForBytes(10);
    sender.abort();
    const watched = await watcher.result;
    assert.equal(watched.status, 200);
    assert.equal(watched.complete, false);
    const got = await viaCurl.result;
    assert.equal(got.code, 18, got.stderr);
    assert.match(got.stderr, /transfer closed with outstanding read data remaining/);
    await waitForStats(ferry.url, (s) => s.active === 0, 'the path to be released');
    const receiver = await waitingReceiver(`${ferry.url}${path}`);
    await curl(['-F', 'f=again', `${ferry.url}${path}`]);
    assert.equal((await receiver.result).body.toString(), 'again');
  });

  test('leaving before the first part is complete: receivers that have nothing yet are cut too', async () => {
    const path = uniquePath();
    const viaCurl = startCurl([`${ferry.url}${path}`]);
    await waitForStats(ferry.url, (s) => s.waitingReceivers === 1, 'the receiver');
    const sender = new RawClient(ferry.port);
    sender.send(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 500\r\n\r\n` +
        '--XyZ\r\nContent-Disp',
    );
    await sender.waitFor((r) => r.includes('Start sending to 1 receiver(s)!'), 'the transfer to start');
    sender.destroy();
    const got = await viaCurl.result;
    assert.notEqual(got.code, 0, 'the receiver is not told a clean, empty success');
    assert.equal(got.stdout.length, 0);
  });
});
