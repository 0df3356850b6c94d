// One established pipe: the sender's bytes fanned out to n receivers at the pace of the slowest, and the
// outcome reported to the sender. A receiver that leaves is dropped without touching the others (bug B1);
// every mix of outcomes ends the sender's log and frees the path (bug B2); a sender that leaves early cuts
// every receiver so none of them mistakes a partial body for a whole one.
import type { Readable } from 'node:stream';
import type { Logger } from '../server/log.ts';
import { type ContentHeaders, parseContentLength, rawHeaderValues, receiverHeaders } from './headers.ts';
import { cut, deliveredWhole, flushHeaders, queued, type Req, type Res, sendText, write, writeHead } from './http.ts';
import { msg } from './messages.ts';
import { boundaryOf, isMultipart, MultipartError, readFirstPart } from './multipart.ts';
import type { SenderLog } from './sender-log.ts';

// An HTTP/1 response corks its socket until the next tick, so `write` returns false for every 64 KiB chunk even
// when the receiver keeps up. Pausing the sender on each of those is a pause/resume per socket read; instead each
// receiver may queue this much before the sender waits for it (measured: 6-12% less server CPU per GiB).
const RECEIVER_SLACK = 256 * 1024;

export interface Sender {
  req: Req;
  res: Res;
  log: SenderLog;
}

export interface Receiver {
  req: Req;
  res: Res;
}

interface Outlet {
  res: Res;
  state: 'sending' | 'done' | 'aborted';
  needsDrain: boolean;
}

export interface TransferEvents {
  /** Called once, as soon as the path can be reused. */
  onFinished(outcome: { received: number; aborted: number; senderAborted: boolean; bytes: number }): void;
}

export async function runTransfer(
  path: string,
  sender: Sender,
  receivers: Receiver[],
  log: Logger,
  events: TransferEvents,
): Promise<void> {
  const n = receivers.length;
  let finished = false;
  let bytes = 0;
  const outlets: Outlet[] = receivers.map((r) => ({ res: r.res, state: 'sending', needsDrain: false }));
  let blocked = 0;
  let sourceEnded = false;
  let source: Readable | undefined;

  const finish = (senderAborted: boolean) => {
    if (finished) return;
    finished = true;
    const received = outlets.filter((o) => o.state === 'done').length;
    const aborted = n - received;
    log.info({ path, received, aborted, senderAborted, bytes }, 'transfer finished');
    events.onFinished({ received, aborted, senderAborted, bytes });
  };

  const senderAborted = () => {
    if (finished || sourceEnded) return;
    log.info({ path }, 'sender aborted');
    for (const outlet of outlets) if (outlet.state === 'sending') cut(outlet.res);
    cut(sender.res);
    finish(true);
  };
  sender.req.once('aborted', senderAborted);
  sender.req.once('error', senderAborted);
  sender.req.once('close', () => {
    if (!sender.req.complete) senderAborted();
  });

  // Before any receiver has its headers, a failure can still be told to everyone as a 400.
  const refuseAll = (text: string) => {
    receivers.forEach((receiver, i) => {
      if (outlets[i]?.state === 'sending') sendText(receiver.req, receiver.res, 400, text);
    });
    sender.log.end(text);
    finish(false);
  };

  // After they have it, a receiver can only be cut, so that no one takes a partial body for a whole one.
  const partFailed = (err: Error) => {
    if (finished) return;
    log.info({ path, err: err.message }, 'multipart part failed');
    for (const outlet of outlets) if (outlet.state === 'sending') cut(outlet.res);
    sender.log.end(err instanceof MultipartError ? msg.badMultipart(err.message) : msg.senderFailed());
    finish(false);
  };

  const settle = (outlet: Outlet, state: 'done' | 'aborted') => {
    if (outlet.state !== 'sending') return;
    outlet.state = state;
    if (outlet.needsDrain) {
      outlet.needsDrain = false;
      if (--blocked === 0) source?.resume();
    }
    if (state === 'aborted' && !finished) sender.log.line(msg.receiverAborted());
    if (outlets.some((o) => o.state === 'sending') || finished) return;
    const received = outlets.filter((o) => o.state === 'done').length;
    if (received === 0) {
      sender.log.endAndDisconnect(msg.allAborted());
    } else {
      sender.log.end(received === n ? msg.allReceived() : msg.someAborted(received, n - received));
    }
    finish(false);
  };

  for (const outlet of outlets) {
    let flushed = false;
    outlet.res.once('finish', () => {
      flushed = true;
    });
    outlet.res.once('close', () => settle(outlet, deliveredWhole(outlet.res, flushed) ? 'done' : 'aborted'));
    outlet.res.on('drain', () => {
      if (!outlet.needsDrain) return;
      outlet.needsDrain = false;
      if (--blocked === 0) source?.resume();
    });
  }

  sender.log.line(msg.start(n));
  log.info({ path, n }, 'transfer started');

  let content: ContentHeaders;
  const contentType = sender.req.headers['content-type'];
  const xPiping = rawHeaderValues(sender.req.rawHeaders, 'x-piping');
  if (isMultipart(contentType)) {
    try {
      const part = await readFirstPart(sender.req, boundaryOf(contentType as string) as string);
      source = part.body;
      content = { ...part, xPiping };
    } catch (err) {
      if (!(err instanceof MultipartError)) throw err;
      return refuseAll(msg.badMultipart(err.message));
    }
  } else {
    source = sender.req;
    content = {
      contentLength: parseContentLength(sender.req.headers['content-length']),
      contentType,
      contentDisposition: sender.req.headers['content-disposition'],
      xPiping,
    };
  }
  if (finished) {
    source.destroy();
    return;
  }
  // The part may have failed in the chunk that carried its headers, before this function resumed.
  if (source.errored) {
    const err = source.errored;
    return refuseAll(err instanceof MultipartError ? msg.badMultipart(err.message) : msg.senderFailed());
  }

  const headers = receiverHeaders(content);
  for (const outlet of outlets) {
    if (outlet.state !== 'sending') continue;
    writeHead(outlet.res, 200, headers);
    // Receivers learn at once that the transfer has begun (a browser can open its download), and a sender
    // that vanishes before its first byte leaves them a response that is visibly cut, not an empty reply.
    flushHeaders(outlet.res);
  }

  const stream = source;
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    for (const outlet of outlets) {
      if (outlet.state !== 'sending') continue;
      if (!write(outlet.res, chunk) && !outlet.needsDrain && queued(outlet.res) > RECEIVER_SLACK) {
        outlet.needsDrain = true;
        blocked++;
      }
    }
    if (blocked > 0) stream.pause();
  });
  stream.once('end', () => {
    // HTTP/2 ends a request body the same way whether the client sent END_STREAM or reset the stream; the
    // reset is reported just after, as 'aborted', from the same socket read. Wait for that turn of the event
    // loop to pass before calling the upload complete, or a vanished sender would look like a finished one.
    setImmediate(() => {
      if (finished) return;
      sourceEnded = true;
      sender.log.line(msg.sent());
      for (const outlet of outlets) if (outlet.state === 'sending') outlet.res.end();
    });
  });
  if (stream !== sender.req) stream.once('error', partFailed);
}
