// The app's service worker has one job: turn bytes the page hands it into an ordinary browser download, so a received
// file goes to disk as it arrives instead of piling up in memory. The page posts {id, name, size, hash} with a
// MessagePort, then points a hidden frame at /_/app/dl/<id>; this worker answers that request with a stream of what
// comes through the port, as an attachment. It controls nothing else (its scope is /_/app/dl/) and keeps no state
// beyond the downloads that run. With `hash` it also computes the SHA-256 of what it saves, for the page to ask for
// ({type: 'digest'}) before it lets the file count as received: a code transfer's receiving page hands its frames
// here as they came off the data channel, so each byte leaves the page once and is hashed where it is saved.
//
// Why a port rather than a transferred ReadableStream: the page transfers its chunks' buffers through a port, where a
// transferred stream copies every chunk once on each side (measured: this worker's CPU halved, the page's main thread
// and the browser's download writer lighter). A port does not tell this worker when the page goes away, though, and a
// stream from a closed page would then wait forever: so while a download runs, this worker asks every WATCH_MS whether
// its page is still there, and fails the download when it is not (a cut file must never look finished, nor hang).
// Nor does the port tell the page when this worker dies: the page asks through the port ({type: 'alive'}) every
// couple of seconds, answered at once whatever the download's pace, and fails the download when the answers stop (see
// web/src/net/save.ts).
import { type Hash, newHash } from '../src/workers/wasm-sha256.ts';

declare const self: ServiceWorkerGlobalScope;

/** What the page sends through a download's port. */
type PortMessage =
  | { type: 'chunks'; chunks: Uint8Array[] }
  | { type: 'end' }
  | { type: 'abort'; reason: string }
  | { type: 'digest' }
  | { type: 'alive' };

interface PendingDownload {
  name: string;
  size?: number;
  stream: ReadableStream<Uint8Array>;
  posted: number;
  /** Fails the download (its page is gone, or nobody asked for it). */
  fail(reason: string): void;
}

const PREFIX = '/_/app/dl/';
// A download the page posted but whose frame never asked for it (the page closed in between) is dropped after this.
const UNCLAIMED_MS = 60_000;
/** How often a running download checks that its page is still open. */
const WATCH_MS = 1000;
/** Bytes queued here, not yet taken by the browser, before the page is told (by the acknowledgements' pace) to wait. */
const QUEUE_BYTES = 1024 * 1024;
const pending = new Map<string, PendingDownload>();

function isDownloadMessage(
  data: unknown,
): data is { type: 'download'; id: string; name: string; size?: number; hash?: boolean } {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Record<string, unknown>;
  return (
    d.type === 'download' &&
    typeof d.id === 'string' &&
    typeof d.name === 'string' &&
    (d.size === undefined || typeof d.size === 'number') &&
    (d.hash === undefined || typeof d.hash === 'boolean')
  );
}

function dispositionFor(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * The stream of one download, fed from `port`. The page is told how many bytes the browser took ({type: 'saved'}) so
 * it can bound what it hands over, and told when the download was cancelled here ({type: 'cancelled'}) or is complete
 * ({type: 'closed'}: everything is queued here, the page may go); its {type: 'alive'} is answered at once.
 */
function downloadStream(
  port: MessagePort,
  clientId: string | undefined,
  hash: Hash | undefined,
): Pick<PendingDownload, 'stream' | 'fail'> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let queued = 0;
  let acknowledged = 0;
  let over = false;
  let watch: ReturnType<typeof setInterval> | undefined;
  const stop = () => {
    over = true;
    if (watch !== undefined) clearInterval(watch);
    port.onmessage = null;
    port.close();
  };
  const fail = (reason: string) => {
    if (over) return;
    stop();
    controller.error(new Error(reason));
  };
  const acknowledge = () => {
    const taken = queued - (QUEUE_BYTES - (controller.desiredSize ?? 0));
    if (taken <= acknowledged || over) return;
    acknowledged = taken;
    port.postMessage({ type: 'saved', bytes: taken });
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull: acknowledge,
      cancel(reason) {
        if (over) return;
        port.postMessage({ type: 'cancelled', reason: String(reason ?? 'the download was cancelled') });
        stop();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: QUEUE_BYTES }),
  );
  port.onmessage = (event: MessageEvent<PortMessage>) => {
    const message = event.data;
    if (over) return;
    if (message.type === 'alive') {
      // Only that this worker still runs: a paused download or a slow disk must not look like a dead helper.
      port.postMessage({ type: 'alive' });
    } else if (message.type === 'chunks') {
      for (const chunk of message.chunks) {
        hash?.update(chunk);
        controller.enqueue(chunk);
        queued += chunk.byteLength;
      }
      acknowledge();
    } else if (message.type === 'digest' && hash) {
      port.postMessage({ type: 'digest', hex: hash.hex() });
    } else if (message.type === 'end') {
      // Everything is queued: the stream ends once the browser took it, whatever the page does from now on.
      controller.close();
      port.postMessage({ type: 'closed' });
      stop();
    } else if (message.type === 'abort') {
      fail(message.reason);
    }
  };
  if (clientId !== undefined) {
    watch = setInterval(() => {
      void self.clients.get(clientId).then((client) => {
        if (!client) fail('the page receiving this file was closed');
      });
    }, WATCH_MS);
  }
  return { stream, fail };
}

self.addEventListener('install', () => {
  // A new version takes over at once: the message format is the page's and the worker's, shipped together.
  void self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('message', (event) => {
  const data: unknown = event.data;
  // Pings only keep this worker alive while a download runs (an idle worker is stopped after ~30 s).
  const port = event.ports[0];
  if (!isDownloadMessage(data) || !port) return;
  const now = Date.now();
  for (const [id, old] of pending) {
    if (now - old.posted > UNCLAIMED_MS) {
      old.fail('unclaimed');
      pending.delete(id);
    }
  }
  const source = event.source as Client | null;
  const ready = (data.hash ? newHash() : Promise.resolve(undefined)).then((hash) => {
    pending.set(data.id, { name: data.name, size: data.size, posted: now, ...downloadStream(port, source?.id, hash) });
    port.postMessage({ type: 'ready', id: data.id });
  });
  event.waitUntil(ready);
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(PREFIX)) return;
  const id = url.pathname.slice(PREFIX.length);
  const download = pending.get(id);
  pending.delete(id);
  if (!download) {
    event.respondWith(
      new Response('This download is no longer available. Start the transfer again from the Ferry page.\n', {
        status: 404,
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      }),
    );
    return;
  }
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': dispositionFor(download.name),
    'X-Content-Type-Options': 'nosniff',
  };
  // With a length the browser shows the size and a progress bar, and treats a shorter stream as a failed download.
  if (download.size !== undefined) headers['Content-Length'] = String(download.size);
  event.respondWith(new Response(download.stream, { headers }));
});
