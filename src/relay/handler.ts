// The relay's front door: one request in, checked in piping-server's order, then handed to the registry
// as a sender or a receiver, or answered as a page, a preflight or an error.
import { clientKey, PerClientCounter } from '../net/client.ts';
import type { Logger } from '../server/log.ts';
import { answerInKind, type Req, type Res, sendText, writeHead } from './http.ts';
import { msg } from './messages.ts';
import { boundaryOf, isMultipart } from './multipart.ts';
import { servePage } from './pages.ts';
import { isReserved, type PipeTarget } from './path.ts';
import { PipeRegistry, type Rejection, type RelayLimits } from './registry.ts';

export interface RelayOptions extends RelayLimits {
  maxReceivers: number;
  maxPathLength: number;
}

// HEAD is served on reserved pages only; a pipe cannot be received without its body (piping-server bug B7).
const PIPE_METHODS = 'GET, POST, PUT, OPTIONS';
const PAGE_METHODS = 'GET, HEAD, OPTIONS';

export class Relay {
  readonly registry: PipeRegistry;
  /** Senders and receivers waiting or active, per client address (--max-pipes-per-client). */
  private readonly perClient: PerClientCounter;

  constructor(
    private readonly options: RelayOptions,
    private readonly log: Logger,
  ) {
    this.registry = new PipeRegistry(options, log);
    this.perClient = new PerClientCounter(options.maxPipesPerClient);
  }

  handle(req: Req, res: Res, url: URL, target: PipeTarget): void {
    answerInKind(req, res);
    const { path } = target;
    const method = req.method ?? '';
    if ((method === 'GET' || method === 'HEAD') && servePage(req, res, path, url)) return;
    // A reserved path without a page here (`/` is the server's web app) is never a pipe.
    if ((method === 'GET' || method === 'HEAD') && isReserved(path)) return sendText(req, res, 404, msg.notFound(path));
    switch (method) {
      case 'POST':
      case 'PUT':
        return this.send(req, res, target);
      case 'GET':
        return this.receive(req, res, target);
      case 'OPTIONS':
        return preflight(req, res);
      default:
        sendText(req, res, 405, msg.unsupportedMethod(method), {
          'Content-Type': undefined,
          Allow: isReserved(path) ? PAGE_METHODS : PIPE_METHODS,
        });
    }
  }

  private send(req: Req, res: Res, { path, n }: PipeTarget): void {
    const method = req.method as string;
    const contentType = req.headers['content-type'];
    const rejection =
      (isReserved(path) && { status: 400, message: msg.reservedPath(path) }) ||
      (req.headers['content-range'] !== undefined && { status: 400, message: msg.contentRange(method) }) ||
      (Number.isNaN(n) && { status: 400, message: msg.senderInvalidN() }) ||
      this.checkCommon(req, path, n) ||
      (isMultipart(contentType) &&
        boundaryOf(contentType as string) === undefined && {
          status: 400,
          message: msg.badMultipart('the Content-Type has no valid boundary'),
        }) ||
      this.registry.admitSender(path, n);
    if (rejection) return this.reject(req, res, rejection);
    this.countClient(req, res);
    this.registry.joinSender(path, n, req, res);
  }

  private receive(req: Req, res: Res, { path, n }: PipeTarget): void {
    const rejection =
      (req.headers['service-worker'] === 'script' && { status: 400, message: msg.serviceWorker() }) ||
      (Number.isNaN(n) && { status: 400, message: msg.receiverInvalidN() }) ||
      this.checkCommon(req, path, n);
    if (rejection) return this.reject(req, res, rejection);
    const refused = this.registry.addReceiver(path, n, { req, res });
    if (refused) return this.reject(req, res, refused);
    this.countClient(req, res);
  }

  private checkCommon(req: Req, path: string, n: number): Rejection | undefined {
    if (n <= 0) return { status: 400, message: msg.nNotPositive(n) };
    if (n > this.options.maxReceivers) return { status: 400, message: msg.nTooLarge(n, this.options.maxReceivers) };
    if (Buffer.byteLength(path) > this.options.maxPathLength) {
      return { status: 414, message: msg.pathTooLong(this.options.maxPathLength) };
    }
    if (this.perClient.count(clientKey(req.socket.remoteAddress)) >= this.perClient.limit) {
      return { status: 429, message: msg.tooManyForClient(this.options.maxPipesPerClient) };
    }
    return undefined;
  }

  private reject(req: Req, res: Res, { status, message }: Rejection): void {
    this.log.info({ method: req.method, url: req.url, status }, message.trim());
    sendText(req, res, status, message);
  }

  /** Count a sender or receiver against its client address until its response closes. */
  private countClient(req: Req, res: Res): void {
    const client = clientKey(req.socket.remoteAddress);
    this.perClient.acquire(client);
    // 'close' fires once; `on` keeps no wrapper per waiting party, as `once` would.
    res.on('close', () => this.perClient.release(client));
  }
}

function preflight(req: Req, res: Res): void {
  const headers: Record<string, string | number> = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, OPTIONS',
    'Access-Control-Allow-Headers': 'Content-Type, Content-Disposition, X-Piping',
    'Access-Control-Expose-Headers': 'Access-Control-Allow-Headers',
    'Access-Control-Max-Age': 86400,
    'Content-Length': 0,
  };
  // Only origins allowed to drive the server get this far with it (server/access.ts refuses the others, 403).
  if (req.headers['access-control-request-private-network'] === 'true') {
    headers['Access-Control-Allow-Private-Network'] = 'true';
  }
  writeHead(res, 200, headers);
  res.end();
}
