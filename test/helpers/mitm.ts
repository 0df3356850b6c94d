// A hostile server in front of a real one, for code-transfer tests: it forwards the signaling WebSocket and every
// relay request to the real server on loopback, and on the way may rewrite or drop signaling messages (an SDP-swapping
// hub, a network that loses every ICE candidate) and alter, cut or record relay uploads (a tampering relay, a tap).
import { once } from 'node:events';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface MitmOptions {
  /** Rewrites a client→hub message (parsed JSON); return undefined to drop it. */
  toHub?: (message: Record<string, unknown>) => Record<string, unknown> | undefined;
  /** Rewrites one chunk of a relay upload (PUT/POST body) at byte `offset` of that upload; return null to end it there. */
  upload?: (chunk: Buffer, offset: number) => Buffer | null;
}

export interface Mitm {
  url: string;
  /** Every byte of every relay upload that went through. */
  uploaded(): Buffer;
  close(): Promise<void>;
}

export async function startMitm(upstream: string, options: MitmOptions = {}): Promise<Mitm> {
  const target = new URL(upstream);
  const taps: Buffer[] = [];
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true });
  const server: Server = createServer((req, res) => {
    const out = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    out.on('error', () => res.destroy());
    req.on('error', () => out.destroy());
    if (req.method !== 'PUT' && req.method !== 'POST') {
      req.pipe(out);
      return;
    }
    let offset = 0;
    let ended = false;
    req.on('data', (chunk: Buffer) => {
      taps.push(chunk);
      if (ended) return;
      const changed = options.upload ? options.upload(chunk, offset) : chunk;
      offset += chunk.length;
      if (changed === null) {
        // A clean end of the upload, as a relay that cut the stream at a record boundary would present it.
        ended = true;
        out.end();
        return;
      }
      if (!out.write(changed)) {
        req.pause();
        out.once('drain', () => req.resume());
      }
    });
    req.on('end', () => {
      if (!ended) out.end();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    wss.handleUpgrade(req, socket, head, (client) => {
      const hub = new WebSocket(`ws://${target.host}${req.url}`, { perMessageDeflate: false });
      sockets.add(client).add(hub);
      const pending: string[] = [];
      client.on('message', (data: Buffer) => {
        let text = data.toString('utf8');
        if (options.toHub) {
          const rewritten = options.toHub(JSON.parse(text) as Record<string, unknown>);
          if (rewritten === undefined) return;
          text = JSON.stringify(rewritten);
        }
        if (hub.readyState === WebSocket.OPEN) hub.send(text);
        else pending.push(text);
      });
      hub.on('open', () => {
        for (const text of pending.splice(0)) hub.send(text);
      });
      hub.on('message', (data: Buffer) => client.send(data.toString('utf8')));
      const closeBoth = () => {
        client.close();
        hub.close();
      };
      client.on('close', closeBoth);
      hub.on('close', closeBoth);
      client.on('error', closeBoth);
      hub.on('error', closeBoth);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    uploaded: () => Buffer.concat(taps),
    async close() {
      for (const socket of sockets) socket.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The `data` of a forwarded hub `message`, if `message` is one. */
export function sessionData(message: Record<string, unknown>): Record<string, unknown> | undefined {
  if (message.type !== 'message' || typeof message.data !== 'object' || message.data === null) return undefined;
  return message.data as Record<string, unknown>;
}
