// Saving what arrives as an ordinary browser download, written as it comes: the page posts the bytes through a
// MessagePort to the app's service worker, which serves them as an attachment (see web/sw/sw.ts). Where that cannot
// work (no service worker outside a secure context such as plain http on a LAN address) the fallback is a plain
// download link: the browser's own download manager then receives the pipe, streaming too, but the page sees neither
// progress nor the end.
//
// A port says nothing when its other end dies (Chromium 156 has no MessagePort close event): were the service worker
// stopped mid-download (a crash, the browser's doing), no 'saved' would come again and room() would wait for good (a
// transfer stood at 0 B/s for minutes in the e2e test). So while a download runs the page asks the worker every
// ALIVE_MS whether it is still there; it answers at once, however slowly the browser takes the bytes (a paused
// download, a slow disk), and ALIVE_MISSES unanswered asks in a row fail the download.

/** One download that runs: bytes handed to it go to the file, in order, as the browser takes them. */
export interface Download {
  /** Hands `chunks` over, in order: their buffers move to the download (neither they nor views of them can be used). */
  write(chunks: readonly Uint8Array[]): void;
  /**
   * Resolves at once (undefined) unless more than SAVE_AHEAD_BYTES handed over are not saved yet: then once they are.
   * Rejects once the download failed (cancelled in the browser, its helper gone).
   */
  room(): Promise<void> | undefined;
  /**
   * The SHA-256 of everything handed over, computed by the worker as it saved it: only for a download started with
   * `hash`, and once, at the end. Rejects once the download failed.
   */
  digest(): Promise<string>;
  /** Everything was handed over: the download completes (the page may close once this resolved). */
  close(): Promise<void>;
  /** The download fails: a cut file never looks complete. */
  abort(reason: unknown): void;
}

export interface StreamSaver {
  mode: 'service-worker';
  /** Start a download called `name`; what is written to the returned stream lands in the file. */
  open(name: string, size?: number): Promise<WritableStream<Uint8Array>>;
  /**
   * The same, for bytes that are the caller's to give away: their buffers move to the download, uncopied. With `hash`
   * the worker also hashes them (see Download.digest).
   */
  start(name: string, size?: number, hash?: boolean): Promise<Download>;
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
const ALIVE_MS = 2000;
const ALIVE_MISSES = 3;
/** Bytes handed to a download and not yet taken by the browser before the page holds back (see Download.room). */
const SAVE_AHEAD_BYTES = 8 * 1024 * 1024;

/** The buffers under `chunks`, each once (a buffer listed twice cannot be transferred). */
function buffersOf(chunks: readonly Uint8Array[]): ArrayBuffer[] {
  return [...new Set(chunks.map((chunk) => chunk.buffer as ArrayBuffer))];
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

  /** The download's end of the port the service worker feeds it from (see web/sw/sw.ts). */
  const start = async (name: string, size?: number, hash = false): Promise<Download> => {
    const worker = registration.active;
    if (!worker) throw new Error('the download helper is not running; reload the page');
    const id = crypto.randomUUID();
    const channel = new MessageChannel();
    const port = channel.port1;
    let handed = 0;
    let saved = 0;
    let failure: Error | undefined;
    let waiting: { resolve(): void; reject(error: Error): void } | undefined;
    let closing: { resolve(): void; reject(error: Error): void } | undefined;
    let digesting: { resolve(hex: string): void; reject(error: Error): void } | undefined;
    let unanswered = 0;
    let alive: ReturnType<typeof setInterval> | undefined;
    const fail = (error: Error) => {
      failure ??= error;
      clearInterval(alive);
      waiting?.reject(failure);
      closing?.reject(failure);
      digesting?.reject(failure);
      waiting = closing = digesting = undefined;
    };
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the download helper did not answer')), READY_TIMEOUT_MS);
      port.onmessage = (event: MessageEvent<{ type: string; bytes?: number; reason?: string; hex?: string }>) => {
        const message = event.data;
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (message.type === 'saved') {
          saved = message.bytes ?? saved;
          if (waiting && handed - saved <= SAVE_AHEAD_BYTES / 2) {
            waiting.resolve();
            waiting = undefined;
          }
        } else if (message.type === 'cancelled') {
          fail(new Error(`the download was cancelled (${message.reason})`));
        } else if (message.type === 'digest') {
          digesting?.resolve(message.hex ?? '');
          digesting = undefined;
        } else if (message.type === 'closed') {
          closing?.resolve();
        } else if (message.type === 'alive') {
          unanswered = 0;
        }
      };
    });
    worker.postMessage({ type: 'download', id, name, size, hash }, [channel.port2]);
    await ready;
    const frame = document.createElement('iframe');
    frame.hidden = true;
    frame.title = 'download';
    frame.src = `${SCOPE}${id}`;
    document.body.append(frame);
    hold();
    alive = setInterval(() => {
      if (unanswered >= ALIVE_MISSES) {
        fail(new Error('the download helper stopped; reload the page and try again'));
        return;
      }
      unanswered += 1;
      port.postMessage({ type: 'alive' });
    }, ALIVE_MS);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(alive);
      release();
      port.close();
      // The download belongs to the browser once it has started; the frame only has to outlive its first bytes.
      setTimeout(() => frame.remove(), 30_000);
    };
    return {
      write(chunks) {
        if (failure) throw failure;
        if (done) throw new Error('the download is over');
        for (const chunk of chunks) handed += chunk.byteLength;
        port.postMessage({ type: 'chunks', chunks }, buffersOf(chunks));
      },
      room() {
        if (failure) return Promise.reject(failure);
        if (handed - saved <= SAVE_AHEAD_BYTES) return undefined;
        return new Promise((resolve, reject) => {
          waiting = { resolve, reject };
        });
      },
      digest() {
        if (failure) return Promise.reject(failure);
        if (!hash) return Promise.reject(new Error('this download is not hashed'));
        return new Promise((resolve, reject) => {
          digesting = { resolve, reject };
          port.postMessage({ type: 'digest' });
        });
      },
      async close() {
        if (failure) throw failure;
        const over = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('the download helper did not answer')), READY_TIMEOUT_MS);
          closing = {
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
            reject: (error) => {
              clearTimeout(timer);
              reject(error);
            },
          };
        });
        port.postMessage({ type: 'end' });
        try {
          await over;
        } finally {
          finish();
        }
      },
      abort(reason) {
        if (done) return;
        port.postMessage({ type: 'abort', reason: reason instanceof Error ? reason.message : String(reason) });
        finish();
      },
    };
  };

  return {
    mode: 'service-worker',
    start,
    async open(name, size) {
      const download = await start(name, size);
      // The writer's chunks stay the writer's: each is copied (as posting it without transferring would).
      return new WritableStream<Uint8Array>({
        write: async (chunk) => {
          download.write([chunk.slice()]);
          await download.room();
        },
        close: () => download.close(),
        abort: (reason) => download.abort(reason),
      });
    },
  };
}
