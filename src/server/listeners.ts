// The sockets: one HTTP port that speaks HTTP/1.x and cleartext HTTP/2 (prior knowledge), and an optional
// HTTPS port that picks HTTP/2 or HTTP/1.1 by ALPN. Both feed the same two protocol servers, so every
// listener has the same timeouts: none on a request's duration, a deadline on its headers (and on a TLS
// handshake), an idle deadline on a connection with no request in flight; and one cap on the connections a
// client address holds, counted where TCP connections are accepted.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { clientKey, PerClientCounter } from '../net/client.ts';
import type { ServeConfig } from './config.ts';
import type { Logger } from './log.ts';

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;
export type UpgradeHandler = (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void;

// RFC 9113 §3.4: the client connection preface of HTTP/2.
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

const CLIENT_ERRORS: Record<string, [status: string, message: string]> = {
  HPE_HEADER_OVERFLOW: ['431 Request Header Fields Too Large', 'Request headers are too large (16 KiB at most).'],
  ERR_HTTP_REQUEST_TIMEOUT: ['408 Request Timeout', 'Request headers took too long.'],
};

export interface Listeners {
  http: net.AddressInfo;
  https: net.AddressInfo | undefined;
  /** Stop accepting new connections and drop idle keep-alive ones. */
  stopAccepting(): void;
  /** Destroy every open connection. */
  destroyAll(): void;
}

export async function openListeners(
  config: ServeConfig,
  onRequest: RequestHandler,
  onUpgrade: UpgradeHandler,
  log: Logger,
): Promise<Listeners> {
  const headerTimeoutMs = config.headerTimeout * 1000;
  const idleTimeoutMs = config.idleTimeout * 1000;
  const http1 = http.createServer({
    requestTimeout: 0,
    headersTimeout: headerTimeoutMs,
    // Node checks header deadlines on this interval; keep it well under the deadline.
    connectionsCheckingInterval: Math.min(1000, headerTimeoutMs / 2),
    // An idle keep-alive connection is closed after 5 s (browsers reconnect at once), or sooner if so configured.
    keepAliveTimeout: Math.min(5000, idleTimeoutMs),
  });
  http1.on('request', onRequest);
  // `Expect: 100-continue` is answered by the request handler once it knows the request may go on (a refused
  // upload is never sent), not by Node before anyone looked.
  http1.on('checkContinue', onRequest);
  // This server never listens itself (sockets are handed to it), and Node starts its header-deadline
  // checks on 'listening'.
  http1.emit('listening');
  http1.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    log.info({ err: err.code ?? err.message }, 'client error');
    if (socket.writable && !socket.writableEnded) {
      const [status, message] = CLIENT_ERRORS[err.code ?? ''] ?? ['400 Bad Request', 'Malformed HTTP request.'];
      const body = `[ERROR] ${message}\n`;
      socket.end(
        `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
    } else {
      socket.destroy();
    }
  });

  // The sockets `destroyAll` must reach beyond HTTP/1's own (`closeAllConnections` covers those): ones still being
  // sniffed, HTTP/2 ones and upgraded ones. HTTP/1 sockets, the bulk of them (every waiting receiver), are
  // dropped from the set at hand-off, and one shared listener serves every socket, so a connection carries no
  // closure of ours.
  const sockets = new Set<net.Socket>();
  function untrack(this: net.Socket) {
    sockets.delete(this);
  }
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', untrack);
  };
  const handOffToHttp1 = (socket: net.Socket) => {
    sockets.delete(socket);
    socket.off('close', untrack);
    http1.emit('connection', socket);
  };
  http1.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    track(socket);
    onUpgrade(req, socket, head);
  });

  const h2 = http2.createServer({ settings: { enableConnectProtocol: false } });
  h2.on('request', onRequest);
  h2.on('checkContinue', onRequest);
  h2.on('sessionError', (err) => log.info({ err: err.message }, 'http2 session error'));
  h2.on('session', closeWhenIdle);

  // Every accepted TCP connection, cleartext or TLS, is counted against its client address until it closes; one
  // over the cap is dropped at once (TCP has no way to say why). The error listener comes first, so nothing the
  // socket emits before a protocol server takes it over can be an uncaught error.
  const perClient = new PerClientCounter(config.maxConnectionsPerClient);
  function releaseConnection(this: net.Socket) {
    // remoteAddress was read at accept, and a socket keeps it after its handle is gone.
    perClient.release(clientKey(this.remoteAddress));
  }
  const onSocketError = (err: Error) => log.debug({ err: err.message }, 'socket error');
  const admit = (socket: net.Socket): boolean => {
    socket.on('error', onSocketError);
    const client = clientKey(socket.remoteAddress);
    if (!perClient.acquire(client)) {
      log.debug({ client }, 'connection refused: too many from this client');
      socket.destroy();
      return false;
    }
    socket.on('close', releaseConnection);
    return true;
  };
  const onServerError = (err: Error) => log.error({ err: err.message }, 'listener error');

  /**
   * An HTTP/2 session is closed (GOAWAY, then destroyed once it has gone) after `--idle-timeout` seconds without
   * an open stream: one that sent its preface and SETTINGS and nothing more holds a socket for nothing. Its open
   * streams are counted, so a long transfer, which keeps one stream open, is never cut however quiet it is.
   */
  function closeWhenIdle(session: http2.ServerHttp2Session): void {
    let open = 0;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer = setTimeout(() => {
        log.debug({ client: session.socket?.remoteAddress }, 'idle http2 session closed');
        session.close();
      }, idleTimeoutMs);
    };
    const onStreamClose = () => {
      open -= 1;
      if (open === 0 && !session.closed && !session.destroyed) arm();
    };
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      open += 1;
      clearTimeout(timer);
      stream.once('close', onStreamClose);
    });
    session.once('close', () => clearTimeout(timer));
    arm();
    // A session with open streams stays, but must still be alive: after nghttp2 answers a protocol error with GOAWAY,
    // Node stops reading the socket and never destroys the session, so a client that then leaves is never noticed
    // and its streams (waiting senders and receivers) are held for good. A PING that goes unanswered finds it out.
    session.setTimeout(idleTimeoutMs, () => {
      const deadline = setTimeout(() => session.destroy(), idleTimeoutMs);
      if (!session.ping(() => clearTimeout(deadline))) clearTimeout(deadline);
    });
  }

  // Peek at the first bytes: the HTTP/2 preface goes to the h2 server, anything else to HTTP/1.
  const dispatchCleartext = (socket: net.Socket) => {
    track(socket);
    const deadline = setTimeout(() => socket.destroy(), headerTimeoutMs);
    let seen: Buffer | undefined;
    const stopSniffing = () => {
      clearTimeout(deadline);
      socket.off('data', onData);
      socket.off('error', onEarlyError);
      socket.off('close', stopSniffing);
    };
    const onData = (chunk: Buffer) => {
      const bytes = seen ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(bytes.length, H2_PREFACE.length);
      const isH2 = bytes.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && bytes.length < H2_PREFACE.length) {
        seen = bytes;
        return;
      }
      // Nothing of the sniffing may outlive the hand-off: long-lived connections (signaling) would each keep it.
      stopSniffing();
      seen = undefined;
      if (isH2) {
        // The h2 session reads what was unshifted, then takes the socket's handle over; resuming would race it.
        socket.pause();
        socket.unshift(bytes);
        h2.emit('connection', socket);
      } else {
        // HTTP/1 reads the socket's handle itself and stops it while a body goes unread (a sender still waiting
        // for its receiver); nothing of the socket's own stream may start the handle again behind its back, or
        // that body is read into memory without bound. So no pause and resume around the hand-off (the resume
        // lands after HTTP/1 stopped reading), and the stream is left waiting on a read as a fresh socket's is
        // (else it asks for more on the next tick), and HTTP/1 gets what was sniffed in this same tick.
        socket.read(0);
        handOffToHttp1(socket);
        socket.emit('data', bytes);
      }
    };
    const onEarlyError = () => {
      stopSniffing();
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('error', onEarlyError);
    socket.once('close', stopSniffing);
  };

  const plain = net.createServer({ noDelay: true }, (socket) => {
    if (admit(socket)) dispatchCleartext(socket);
  });
  const httpAddress = await listen(plain, config.httpPort, config.host);
  plain.on('error', onServerError);

  let secure: tls.Server | undefined;
  let httpsAddress: net.AddressInfo | undefined;
  let stopWatching = () => {};
  if (config.enableHttps && config.keyPath && config.crtPath) {
    const { keyPath, crtPath } = config;
    const loadContext = () => ({ key: readFileSync(keyPath), cert: readFileSync(crtPath) });
    secure = tls.createServer({
      ...loadContext(),
      ALPNProtocols: ['h2', 'http/1.1'],
      noDelay: true,
      // A connection that never finishes its handshake is dropped like one that never finishes its headers.
      handshakeTimeout: headerTimeoutMs,
    });
    const server = secure;
    // The TCP connection, before any TLS: counted here like a cleartext one.
    secure.on('connection', admit);
    secure.on('secureConnection', (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === 'h2') {
        track(socket);
        h2.emit('connection', socket);
      } else {
        http1.emit('connection', socket);
      }
    });
    // Node leaves the socket of a failed or timed-out handshake open for this listener to end.
    secure.on('tlsClientError', (err, socket) => {
      log.info({ err: err.message }, 'tls client error');
      socket.destroy();
    });
    const reload = () => {
      try {
        server.setSecureContext(loadContext());
        log.warn({ keyPath, crtPath }, 'certificate loaded');
      } catch (err) {
        log.error({ err: (err as Error).message }, 'failed to load certificate; keeping the previous one');
      }
    };
    watchFile(keyPath, { interval: 1000 }, reload);
    watchFile(crtPath, { interval: 1000 }, reload);
    stopWatching = () => {
      unwatchFile(keyPath, reload);
      unwatchFile(crtPath, reload);
    };
    httpsAddress = await listen(secure, config.httpsPort ?? 0, config.host);
    secure.on('error', onServerError);
  }

  return {
    http: httpAddress,
    https: httpsAddress,
    stopAccepting() {
      stopWatching();
      // close() stops accepting at once; its callback waits for every connection, which is not what we want here.
      plain.close();
      secure?.close();
      http1.closeIdleConnections();
    },
    destroyAll() {
      for (const socket of sockets) socket.destroy();
      http1.closeAllConnections();
    },
  };
}

function listen(server: net.Server, port: number, host: string | undefined): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as net.AddressInfo);
    });
  });
}
