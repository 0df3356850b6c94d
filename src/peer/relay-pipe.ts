// A download from one of the relay's pipes, over a socket of our own: every read lands in one buffer that is reused
// for the whole transfer, and the body is handed over as views of it (http-response.ts), so a gigabyte costs no
// allocation per read. node:http would allocate a buffer per socket read and copy each body chunk once more; at
// relay speeds that garbage, and the collections it triggers, cost more CPU than decrypting the stream.
import { isIP, connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { VERSION } from '../version.ts';
import { accessRefused } from './access.ts';
import { HttpResponseError, ResponseParser } from './http-response.ts';

/** Socket reads of up to this much at a time. */
const READ_BUFFER_BYTES = 256 * 1024;

export interface DownloadHandlers {
  /** The body so far, a view of the read buffer: use or copy it before returning. */
  body(piece: Uint8Array): void;
  /** The whole body arrived. */
  end(): void;
  /** The download failed: a refusal (status other than 200), a broken response, or a cut connection. */
  error(error: Error): void;
}

export interface Download {
  pause(): void;
  resume(): void;
  destroy(): void;
}

/**
 * GETs `url` (http: or https:), presenting `token` if there is one, and streams its body to the handlers; exactly one
 * of end() or error() is called. A 401 is an AccessRefused.
 */
export function downloadPipe(url: URL, token: string | undefined, handlers: DownloadHandlers): Download {
  let settled = false;
  const settle = (error?: Error) => {
    if (settled) return;
    settled = true;
    if (error) {
      socket.destroy();
      handlers.error(error);
    } else handlers.end();
  };
  const parser = new ResponseParser({
    head(status) {
      if (status === 401) throw accessRefused('relay downloads', token !== undefined);
      if (status !== 200) throw new HttpResponseError(`the relay answered HTTP ${status} for our download`);
    },
    body: (piece) => handlers.body(piece),
    end: () => {
      settle();
      socket.end();
    },
  });
  const onread: OnReadOpts = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
    callback(bytes, buffer) {
      if (settled) return false;
      try {
        parser.push(buffer.subarray(0, bytes));
      } catch (error) {
        settle(error instanceof Error ? error : new Error(String(error)));
      }
      return true;
    },
  };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const socket: Socket =
    url.protocol === 'https:'
      ? // tls.connect takes `onread` as net.connect does (documented; missing from @types/node).
        tlsConnect({
          host,
          port,
          servername: isIP(host) ? undefined : host,
          ALPNProtocols: ['http/1.1'],
          onread,
        } as ConnectionOptions)
      : netConnect({ host, port, onread });
  socket.setNoDelay(true);
  // A token is visible ASCII (TOKEN_SHAPE, checked where it is read), so it cannot break the head.
  const authorization = token === undefined ? '' : `Authorization: Bearer ${token}\r\n`;
  socket.write(
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: ferry/${VERSION}\r\n` +
      `${authorization}Connection: close\r\n\r\n`,
  );
  socket.on('end', () => {
    if (settled) return;
    try {
      parser.finish();
    } catch (error) {
      settle(error as Error);
    }
  });
  socket.on('error', (error) => settle(error));
  socket.on('close', () => settle(new Error('the relay connection closed before the end of the stream')));
  return {
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    destroy: () => {
      settled = true;
      socket.destroy();
    },
  };
}
