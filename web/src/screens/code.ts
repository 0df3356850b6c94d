// The code-transfer screen: the browser side of `ferry send` / `ferry receive`. Send files or a folder and get a code,
// a link (/#CODE) and a QR code; open the link or type the code to receive, see the offer and accept or decline it.
// Both sides show the verification words, P2P or relay, progress with rate and ETA, and the SHA-256 both checked.
import QRCode from 'qrcode';
import { type Entry, type Offer, Sha256 } from '../../../src/protocol/transfer.ts';
import {
  type Decision,
  type FileSink,
  receiveTransfer,
  type SettlingSha256,
  sendTransfer,
  TransferError,
  type TransferResult,
} from '../../../src/protocol/transfer-session.ts';
import { copyButton } from '../lib/copy.ts';
import { h, uid } from '../lib/dom.ts';
import { formatBytes, plural } from '../lib/format.ts';
import { Gatherer } from '../lib/gather.ts';
import { fromFiles, type Selection } from '../lib/selection.ts';
import { TransferView } from '../lib/transfer-view.ts';
import { CodeFailure, describeFailure, openSession, type Session } from '../net/code-session.ts';
import { type TransferHashes, transferHashes } from '../net/hasher.ts';
import type { Download, Saver, StreamSaver } from '../net/save.ts';
import type { AppContext } from '../screens.ts';

function verificationBlock(words: string, digits: string): HTMLElement {
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'verification' },
      h('span', { class: 'verification-label' }, 'Verification:'),
      h('span', { class: 'words' }, words),
      h('span', { class: 'digits' }, digits),
    ),
    h('p', { class: 'hint' }, 'The other side shows the same words: if they differ, someone is in between.'),
  );
}

function transportBadge(transport: 'p2p' | 'relay'): HTMLElement {
  return h(
    'p',
    { class: 'badge', 'data-transport': transport },
    transport === 'p2p' ? 'Direct connection (peer to peer)' : 'Through the relay (end-to-end encrypted)',
  );
}

function hashes(result: TransferResult): HTMLElement {
  const shown = result.files.slice(0, 20);
  return h(
    'div',
    { class: 'hash' },
    h(
      'p',
      {},
      `SHA-256, checked by both sides${result.files.length > 1 ? ` (${plural(result.files.length, 'file')})` : ''}:`,
    ),
    h(
      'ul',
      { class: 'hashes' },
      ...shown.map((file) =>
        h('li', {}, h('span', { class: 'hash-name' }, `${file.path} `), h('code', {}, file.sha256)),
      ),
      result.files.length > shown.length
        ? h('li', {}, `and ${plural(result.files.length - shown.length, 'more file')}`)
        : undefined,
    ),
  );
}

/** The offer for what was picked: one file as it is, or a folder or several files as their entries. */
function offerFor(selection: Selection): { offer: Offer; files: Map<number, Blob> } {
  const files = new Map<number, Blob>();
  const entries: Entry[] = selection.entries.map((entry, index) => {
    if (!entry.file) return { path: entry.path, kind: 'directory', size: null, mtime: entry.mtime * 1000 };
    files.set(index, entry.file);
    return { path: entry.path, kind: 'file', size: entry.file.size, mtime: entry.mtime * 1000 };
  });
  const tops = new Set(entries.map((e) => e.path.split('/')[0]));
  const folder = tops.size === 1 && entries.some((e) => e.kind === 'directory' && !e.path.includes('/'));
  const kind = selection.single ? 'file' : folder ? 'directory' : 'files';
  const name = selection.single
    ? selection.single.name
    : folder
      ? String([...tops][0])
      : plural(selection.files, 'file');
  return {
    offer: { version: 1, kind, name, entryCount: entries.length, totalSize: selection.bytes, entries },
    files,
  };
}

/** The file's bytes, read no further ahead than the hashing worker keeps up with. */
async function* readFile(file: Blob, hashes: TransferHashes): AsyncIterable<Uint8Array> {
  const reader = file.stream().getReader();
  try {
    for (;;) {
      await hashes.room();
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Frames are handed to the download in messages of at least this much (one post per frame would cost more). */
const SAVE_BATCH_BYTES = 1024 * 1024;

/**
 * Each file of an accepted offer becomes its own download, written as it arrives, closed once its hash matched. The
 * service worker that writes the download also hashes it (`hash()` is the file's hash): each byte leaves the page
 * once. Over a data channel every frame has its own buffer, which moves to the worker as it is (transferred, never
 * copied), a megabyte's worth per message; the relay's frames share their buffers, so they are copied into 1 MiB
 * chunks first.
 */
class DownloadSink implements FileSink {
  readonly #downloads = new Map<number, Promise<Download>>();
  /** The open download of the file being received. */
  #download: Download | undefined;
  #unsaved: Uint8Array[] = [];
  #unsavedBytes = 0;
  /** Relay frames, copied into chunks of their own (see the class comment). */
  readonly #copies = new Gatherer(SAVE_BATCH_BYTES, (chunk) => this.#unsaved.push(chunk));

  constructor(
    private readonly saver: StreamSaver,
    /** Whether each frame's data is alone in its buffer (a data channel's), so that buffer can be handed over. */
    private readonly ownBuffers: boolean,
  ) {}

  #open(index: number, entry: Entry): Promise<Download> {
    let download = this.#downloads.get(index);
    if (!download) {
      // A download has a name, not a path: the folders of a tree go into the name.
      download = this.saver.start(entry.path.split('/').join('_'), entry.size ?? undefined, true);
      this.#downloads.set(index, download);
    }
    return download;
  }

  /** The current file's hash: what it is given is saved, and hashed by the worker as it is. */
  hash(): SettlingSha256 {
    let count = 0;
    let result: string | undefined;
    return {
      get bytes() {
        return count;
      },
      update: (bytes: Uint8Array) => {
        count += bytes.length;
        this.#take(bytes);
      },
      settle: async () => {
        // An empty file's download gets nothing to hash.
        if (count === 0) result = new Sha256().hex();
        else {
          const download = this.#download as Download;
          this.#drain(download, true);
          result = await download.digest();
        }
      },
      hex: () => {
        if (result === undefined) throw new Error('the SHA-256 was asked for before it settled');
        return result;
      },
    };
  }

  #take(bytes: Uint8Array): void {
    this.#unsavedBytes += bytes.length;
    if (this.ownBuffers) this.#unsaved.push(bytes);
    else this.#copies.push(bytes);
  }

  #drain(download: Download, all: boolean): void {
    if (all) this.#copies.flush();
    else if (this.#unsavedBytes < SAVE_BATCH_BYTES) return;
    if (this.#unsaved.length === 0) return;
    const chunks = this.#unsaved;
    this.#unsaved = [];
    this.#unsavedBytes = 0;
    download.write(chunks);
  }

  async write(index: number, entry: Entry): Promise<void> {
    this.#download ??= await this.#open(index, entry);
    const download = this.#download;
    this.#drain(download, false);
    // A download that lags: take no more frames until it caught up (a failed download throws here).
    await download.room();
  }

  async fileDone(index: number, entry: Entry): Promise<void> {
    const download = this.#download ?? (await this.#open(index, entry));
    this.#download = undefined;
    this.#downloads.delete(index);
    this.#drain(download, true);
    await download.close();
  }

  async complete(): Promise<void> {}

  async abort(): Promise<void> {
    // A failed download: a cut file never looks complete.
    for (const download of this.#downloads.values()) {
      await download.then((d) => d.abort(new Error('the transfer failed'))).catch(() => {});
    }
    this.#downloads.clear();
  }
}

/**
 * One transfer at a time per card: the form starts `run`, Cancel aborts it, and when it ends its session (handed over
 * with `hold`) is hung up and the card is ready again.
 */
function oneAtATime(
  form: HTMLFormElement,
  cancel: HTMLButtonElement,
  setBusy: (busy: boolean) => void,
  who: 'sender' | 'receiver',
  run: (signal: AbortSignal, hold: (session: Session) => void) => Promise<void>,
): { start(): void; stop(): void; busy(): boolean } {
  let controller: AbortController | undefined;
  const start = () => {
    if (controller) return;
    const current = new AbortController();
    controller = current;
    let session: Session | undefined;
    setBusy(true);
    void run(current.signal, (held) => {
      session = held;
    }).finally(() => {
      session?.close();
      controller = undefined;
      setBusy(false);
    });
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    start();
  });
  cancel.addEventListener('click', () => controller?.abort(new Error(`cancelled by the ${who}`)));
  return { start, stop: () => controller?.abort(new Error('the page was left')), busy: () => controller !== undefined };
}

function sendPanel(context: AppContext): { element: HTMLElement; stop(): void } {
  let selection: Selection | undefined;
  const view = new TransferView('Sending progress');
  const filesInput = h('input', { type: 'file', multiple: true, class: 'file-input' });
  const folderInput = h('input', { type: 'file', webkitdirectory: true, class: 'file-input' });
  const chosen = h('p', { class: 'chosen', 'aria-live': 'polite' });
  const sendButton = h('button', { type: 'submit', class: 'primary' }, 'Get a code');
  const cancelButton = h('button', { type: 'button', hidden: true }, 'Cancel');
  const inputs = h(
    'fieldset',
    { class: 'plain' },
    h('legend', { class: 'visually-hidden' }, 'What to send'),
    h(
      'div',
      { class: 'pickers' },
      h('label', { class: 'drop' }, filesInput, h('span', { class: 'drop-title' }, 'Choose files')),
      h('label', { class: 'drop' }, folderInput, h('span', { class: 'drop-title' }, 'Choose a folder')),
    ),
    chosen,
  );
  const form = h('form', { novalidate: true }, inputs, h('div', { class: 'actions' }, sendButton, cancelButton));
  const share = h('div', { class: 'code-share', hidden: true });
  const pick = (files: FileList | null) => {
    const next = fromFiles(Array.from(files ?? []));
    selection = next.entries.length > 0 ? next : undefined;
    chosen.textContent = selection
      ? `${selection.single ? selection.single.name : plural(selection.files, 'file')} · ${formatBytes(selection.bytes)}`
      : '';
  };
  filesInput.addEventListener('change', () => pick(filesInput.files));
  folderInput.addEventListener('change', () => pick(folderInput.files));

  const setBusy = (busy: boolean) => {
    inputs.disabled = busy;
    sendButton.hidden = busy;
    cancelButton.hidden = !busy;
  };

  const showCode = async (code: string) => {
    const link = `${context.origin}/#${code}`;
    const command = `ferry receive ${code} --server ${context.origin}`;
    const svg = await QRCode.toString(link, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    share.hidden = false;
    share.replaceChildren(
      h('p', { class: 'code-label' }, 'Code'),
      h(
        'div',
        { class: 'code-row' },
        h('p', { class: 'code-value', 'data-code': code }, code),
        copyButton(() => code, 'Copy code'),
      ),
      h(
        'p',
        {},
        'On the other device open ',
        h('a', { href: link, class: 'code-link' }, link),
        ' ',
        copyButton(() => link, 'Copy link'),
        ' or scan:',
      ),
      h('img', {
        class: 'qr',
        src: `data:image/svg+xml,${encodeURIComponent(svg)}`,
        alt: `QR code of the link ${link}`,
        width: 180,
        height: 180,
      }),
      h('p', {}, 'or run:'),
      h(
        'div',
        { class: 'command' },
        h('code', {}, command),
        copyButton(() => command),
      ),
    );
  };

  const send = async (signal: AbortSignal, hold: (session: Session) => void) => {
    view.reset();
    if (!selection) {
      view.setStatus('failed', 'Choose files or a folder first.');
      filesInput.focus();
      return;
    }
    const { offer, files } = offerFor(selection);
    share.hidden = true;
    view.setStatus('busy', 'Reaching the server…');
    const details: HTMLElement[] = [];
    const fileHashes = transferHashes();
    try {
      const session = await openSession(
        'sender',
        context.origin,
        undefined,
        {
          onCode: (code) => {
            void showCode(code);
            view.setStatus('busy', 'Waiting for the receiver: give them the code, the link or the QR code.');
          },
          onPeer: () => view.setStatus('busy', 'The receiver is here; checking the code…'),
          onVerified: (keys) => details.push(verificationBlock(keys.verification.words, keys.verification.digits)),
          onConnecting: () => {
            view.setExtra(...details);
            view.setStatus('busy', 'Code confirmed; connecting directly…');
          },
        },
        signal,
      );
      hold(session);
      share.hidden = true;
      details.push(transportBadge(session.channel.transport));
      view.setExtra(...details);
      view.setStatus(
        'busy',
        `Waiting for the receiver to accept ${offer.name} (${formatBytes(offer.totalSize ?? 0)})…`,
      );
      let meter: ReturnType<TransferView['track']> | undefined;
      const result = await sendTransfer(session.channel, offer, {
        read: (index) => readFile(files.get(index) as Blob, fileHashes),
        createHash: fileHashes.create,
        signal,
        onAccepted: () => {
          view.setStatus('busy', 'Accepted; sending…');
          meter = view.track(offer.totalSize ?? undefined);
        },
        onProgress: ({ bytes }) => meter?.update(bytes),
      });
      view.finish();
      view.setStatus('done', `Sent ${formatBytes(result.bytes)}; the receiver verified every file.`);
      view.setExtra(...details, hashes(result));
    } catch (error) {
      view.finish(false);
      const failure = describeFailure(error);
      share.hidden = true;
      view.element.dataset.failure = failure.kind;
      view.setStatus('failed', failure.message);
    } finally {
      fileHashes.close();
    }
  };
  const runner = oneAtATime(form, cancelButton, setBusy, 'sender', send);

  const headingId = uid('send');
  const element = h(
    'section',
    { class: 'card', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, 'Send'),
    form,
    view.element,
    share,
  );
  return { element, stop: runner.stop };
}

function offerBlock(offer: Offer): HTMLElement {
  const files = offer.entries.filter((e) => e.kind === 'file');
  const shown = files.slice(0, 10);
  const what =
    offer.kind === 'directory' ? `the folder ${offer.name}` : offer.kind === 'file' ? offer.name : offer.name;
  return h(
    'div',
    { class: 'offer' },
    h(
      'p',
      { class: 'offer-head' },
      `The sender offers ${what}: ${plural(files.length, 'file')}, ${offer.totalSize === null ? 'size unknown' : formatBytes(offer.totalSize)}.`,
    ),
    h(
      'ul',
      {},
      ...shown.map((e) => h('li', {}, `${e.path} (${e.size === null ? 'size unknown' : formatBytes(e.size)})`)),
      files.length > shown.length ? h('li', {}, `and ${plural(files.length - shown.length, 'more file')}`) : undefined,
    ),
  );
}

function receivePanel(
  context: AppContext,
  initial: string | undefined,
): { element: HTMLElement; start(code: string): void; stop(): void } {
  const view = new TransferView('Receiving progress');
  const codeInput = h('input', {
    type: 'text',
    autocomplete: 'off',
    autocapitalize: 'off',
    spellcheck: false,
    required: true,
    placeholder: '7-orbit-frozen',
    value: initial ?? '',
  });
  codeInput.id = uid('code');
  const receiveButton = h('button', { type: 'submit', class: 'primary' }, 'Receive');
  const cancelButton = h('button', { type: 'button', hidden: true }, 'Cancel');
  const inputs = h(
    'fieldset',
    { class: 'plain' },
    h('div', { class: 'field' }, h('label', { for: codeInput.id }, 'Code'), codeInput),
  );
  const form = h('form', { novalidate: true }, inputs, h('div', { class: 'actions' }, receiveButton, cancelButton));
  const setBusy = (busy: boolean) => {
    inputs.disabled = busy;
    receiveButton.hidden = busy;
    cancelButton.hidden = !busy;
  };

  /** Shows the offer with Accept and Decline; resolves with the person's answer, rejects if the sender leaves. */
  const ask = (
    offer: Offer,
    saver: Saver,
    sink: DownloadSink | undefined,
    details: HTMLElement[],
    gone: Promise<void>,
  ): Promise<Decision> =>
    new Promise((resolve, reject) => {
      void gone.then(() => reject(new Error('the sender left')));
      const accept = h('button', { type: 'button', class: 'primary' }, 'Accept');
      const decline = h('button', { type: 'button' }, 'Decline');
      const unsaveable =
        saver.mode === 'link'
          ? h('p', { class: 'hint' }, `This page cannot save files as they arrive here: ${saver.reason}.`)
          : undefined;
      accept.disabled = saver.mode === 'link';
      view.setStatus('info', 'Accept to save the files as they arrive, or decline.');
      view.setExtra(...details, offerBlock(offer), h('div', { class: 'actions' }, accept, decline), unsaveable ?? '');
      accept.focus();
      accept.addEventListener('click', () => {
        if (sink) resolve({ accept: true, sink });
      });
      decline.addEventListener('click', () => resolve({ accept: false, reason: 'declined in the browser' }));
    });

  const receive = async (signal: AbortSignal, hold: (session: Session) => void) => {
    view.reset();
    view.setStatus('busy', 'Reaching the server…');
    const details: HTMLElement[] = [];
    try {
      const session = await openSession(
        'receiver',
        context.origin,
        codeInput.value,
        {
          onCode: () => view.setStatus('busy', 'Waiting for the sender…'),
          onPeer: () => view.setStatus('busy', 'The sender is here; checking the code…'),
          onVerified: (keys) => {
            details.push(verificationBlock(keys.verification.words, keys.verification.digits));
            view.setExtra(...details);
            view.setStatus('busy', 'Code confirmed; connecting…');
          },
        },
        signal,
      );
      hold(session);
      details.push(transportBadge(session.channel.transport));
      view.setExtra(...details);
      view.setStatus('busy', 'Connected; waiting for the offer…');
      const saver = await context.saver;
      // A data channel delivers each frame in a buffer of its own; the relay's frames are views into shared chunks.
      const ownBuffers = session.channel.transport === 'p2p';
      const sink = saver.mode === 'service-worker' ? new DownloadSink(saver, ownBuffers) : undefined;
      let meter: ReturnType<TransferView['track']> | undefined;
      const result = await receiveTransfer(session.channel, {
        signal,
        decide: async (offer) => {
          const decision = await ask(offer, saver, sink, details, session.peerGone);
          view.setExtra(...details, offerBlock(offer));
          if (decision.accept) {
            view.setStatus('busy', 'Receiving…');
            meter = view.track(offer.totalSize ?? undefined);
          }
          return decision;
        },
        // The sink's bytes come through its hashes (see DownloadSink).
        createHash: sink && (() => sink.hash()),
        onProgress: ({ bytes }) => meter?.update(bytes),
      });
      view.finish();
      view.setStatus('done', `Received ${formatBytes(result.bytes)}; every file matched its SHA-256 and is saved.`);
      view.setExtra(...details, hashes(result));
    } catch (error) {
      view.finish(false);
      // Whatever was on offer is gone: no Accept button may stay behind.
      view.setExtra(...details);
      const ours = error instanceof TransferError && error.code === 'DECLINED' && !error.byPeer;
      const shown = ours ? new CodeFailure('declined', 'You declined; nothing was saved.') : describeFailure(error);
      view.element.dataset.failure = shown.kind;
      view.setStatus(shown.kind === 'declined' ? 'warn' : 'failed', shown.message);
    }
  };
  const runner = oneAtATime(form, cancelButton, setBusy, 'receiver', receive);

  const headingId = uid('receive');
  const element = h(
    'section',
    { class: 'card', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, 'Receive'),
    form,
    view.element,
  );
  const start = (code: string) => {
    if (runner.busy()) return;
    codeInput.value = code;
    runner.start();
  };
  if (initial) queueMicrotask(() => start(initial));
  return { element, start, stop: runner.stop };
}

/** The code of a code link's hash (`#7-orbit-frozen`); the shell only routes valid ones here. */
function codeOf(hash: string): string | undefined {
  if (hash.startsWith('#/') || hash.length < 2) return undefined;
  try {
    return decodeURIComponent(hash.slice(1));
  } catch {
    return undefined;
  }
}

export function mount(root: HTMLElement, context: AppContext, hash: string): () => void {
  const initial = codeOf(hash);
  const send = sendPanel(context);
  const receivePart = receivePanel(context, initial);
  root.append(
    h('h1', {}, 'Send with a code'),
    h(
      'p',
      { class: 'lead' },
      'Pick files and get a short code; the other side opens the link, types the code here, or runs ',
      h('code', {}, 'ferry receive'),
      '. The files go directly between the two devices when possible, otherwise through this server, encrypted end to end.',
    ),
    h(
      'div',
      { class: 'cards' },
      initial ? receivePart.element : send.element,
      initial ? send.element : receivePart.element,
    ),
  );
  // Another code link opened while this screen shows (pasted into the address bar): receive that one.
  const onHash = () => {
    const code = codeOf(location.hash);
    if (code !== undefined) receivePart.start(code);
  };
  window.addEventListener('hashchange', onHash);
  return () => {
    window.removeEventListener('hashchange', onHash);
    send.stop();
    receivePart.stop();
  };
}
