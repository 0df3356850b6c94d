// Composition: listeners in, one capability out per request. GET and HEAD of `/` and `/_/app/…` are the web app's,
// the rest of `/_/` belongs to Ferry's own endpoints; every other path is the relay's. Capabilities never reach back
// into this module.
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import { clientKey } from '../net/client.ts';
import { Relay } from '../relay/handler.ts';
import { cut, type Req, type Res, sendText } from '../relay/http.ts';
import { msg } from '../relay/messages.ts';
import { FERRY_PREFIX, isReserved, parseTarget } from '../relay/path.ts';
import { SIGNALING_ENDPOINTS, SignalingHub } from '../signaling/hub.ts';
import { StunResponder } from '../stun/responder.ts';
import { VERSION } from '../version.ts';
import { AccessControl, type Refusal, refusalHeaders, refusalResponse, refusalText, type Scope } from './access.ts';
import type { ServeConfig } from './config.ts';
import { IceConfiguration } from './ice.ts';
import { openListeners } from './listeners.ts';
import type { Logger } from './log.ts';
import { PIPE_SOCKET_PATH, PipeSocketEntrance, pipePath } from './pipe-socket.ts';
import { DEFAULT_WEB_ROOT, WebApp } from './web.ts';

export interface RunningServer {
  http: net.AddressInfo;
  https: net.AddressInfo | undefined;
  /** The STUN responder, for its addresses and counters; undefined with --stun-port 0. */
  stun: StunResponder | undefined;
  /** Stop accepting, let running transfers finish for up to `graceSeconds`, then cut what is left. */
  close(graceSeconds?: number): Promise<void>;
}

/** One line per request when it is over: what was asked, what was answered, how long it took. */
function logRequest(log: Logger, req: Req, res: Res): void {
  const started = performance.now();
  res.once('close', () => {
    log.info(
      {
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        client: req.socket.remoteAddress,
        status: res.statusCode,
        completed: res.writableFinished,
        ms: Math.round(performance.now() - started),
      },
      'request',
    );
  });
}

/** Where the client believes we are: its Host or :authority, else (HTTP/1.0) the socket's own address. */
function requestHost(req: Req | IncomingMessage): string | undefined {
  const authority = req.headers.host ?? req.headers[':authority'];
  const local = req.socket.localAddress?.replace(/^::ffff:(?=\d+\.)/, '');
  return typeof authority === 'string' ? authority : local && (local.includes(':') ? `[${local}]` : local);
}

/**
 * The ICE servers for one client, `GET /_/ice` and the hub's `welcome` alike: TURN only for a client access control
 * lets have it, under its TURN user (ice.ts userFor).
 */
function iceServersFor(req: Req | IncomingMessage, ice: IceConfiguration, access: AccessControl, upgrade: boolean) {
  const credential = access.iceCredential(req, upgrade);
  const user =
    credential &&
    ice.userFor(clientKey(req.socket.remoteAddress), credential.kind === 'valid' ? credential.name : undefined);
  const host = requestHost(req);
  return () => ice.forPeer(user, host);
}

/** A WebSocket upgrade's scope and pipe path under access control (hub endpoints, /_/pipe: its sender's path). */
function upgradeScope(url: URL): [Scope, string] | undefined {
  if (SIGNALING_ENDPOINTS.has(url.pathname)) return ['hub', ''];
  if (url.pathname === PIPE_SOCKET_PATH) return ['send', pipePath(url.searchParams.get('path') ?? '') ?? ''];
  return undefined;
}

/**
 * What a request to `path` would do, for access control: send (PUT, POST) or receive (GET, HEAD) on a pipe, or get
 * TURN credentials. Pages, preflights and other methods need no token.
 */
function requestScope(method: string | undefined, path: string): Scope | undefined {
  if (path === '/_/ice') return 'ice';
  if (isReserved(path)) return undefined;
  if (method === 'PUT' || method === 'POST') return 'send';
  if (method === 'GET' || method === 'HEAD') return 'receive';
  return undefined;
}

export interface ServerOptions {
  /** The built web app (web/build.ts output); dist/web by default. Tests build their own. */
  webRoot?: string;
}

export async function startServer(
  config: ServeConfig,
  log: Logger,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const relay = new Relay(config, log);
  const web = await WebApp.load(options.webRoot ?? DEFAULT_WEB_ROOT, log);
  // --stun-port 0 turns STUN off rather than picking a port, so the configured port is the bound one.
  const ice = new IceConfiguration({ ...config, stunPort: config.stunPort === 0 ? undefined : config.stunPort });
  const access = new AccessControl(config, log);
  const signaling = new SignalingHub(config, log, (req) => iceServersFor(req, ice, access, true));
  const startedAt = Date.now();

  const refuse = (req: Req, res: Res, refusal: Refusal) => {
    log.info({ method: req.method, path: req.url?.split('?')[0], status: refusal.status }, refusal.code);
    sendText(req, res, refusal.status, refusalText(refusal), refusalHeaders(refusal));
  };

  const onRequest = (req: Req, res: Res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'a:///');
    } catch {
      return sendText(req, res, 400, '[ERROR] Malformed request target.\n');
    }
    if (log.isLevelEnabled('info')) logRequest(log, req, res);
    const target = parseTarget(url);
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (read && web.handles(target.path)) return web.serve(req, res, target.path);
    const refusal = access.check(req, requestScope(req.method, target.path), target.path);
    if (refusal) return refuse(req, res, refusal);
    // The listeners leave `Expect: 100-continue` to us (src/server/listeners.ts): past access control, go on.
    if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    if (read && target.path.startsWith(FERRY_PREFIX)) {
      if (target.path === '/_/health') {
        const body = JSON.stringify({
          status: 'ok',
          version: VERSION,
          uptime: (Date.now() - startedAt) / 1000,
          relay: relay.registry.stats(),
          signaling: signaling.stats(),
        });
        return sendText(req, res, 200, body, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      }
      if (target.path === '/_/ice') {
        // Fresh TURN credentials each time; never cached. Readable cross-origin like every answer here, which
        // browsers never grant to a request sent with credentials.
        const body = JSON.stringify({ iceServers: iceServersFor(req, ice, access, false)() });
        return sendText(req, res, 200, body, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      }
      return sendText(req, res, 404, msg.notFound(target.path));
    }
    relay.handle(req, res, url, target);
  };

  // A WebSocket sender's upload reaches the relay as an ordinary PUT (pipe-socket.ts), never the web app or /_/.
  const pipeSocket = new PipeSocketEntrance((req, res) => {
    const url = new URL(req.url ?? '/', 'a:///');
    relay.handle(req, res, url, parseTarget(url));
  }, log);

  // Only WebSocket upgrades reach the hub: a plain GET or PUT on /register or /offer is an ordinary pipe.
  const routeUpgrade = (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? '/', 'a:///');
    } catch {
      url = undefined;
    }
    const pathname = url?.pathname;
    const websocket = req.headers.upgrade?.toLowerCase() === 'websocket';
    const scope = websocket && url ? upgradeScope(url) : undefined;
    const refusal = scope && access.check(req, ...scope, true);
    if (refusal) {
      socket.end(refusalResponse(refusal));
      log.info({ path: pathname, status: refusal.status }, refusal.code);
      return;
    }
    const endpoint = pathname === undefined ? undefined : SIGNALING_ENDPOINTS.get(pathname);
    if (endpoint && websocket) {
      signaling.upgrade(endpoint, req, socket, head);
      return;
    }
    if (pathname === PIPE_SOCKET_PATH && websocket) {
      pipeSocket.upgrade(req, socket, head);
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    log.info({ url: req.url }, 'upgrade refused');
  };
  // No client's input may take the process down: a throw while serving one request or upgrade is that client's
  // failure alone (answered 500, or its socket dropped), logged as the bug it is. Node hands an upgraded socket
  // over with no error listener, so a reset on it would otherwise be an uncaught error too.
  const onUpgradeSocketError = (err: Error) => log.info({ err: err.message }, 'upgrade socket error');
  const onUpgrade = (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', onUpgradeSocketError);
    try {
      routeUpgrade(req, socket, head);
    } catch (err) {
      log.error({ err: (err as Error).stack, url: req.url }, 'upgrade handler failed');
      socket.destroy();
    }
  };
  const onRequestGuarded = (req: Req, res: Res) => {
    try {
      onRequest(req, res);
    } catch (err) {
      log.error({ err: (err as Error).stack, url: req.url }, 'request handler failed');
      if (res.headersSent) cut(res);
      else sendText(req, res, 500, '[ERROR] The server failed on this request.\n');
    }
  };

  // STUN first: if its port is taken, startup fails before any TCP listener is open.
  const stun = config.stunPort === 0 ? undefined : new StunResponder();
  await stun
    ?.start({
      port: config.stunPort,
      host: config.host,
      onError: (err) => log.warn({ err: err.message }, 'stun socket error'),
    })
    .catch((err) => {
      access.close();
      throw err;
    });
  const listeners = await openListeners(config, onRequestGuarded, onUpgrade, log).catch(async (err) => {
    access.close();
    await stun?.close();
    throw err;
  });
  let closing: Promise<void> | undefined;
  return {
    http: listeners.http,
    https: listeners.https,
    stun,
    close(graceSeconds = config.shutdownGrace) {
      closing ??= (async () => {
        listeners.stopAccepting();
        access.close();
        await stun?.close();
        // Signaling sessions are long-lived by nature: they end now, with a close frame, not at the deadline.
        signaling.close();
        relay.registry.closeWaiting();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          relay.registry.whenIdle(),
          new Promise((resolve) => {
            timer = setTimeout(resolve, graceSeconds * 1000);
          }),
        ]);
        clearTimeout(timer);
        pipeSocket.close();
        listeners.destroyAll();
      })();
      return closing;
    },
  };
}
