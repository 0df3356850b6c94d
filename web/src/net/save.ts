// Saving what arrives as an ordinary browser download, written as it comes: the page pipes the bytes into a stream
// that the app's service worker serves as an attachment (see web/sw/sw.ts). Where that cannot work (no service
// worker outside a secure context such as plain http on a LAN address, or no transferable streams) the fallback is
// a plain download link: the browser's own download manager then receives the pipe, streaming too, but the page
// sees neither progress nor the end.

export interface StreamSaver {
  mode: 'service-worker';
  /** Start a download called `name`; what is written to the returned stream lands in the file. */
  open(name: string, size?: number): Promise<WritableStream<Uint8Array>>;
}

export interface LinkSaver {
  mode: 'link';
  /** Why downloads cannot be streamed through the page, for the screen to say. */
  reason: string;
  /** Let the browser download `url` itself. */
  open(url: string, name: string): void;
}

export type Saver = StreamSaver | LinkSaver;

const WORKER_URL = '/_/app/sw.js';
const SCOPE = '/_/app/dl/';
const READY_TIMEOUT_MS = 10_000;
const PING_MS = 10_000;

function canTransferStreams(): boolean {
  try {
    const stream = new ReadableStream();
    const channel = new MessageChannel();
    channel.port1.postMessage(stream, [stream as unknown as Transferable]);
    channel.port1.close();
    return true;
  } catch {
    return false;
  }
}

function linkSaver(reason: string): LinkSaver {
  return {
    mode: 'link',
    reason,
    open(url, name) {
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      a.hidden = true;
      document.body.append(a);
      a.click();
      a.remove();
    },
  };
}

function activated(worker: ServiceWorker): Promise<void> {
  if (worker.state === 'activated') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the service worker did not start')), READY_TIMEOUT_MS);
    worker.addEventListener('statechange', () => {
      if (worker.state === 'activated') {
        clearTimeout(timer);
        resolve();
      } else if (worker.state === 'redundant') {
        clearTimeout(timer);
        reject(new Error('the service worker was replaced while starting'));
      }
    });
  });
}

export async function createSaver(): Promise<Saver> {
  if (!window.isSecureContext || !('serviceWorker' in navigator)) {
    return linkSaver('it is not served over https or from localhost');
  }
  if (!canTransferStreams()) return linkSaver('this browser cannot hand streams to a service worker');
  let registration: ServiceWorkerRegistration;
  try {
    registration = await navigator.serviceWorker.register(WORKER_URL, { scope: SCOPE });
    const worker = registration.active ?? registration.waiting ?? registration.installing;
    if (!worker) throw new Error('no service worker');
    await activated(worker);
  } catch (err) {
    return linkSaver(`the download helper could not start (${(err as Error).message})`);
  }

  let running = 0;
  let pinger: ReturnType<typeof setInterval> | undefined;
  const hold = () => {
    running += 1;
    pinger ??= setInterval(() => registration.active?.postMessage({ type: 'ping' }), PING_MS);
  };
  const release = () => {
    running -= 1;
    if (running === 0 && pinger !== undefined) {
      clearInterval(pinger);
      pinger = undefined;
    }
  };

  return {
    mode: 'service-worker',
    async open(name, size) {
      const worker = registration.active;
      if (!worker) throw new Error('the download helper is not running; reload the page');
      const id = crypto.randomUUID();
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      const channel = new MessageChannel();
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the download helper did not answer')), READY_TIMEOUT_MS);
        channel.port1.onmessage = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      worker.postMessage({ type: 'download', id, name, size, stream: readable }, [
        readable as unknown as Transferable,
        channel.port2,
      ]);
      await ready;
      channel.port1.close();
      const frame = document.createElement('iframe');
      frame.hidden = true;
      frame.title = 'download';
      frame.src = `${SCOPE}${id}`;
      document.body.append(frame);
      hold();
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        release();
        // The download belongs to the browser once it has started; the frame only has to outlive its first bytes.
        setTimeout(() => frame.remove(), 30_000);
      };
      const writer = writable.getWriter();
      return new WritableStream<Uint8Array>({
        write: (chunk) => writer.write(chunk),
        close: async () => {
          try {
            await writer.close();
          } finally {
            finish();
          }
        },
        abort: async (reason) => {
          try {
            await writer.abort(reason);
          } finally {
            finish();
          }
        },
      });
    },
  };
}
