// The app's service worker has one job: turn a stream the page hands it into an ordinary browser download, so a
// received file goes to disk as it arrives instead of piling up in memory. The page posts {id, name, size, stream}
// and then points a hidden frame at /_/app/dl/<id>; this worker answers that request with the stream as an
// attachment. It controls nothing else (its scope is /_/app/dl/) and keeps no state beyond streams not yet claimed.
declare const self: ServiceWorkerGlobalScope;

interface PendingDownload {
  name: string;
  size?: number;
  stream: ReadableStream<Uint8Array>;
  posted: number;
}

const PREFIX = '/_/app/dl/';
// A stream the page posted but whose frame never asked for it (the page closed in between) is dropped after this.
const UNCLAIMED_MS = 60_000;
const pending = new Map<string, PendingDownload>();

function isDownloadMessage(data: unknown): data is { type: 'download'; id: string } & PendingDownload {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Record<string, unknown>;
  return (
    d.type === 'download' &&
    typeof d.id === 'string' &&
    typeof d.name === 'string' &&
    d.stream instanceof ReadableStream
  );
}

function dispositionFor(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(name)}`;
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
  if (!isDownloadMessage(data)) return;
  const now = Date.now();
  for (const [id, old] of pending) {
    if (now - old.posted > UNCLAIMED_MS) {
      void old.stream.cancel('unclaimed').catch(() => {});
      pending.delete(id);
    }
  }
  pending.set(data.id, { name: data.name, size: data.size, stream: data.stream, posted: now });
  event.ports[0]?.postMessage({ type: 'ready', id: data.id });
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
