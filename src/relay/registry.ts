// Pipe bookkeeping: which paths are waiting for their other side, which are busy, and who may join.
// Each departure is matched by identity, so a late close event can never evict a newer party (bug B9).
import type net from 'node:net';
import type { Logger } from '../server/log.ts';
import { cut, type Req, type Res, sendText } from './http.ts';
import { msg } from './messages.ts';
import { SenderLog } from './sender-log.ts';
import { type Receiver, runTransfer, type Sender } from './transfer.ts';

export interface RelayLimits {
  maxWaitingPipes: number;
  maxPipesPerClient: number;
  /** Seconds; 0 waits forever. */
  maxWait: number;
}

export interface Rejection {
  status: number;
  message: string;
}

interface WaitingPipe {
  path: string;
  n: number;
  sender: Sender | undefined;
  receivers: Receiver[];
  timer: NodeJS.Timeout | undefined;
}

export interface RelayStats {
  /** Pipes waiting for their other side. */
  waiting: number;
  /** Senders and receivers in those waiting pipes: what an operator (or a test) watches to see who is queued. */
  waitingSenders: number;
  waitingReceivers: number;
  /** Pipes whose transfer is running. */
  active: number;
  bytes: number;
}

/** How often a waiting HTTP/1 sender is checked for a reset connection. */
const PROBE_INTERVAL_MS = 2000;
const NOTHING = Buffer.alloc(0);

/**
 * A waiting sender's body is not read (TCP backpressure keeps it at the client), so on HTTP/1, where a full body
 * buffer stops reading the socket, a reset from the client would go unseen until a receiver came and the path
 * would stay taken. An empty write asks the kernel: it fails a reset connection with ECONNRESET (the socket closes,
 * and the sender with it) and sends nothing otherwise. TLS writes nothing for an empty write, so the probe goes to
 * the TCP socket under it (`_parent`). Only a sender held back is probed: any other is still read, so its reset is
 * seen anyway. HTTP/2 needs none: a session keeps reading its socket while one stream waits.
 */
function probe(sender: Sender): void {
  const { req } = sender;
  if (req.httpVersionMajor !== 1 || req.readableLength < req.readableHighWaterMark) return;
  const socket = req.socket as net.Socket & { _parent?: net.Socket };
  const tcp = socket._parent ?? socket;
  if (tcp.writable && !tcp.writableNeedDrain) tcp.write(NOTHING);
}

export class PipeRegistry {
  private readonly waiting = new Map<string, WaitingPipe>();
  private readonly active = new Set<string>();
  private readonly idleWaiters: Array<() => void> = [];
  private bytesRelayed = 0;
  private readonly prober: NodeJS.Timeout;

  constructor(
    private readonly limits: RelayLimits,
    private readonly log: Logger,
  ) {
    this.prober = setInterval(() => {
      for (const pipe of this.waiting.values()) if (pipe.sender) probe(pipe.sender);
    }, PROBE_INTERVAL_MS).unref();
  }

  stats(): RelayStats {
    let waitingSenders = 0;
    let waitingReceivers = 0;
    for (const pipe of this.waiting.values()) {
      if (pipe.sender) waitingSenders++;
      waitingReceivers += pipe.receivers.length;
    }
    return {
      waiting: this.waiting.size,
      waitingSenders,
      waitingReceivers,
      active: this.active.size,
      bytes: this.bytesRelayed,
    };
  }

  /** Whether a sender may join this path, or why not. The caller has already validated path and n. */
  admitSender(path: string, n: number): Rejection | undefined {
    if (this.active.has(path)) return { status: 400, message: msg.established(path) };
    const existing = this.waiting.get(path);
    if (existing?.sender) return { status: 400, message: msg.anotherSender(path) };
    if (existing && existing.n !== n) return { status: 400, message: msg.nMismatch(existing.n, n) };
    if (!existing && this.waiting.size >= this.limits.maxWaitingPipes) {
      return { status: 503, message: msg.tooManyWaiting(this.limits.maxWaitingPipes) };
    }
    return undefined;
  }

  /** Record an admitted sender and start its log. */
  joinSender(path: string, n: number, req: Req, res: Res): void {
    const pipe = this.waiting.get(path) ?? this.open(path, n);
    const sender: Sender = { req, res, log: new SenderLog(req, res, msg.waiting(n)) };
    pipe.sender = sender;
    if (pipe.receivers.length > 0) sender.log.line(msg.alreadyConnected(pipe.receivers.length));
    // 'close' fires once; `on` spares the wrapper `once` would make.
    sender.res.on('close', () => {
      if (pipe.sender === sender && this.waiting.get(path) === pipe) {
        pipe.sender = undefined;
        this.log.info({ path }, 'waiting sender left');
        this.closeIfEmpty(pipe);
      }
    });
    this.establishIfComplete(pipe);
  }

  addReceiver(path: string, n: number, receiver: Receiver): Rejection | undefined {
    if (this.active.has(path)) return { status: 400, message: msg.established(path) };
    const existing = this.waiting.get(path);
    if (existing && existing.n !== n) return { status: 400, message: msg.nMismatch(existing.n, n) };
    if (existing && existing.receivers.length >= existing.n) return { status: 400, message: msg.receiversFull() };
    if (!existing && this.waiting.size >= this.limits.maxWaitingPipes) {
      return { status: 503, message: msg.tooManyWaiting(this.limits.maxWaitingPipes) };
    }
    const pipe = existing ?? this.open(path, n, receiver);
    if (existing) pipe.receivers.push(receiver);
    pipe.sender?.log.line(msg.receiverConnected());
    // 'close' fires once: `on` spares the wrapper `once` would keep for every waiting receiver.
    receiver.res.on('close', () => {
      if (this.waiting.get(path) !== pipe) return;
      const index = pipe.receivers.indexOf(receiver);
      if (index < 0) return;
      pipe.receivers.splice(index, 1);
      this.log.info({ path }, 'waiting receiver left');
      this.closeIfEmpty(pipe);
    });
    this.establishIfComplete(pipe);
    return undefined;
  }

  /** A new waiting pipe; a first receiver goes into an array literal, which reserves no spare slots. */
  private open(path: string, n: number, receiver?: Receiver): WaitingPipe {
    const receivers = receiver ? [receiver] : [];
    const pipe: WaitingPipe = { path, n, sender: undefined, receivers, timer: undefined };
    if (this.limits.maxWait > 0) {
      pipe.timer = setTimeout(() => this.expire(pipe), this.limits.maxWait * 1000);
    }
    this.waiting.set(path, pipe);
    this.log.info({ path, n }, 'pipe opened');
    return pipe;
  }

  private expire(pipe: WaitingPipe): void {
    if (this.waiting.get(pipe.path) !== pipe) return;
    this.waiting.delete(pipe.path);
    this.log.info({ path: pipe.path }, 'pipe expired');
    const text = msg.waitTimeout(this.limits.maxWait);
    pipe.sender?.log.end(text);
    for (const receiver of pipe.receivers) sendText(receiver.req, receiver.res, 408, text);
  }

  /** Shutdown, step one: every waiting pipe is told the server is going away. */
  closeWaiting(): void {
    clearInterval(this.prober);
    const text = msg.shuttingDown();
    for (const pipe of [...this.waiting.values()]) {
      clearTimeout(pipe.timer);
      this.waiting.delete(pipe.path);
      pipe.sender?.log.end(text);
      for (const receiver of pipe.receivers) sendText(receiver.req, receiver.res, 503, text);
    }
  }

  /** Shutdown, step two: resolves when no transfer is running. */
  whenIdle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private release(path: string): void {
    this.active.delete(path);
    if (this.active.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private closeIfEmpty(pipe: WaitingPipe): void {
    if (pipe.sender || pipe.receivers.length > 0) return;
    clearTimeout(pipe.timer);
    this.waiting.delete(pipe.path);
    this.log.info({ path: pipe.path }, 'pipe closed');
  }

  private establishIfComplete(pipe: WaitingPipe): void {
    const { sender } = pipe;
    if (!sender || pipe.receivers.length < pipe.n) return;
    clearTimeout(pipe.timer);
    this.waiting.delete(pipe.path);
    this.active.add(pipe.path);
    runTransfer(pipe.path, sender, pipe.receivers, this.log, {
      onFinished: ({ bytes }) => {
        this.bytesRelayed += bytes;
        this.release(pipe.path);
      },
    }).catch((err: unknown) => {
      // A bug of ours, never the client's: everyone of this pipe is cut, so no one waits for an answer that will
      // never come and no one takes what they got for a whole body; the path is free again.
      this.log.error({ err, path: pipe.path }, 'transfer failed');
      for (const receiver of pipe.receivers) cut(receiver.res);
      cut(sender.res);
      this.release(pipe.path);
    });
  }
}
