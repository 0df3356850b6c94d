// One established pipe: the sender's bytes fanned out to n receivers at the pace of the slowest, and the
// outcome reported to the sender. A receiver that leaves is dropped without touching the others (bug B1);
// every mix of outcomes ends the sender's log and frees the path (bug B2); a sender that leaves early cuts
// every receiver so none of them mistakes a partial body for a whole one.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from '../server/log.ts';
import { type ContentHeaders, parseContentLength, rawHeaderValues, receiverHeaders } from './headers.ts';
import {
  cut,
  deliveredWhole,
  flushHeaders,
  http1Socket,
  queued,
  type Req,
  type Res,
  sendText,
  write,
  writeHead,
} from './http.ts';
import { msg } from './messages.ts';
import { boundaryOf, isMultipart, MultipartError, readFirstPart } from './multipart.ts';
import type { SenderLog } from './sender-log.ts';

// A receiver may have this much queued (beyond what its socket has handed to the kernel) before the sender waits
// for it. A write returns false for every 64 KiB chunk (the high-water mark is 16 KiB) even when the receiver keeps
// up, and pausing on each of those was a pause/resume per socket read (measured: 6-12% less server CPU per GiB).
const RECEIVER_SLACK = 256 * 1024;
// The chunks read from the sender in one turn of the event loop (libuv reads up to 32 × 64 KiB per socket event)
// go to each HTTP/1 receiver as one writev instead of one write each: its socket stays corked until that turn's
// immediates run, or until this much is queued on it. Fewer, bigger writes wake the receiving client less often.
// Measured per 2 GiB transfer: about 1,100 writevs instead of 33,000 writes (strace -c), and 0.80-0.84 s of server
// CPU per GiB instead of 0.95-1.05 s. A pipe holds at most about this plus the slack above of the sender's data.
const BATCH_BYTES = 2 * 1024 * 1024;

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
  /** The receiver's HTTP/1 socket while it is corked for a batch. */
  corked: Socket | undefined;
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
  const outlets: Outlet[] = receivers.map((r) => ({
    res: r.res,
    state: 'sending',
    needsDrain: false,
    corked: undefined,
  }));
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

  // A receiver whose headers still wait in this turn's batch (below) gets them before it is cut: it must see a
  // response cut short, never an empty reply.
  const cutOutlet = (outlet: Outlet) => {
    outlet.corked?.uncork();
    outlet.corked = undefined;
    cut(outlet.res);
  };

  const senderAborted = () => {
    if (finished || sourceEnded) return;
    log.info({ path }, 'sender aborted');
    for (const outlet of outlets) if (outlet.state === 'sending') cutOutlet(outlet);
    cut(sender.res);
    finish(true);
  };
  // Events that fire once (or whose handler is idempotent, as here) get `on`: `once` would wrap each listener in a
  // closure of its own, several per transfer, which a small transfer pays for in CPU.
  sender.req.on('aborted', senderAborted);
  sender.req.on('error', senderAborted);
  sender.req.on('close', () => {
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
    for (const outlet of outlets) if (outlet.state === 'sending') cutOutlet(outlet);
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
    outlet.res.on('finish', () => {
      flushed = true;
    });
    outlet.res.on('close', () => settle(outlet, deliveredWhole(outlet.res, flushed) ? 'done' : 'aborted'));
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
  // HTTP/1's parser frames a body by its Content-Length and nghttp2 resets an HTTP/2 stream that breaks it, but the
  // relay does not take either on trust: a body that ends short of its declared length or runs past it is cut.
  const declaredLength = parseContentLength(sender.req.headers['content-length']);
  if (isMultipart(contentType)) {
    try {
      const part = await readFirstPart(sender.req, boundaryOf(contentType as string) as string, declaredLength);
      source = part.body;
      content = { ...part, xPiping };
    } catch (err) {
      if (!(err instanceof MultipartError)) throw err;
      return refuseAll(msg.badMultipart(err.message));
    }
  } else {
    source = sender.req;
    content = {
      contentLength: declaredLength,
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

  const stream = source;
  // The request's own length is checked here when its body is what the receivers get (multipart: readFirstPart).
  const limit = stream === sender.req && declaredLength !== undefined ? declaredLength : Number.POSITIVE_INFINITY;
  const lengthBroken = () => {
    log.info({ path, bytes, declared: declaredLength }, 'sender body broke its Content-Length');
    for (const outlet of outlets) if (outlet.state === 'sending') cutOutlet(outlet);
    sender.log.endAndDisconnect(msg.lengthMismatch(declaredLength as number, bytes));
    finish(false);
  };
  // The receivers whose sockets are corked for the chunks read in this turn of the event loop.
  const batch: Outlet[] = [];
  const holdIfBacklogged = (outlet: Outlet) => {
    if (outlet.state !== 'sending' || outlet.needsDrain || queued(outlet.res) <= RECEIVER_SLACK) return;
    outlet.needsDrain = true;
    blocked++;
  };
  const flushBatch = () => {
    for (const outlet of batch) {
      outlet.corked?.uncork();
      outlet.corked = undefined;
      holdIfBacklogged(outlet);
    }
    batch.length = 0;
    if (blocked > 0) stream.pause();
  };
  const corkForBatch = (outlet: Outlet): Socket | undefined => {
    const socket = http1Socket(outlet.res);
    if (!socket) return undefined;
    socket.cork();
    outlet.corked = socket;
    if (batch.length === 0) setImmediate(flushBatch);
    batch.push(outlet);
    return socket;
  };

  const headers = receiverHeaders(content);
  for (const outlet of outlets) {
    if (outlet.state !== 'sending') continue;
    writeHead(outlet.res, 200, headers);
    // Receivers learn at once that the transfer has begun (a browser can open its download), and a sender
    // that vanishes before its first byte leaves them a response that is visibly cut, not an empty reply.
    // The headers wait in this turn's batch, so that bytes already read from the sender go out with them
    // in one write (a small transfer is one write per receiver instead of two); they leave by the turn's end.
    corkForBatch(outlet);
    flushHeaders(outlet.res);
  }
  stream.on('data', (chunk: Buffer) => {
    if (finished) return;
    bytes += chunk.length;
    if (bytes > limit) return lengthBroken();
    for (const outlet of outlets) {
      if (outlet.state !== 'sending') continue;
      const socket = outlet.corked ?? corkForBatch(outlet);
      write(outlet.res, chunk);
      if (!socket) {
        holdIfBacklogged(outlet);
      } else if (socket.writableLength >= BATCH_BYTES) {
        socket.uncork();
        socket.cork();
        holdIfBacklogged(outlet);
      }
    }
    if (blocked > 0) stream.pause();
  });
  stream.on('end', () => {
    // HTTP/2 ends a request body the same way whether the client sent END_STREAM or reset the stream; the
    // reset is reported just after, as 'aborted', from the same socket read. Wait for that turn of the event
    // loop to pass before calling the upload complete, or a vanished sender would look like a finished one.
    setImmediate(() => {
      if (finished) return;
      if (limit !== Number.POSITIVE_INFINITY && bytes !== limit) return lengthBroken();
      sourceEnded = true;
      sender.log.line(msg.sent());
      for (const outlet of outlets) if (outlet.state === 'sending') outlet.res.end();
    });
  });
  if (stream !== sender.req) stream.once('error', partFailed);
}
