// The WebSocket entrance to a relay pipe (`/_/pipe?path=/p&n=1`), for browsers that cannot stream a request body
// over plain http:// (Chromium streams fetch() uploads only over HTTP/2). Each connection becomes an ordinary HTTP/1.1
// PUT, chunked, handed to the relay in-process through a socket pair: the relay applies every rule, limit and log it
// applies to curl, and receivers keep their plain GET. Binary messages are the body, `{"type":"end"}` ends it; a
// socket that closes before `end` destroys the request, so the relay cuts the receivers.
import http, { type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { duplexPair } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { Logger } from './log.ts';

export const PIPE_SOCKET_PATH = '/_/pipe';

/** Messages the server sends on the socket, as JSON text. */
export type PipeSocketMessage =
  /** Lines of the relay's sender log, as curl would see them (piping-server's wording). */
  | { type: 'log'; text: string }
  /** The relay answered the PUT and ended its answer: `status` 200 is an accepted send; the log says how it went. */
  | { type: 'done'; status: number }
  /** Bad input on the socket itself; the socket closes after it. */
  | { type: 'error'; code: PipeSocketErrorCode; message: string };

export type PipeSocketErrorCode = 'bad_path' | 'bad_n' | 'bad_message' | 'relay_failed';

/** The WebSocket close codes used: 1000 after `done`, 4400 after an `error`. */
export const CLOSE_BAD_INPUT = 4400;

// One WebSocket message carries at most this much body; the web app sends 64 KiB records.
const MAX_MESSAGE_BYTES = 1024 * 1024;
/**
 * A socket paused for backpressure reads nothing, so it would never see its client leave (the close frame, the FIN):
 * while paused, a ping this often writes to it, and the write fails once the client is gone.
 */
const PAUSED_PING_MS = 5000;

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export class PipeSocketEntrance {
  readonly #wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
  });
  // Never listens: the socket pairs of the entrance are handed to it, so the relay sees ordinary requests.
  readonly #server: http.Server;
  readonly #sockets = new Set<WebSocket>();

  constructor(
    handler: Handler,
    private readonly log: Logger,
  ) {
    this.#server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 0 }, handler);
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#sockets.add(ws);
      ws.once('close', () => this.#sockets.delete(ws));
      ws.on('error', () => {});
      try {
        this.#open(ws, req);
      } catch (err) {
        // A bug of ours, never the client's: this upload ends, the process and every other transfer go on.
        this.log.error({ err: (err as Error).stack }, 'pipe socket failed to open');
        ws.terminate();
      }
    });
  }

  /** Server shutdown: every entrance still sending is dropped, which cuts its receivers. */
  close(): void {
    for (const ws of this.#sockets) ws.terminate();
  }

  #open(ws: WebSocket, upgrade: IncomingMessage): void {
    // Set once the server has said its last word: what the client still sends is not read into a request that is
    // gone (writing to it would pause the socket for good, and the client's close frame would never be read).
    let closing = false;
    const refuse = (code: PipeSocketErrorCode, message: string) => {
      closing = true;
      this.log.info({ code }, `pipe socket refused: ${message}`);
      send(ws, { type: 'error', code, message });
      ws.resume();
      ws.close(CLOSE_BAD_INPUT, code);
    };
    const query = new URL(upgrade.url ?? '/', 'a:///').searchParams;
    const path = pipePath(query.get('path') ?? '');
    if (path === undefined) {
      return refuse('bad_path', 'the path parameter must be a pipe path such as /photos, without control characters');
    }
    const nText = query.get('n') ?? '1';
    if (!/^\d{1,6}$/.test(nText)) return refuse('bad_n', 'the n parameter must be a positive integer');

    const [client, server] = duplexPair();
    // The relay counts pipes per client address: the browser's, not the in-process pair's.
    Object.defineProperty(server, 'remoteAddress', { value: upgrade.socket.remoteAddress });
    this.#server.emit('connection', server);
    const request = http.request({
      createConnection: () => client as unknown as import('node:net').Socket,
      method: 'PUT',
      path: `${path}?n=${nText}`,
      headers: { host: upgrade.headers.host ?? 'localhost', 'content-type': 'application/octet-stream' },
    });
    let ended = false;
    let answered = false;
    // The pair does not carry a destroy across: both ends go, so the relay sees its request cut at once.
    const cut = () => {
      request.destroy();
      client.destroy();
      server.destroy();
    };
    request.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (text: string) => send(ws, { type: 'log', text }));
      res.on('end', () => {
        answered = true;
        closing = true;
        send(ws, { type: 'done', status: res.statusCode ?? 0 });
        // A socket paused for backpressure would never read the client's close frame.
        ws.resume();
        ws.close(1000);
        client.destroy();
        server.destroy();
      });
      res.on('error', () => {});
    });
    request.on('error', () => {
      if (!answered) refuse('relay_failed', 'the relay closed this upload');
    });
    let pinger: NodeJS.Timeout | undefined;
    const pause = () => {
      ws.pause();
      pinger ??= setInterval(() => {
        if (ws.readyState === ws.OPEN) ws.ping();
      }, PAUSED_PING_MS);
    };
    const resume = () => {
      clearInterval(pinger);
      pinger = undefined;
      ws.resume();
    };
    request.on('drain', resume);
    request.flushHeaders();

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (closing) return;
      if (ended) return refuse('bad_message', 'nothing may follow the end message');
      if (isBinary) {
        if (!request.write(asBuffer(data))) pause();
        return;
      }
      let message: unknown;
      try {
        message = JSON.parse(asBuffer(data).toString('utf8'));
      } catch {
        message = undefined;
      }
      if ((message as { type?: unknown } | undefined)?.type !== 'end') {
        cut();
        return refuse('bad_message', 'text messages must be {"type":"end"}; the body goes in binary messages');
      }
      ended = true;
      request.end();
      // Nothing more goes into the request, so the socket may read again: the client's close frame must be seen.
      resume();
    });
    ws.once('close', () => {
      clearInterval(pinger);
      // Gone before saying `end`: the upload is incomplete, and the relay must cut its receivers.
      if (!ended || !answered) cut();
    });
  }
}

// Control and format characters (bidi overrides among them), raw or percent-encoded: no pipe is named with them.
const UNPRINTABLE = /[\p{Cc}\p{Cf}]/u;

/**
 * The request path of the pipe a `path` parameter names, percent-encoded as the URL parser encodes a request target
 * (so `/€` is the pipe that curl's `GET /%E2%82%AC` meets, and http.request gets only ASCII), or undefined when it is
 * not a plain absolute path.
 */
export function pipePath(raw: string): string | undefined {
  if (!raw.startsWith('/') || raw.startsWith('//') || /[\s#?\\]/.test(raw) || UNPRINTABLE.test(raw)) return undefined;
  const path = new URL(raw, 'a:///').pathname;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return path;
  }
  return UNPRINTABLE.test(decoded) ? undefined : path;
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function send(ws: WebSocket, message: PipeSocketMessage): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}
