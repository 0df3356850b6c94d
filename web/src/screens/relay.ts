// The relay screen: send text, files or a folder to a path and receive from one, with the HTTP relay any curl user
// shares. Sending is one PUT (net/upload.ts), receiving one GET (net/receive.ts); both sides see honest states:
// waiting for the other side, moving (with speed), done, or failed and why.
import { copyButton } from '../lib/copy.ts';
import { h, uid } from '../lib/dom.ts';
import { formatBytes, plural } from '../lib/format.ts';
import { fromDrop, fromFiles, type Selection } from '../lib/selection.ts';
import { tarBlob } from '../lib/tar.ts';
import { TransferView } from '../lib/transfer-view.ts';
import { contentDisposition, PipeInputError, parsePipeInput, pipeUrl, randomPath, suggestedName } from '../net/pipe.ts';
import { type ReceiveError, receive } from '../net/receive.ts';
import { readSenderLog, UploadError, upload } from '../net/upload.ts';
import type { AppContext } from '../screens.ts';

type Kind = 'files' | 'folder' | 'text';

// No byte has gone out for this long while the upload is unfinished: the pipe is waiting for its receivers.
const STALL_MS = 1500;

/** A labelled control; `hint` (placed by the caller) becomes its description for screen readers. */
function field(label: string, control: HTMLInputElement | HTMLTextAreaElement, hint?: HTMLElement): HTMLElement {
  control.id ||= uid('f');
  if (hint) {
    hint.id ||= uid('hint');
    control.setAttribute('aria-describedby', hint.id);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}

function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function describeSelection(selection: Selection): HTMLElement {
  const shown = selection.entries.filter((e) => e.file).slice(0, 5);
  const more = selection.files - shown.length;
  const heading = selection.single
    ? `${selection.single.name} · ${formatBytes(selection.bytes)}`
    : `${plural(selection.files, 'file')} · ${formatBytes(selection.bytes)} · sent as ${selection.name}`;
  return h(
    'div',
    { class: 'selection' },
    h('p', { class: 'selection-head' }, heading),
    selection.single
      ? undefined
      : h(
          'ul',
          {},
          ...shown.map((e) => h('li', {}, `${e.path} (${formatBytes(e.file?.size ?? 0)})`)),
          more > 0 ? h('li', {}, `and ${plural(more, 'more file')}`) : undefined,
        ),
  );
}

function receiverHint(url: string, name: string | undefined, archive: boolean): HTMLElement {
  const command = archive
    ? `curl ${url} | tar xv`
    : name
      ? `curl -o '${name.replace(/'/g, '')}' ${url}`
      : `curl ${url}`;
  return h(
    'div',
    { class: 'share' },
    h('p', {}, 'Receivers open ', h('a', { href: url, target: '_blank', rel: 'noopener' }, url), ', or run:'),
    h(
      'div',
      { class: 'command' },
      h('code', {}, command),
      copyButton(() => command),
    ),
  );
}

function sendPanel(context: AppContext): { element: HTMLElement; stop(): void } {
  let kind: Kind = 'files';
  let selection: Selection | undefined;
  let controller: AbortController | undefined;

  const view = new TransferView('Sending progress');
  const kindRadios = (['files', 'folder', 'text'] as const).map((k) =>
    h('input', { type: 'radio', name: uid('kind'), value: k, checked: k === kind }),
  );
  for (const radio of kindRadios) radio.name = (kindRadios[0] as HTMLInputElement).name;
  const kindField = h(
    'fieldset',
    { class: 'kinds' },
    h('legend', {}, 'What to send'),
    ...kindRadios.map((radio, i) => h('label', { class: 'kind' }, radio, ['Files', 'A folder', 'Text'][i] as string)),
  );

  const filesInput = h('input', { type: 'file', multiple: true, class: 'file-input' });
  const folderInput = h('input', { type: 'file', webkitdirectory: true, class: 'file-input' });
  const filesZone = h(
    'label',
    { class: 'drop' },
    filesInput,
    h('span', { class: 'drop-title' }, 'Choose files'),
    h('span', { class: 'drop-hint' }, 'or drop files and folders here'),
  );
  const folderZone = h(
    'label',
    { class: 'drop', hidden: true },
    folderInput,
    h('span', { class: 'drop-title' }, 'Choose a folder'),
    h('span', { class: 'drop-hint' }, 'or drop it here'),
  );
  const chosen = h('div', { class: 'chosen', 'aria-live': 'polite' });
  const textArea = h('textarea', { rows: 5, spellcheck: false, placeholder: 'Type or paste text' });
  const textField = field('Text to send', textArea);
  textField.hidden = true;

  const pathInput = h('input', {
    type: 'text',
    value: randomPath(),
    autocomplete: 'off',
    autocapitalize: 'off',
    spellcheck: false,
    required: true,
  });
  const nInput = h('input', { type: 'number', min: 1, value: 1, inputmode: 'numeric', required: true });
  const pathHint = h('p', { class: 'hint' });
  const sendButton = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const cancelButton = h('button', { type: 'button', hidden: true }, 'Cancel');
  const inputs = h(
    'fieldset',
    { class: 'plain' },
    kindField,
    filesZone,
    folderZone,
    chosen,
    textField,
    h('div', { class: 'row' }, field('Path', pathInput, pathHint), field('Receivers', nInput)),
    pathHint,
  );
  const form = h('form', { novalidate: true }, inputs, h('div', { class: 'actions' }, sendButton, cancelButton));

  const address = () => parsePipeInput(pathInput.value, Number(nInput.value), context.origin);
  const updateHint = () => {
    try {
      pathHint.textContent = `Receivers open ${pipeUrl(context.origin, address())}`;
    } catch (err) {
      pathHint.textContent = (err as Error).message;
    }
  };
  pathInput.addEventListener('input', updateHint);
  nInput.addEventListener('input', updateHint);
  updateHint();

  const showSelection = (next: Selection | undefined) => {
    selection = next && next.entries.length > 0 ? next : undefined;
    chosen.replaceChildren();
    if (!selection) return;
    chosen.append(
      describeSelection(selection),
      h(
        'button',
        {
          type: 'button',
          class: 'small',
          onclick: () => {
            filesInput.value = '';
            folderInput.value = '';
            showSelection(undefined);
          },
        },
        'Clear',
      ),
    );
  };
  const setKind = (next: Kind) => {
    kind = next;
    for (const radio of kindRadios) radio.checked = radio.value === next;
    filesZone.hidden = next !== 'files';
    folderZone.hidden = next !== 'folder';
    textField.hidden = next !== 'text';
    chosen.hidden = next === 'text';
    if (next !== 'text' && selection === undefined) showSelection(undefined);
  };
  for (const radio of kindRadios) radio.addEventListener('change', () => setKind(radio.value as Kind));
  filesInput.addEventListener('change', () => showSelection(fromFiles(Array.from(filesInput.files ?? []))));
  folderInput.addEventListener('change', () => showSelection(fromFiles(Array.from(folderInput.files ?? []))));

  // Files and folders dropped anywhere on the card; the page as a whole would otherwise open a dropped file.
  const card = h('section', { class: 'card', 'aria-labelledby': uid('send') });
  card.addEventListener('dragover', (event) => {
    if (controller || !event.dataTransfer?.types.includes('Files')) return;
    event.preventDefault();
    card.classList.add('dragging');
  });
  card.addEventListener('dragleave', () => card.classList.remove('dragging'));
  card.addEventListener('drop', (event) => {
    event.preventDefault();
    card.classList.remove('dragging');
    if (controller || !event.dataTransfer) return;
    const dropped = fromDrop(event.dataTransfer.items);
    setKind('files');
    dropped.then(showSelection, (err: Error) => {
      view.reset();
      view.setStatus('failed', `The dropped items could not be read: ${err.message}`);
    });
  });

  const setBusy = (busy: boolean) => {
    inputs.disabled = busy;
    // The transfer block repeats the link with a copy button; one is enough on a small screen.
    pathHint.hidden = busy;
    sendButton.hidden = busy;
    cancelButton.hidden = !busy;
  };

  const body = (): { blob: Blob; headers: Record<string, string>; name?: string; archive: boolean } | undefined => {
    if (kind === 'text') {
      if (textArea.value === '') return undefined;
      return {
        blob: new Blob([textArea.value]),
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
        archive: false,
      };
    }
    if (!selection) return undefined;
    if (selection.single) {
      const file = selection.single;
      return {
        blob: file,
        headers: {
          'Content-Type': file.type || 'application/octet-stream',
          'Content-Disposition': contentDisposition(file.name),
        },
        name: file.name,
        archive: false,
      };
    }
    return {
      blob: tarBlob(selection.entries),
      headers: { 'Content-Type': 'application/x-tar', 'Content-Disposition': contentDisposition(selection.name) },
      name: selection.name,
      archive: true,
    };
  };

  const send = async () => {
    view.reset();
    let target: ReturnType<typeof address>;
    try {
      target = address();
    } catch (err) {
      if (!(err instanceof PipeInputError)) throw err;
      view.setStatus('failed', err.message);
      pathInput.focus();
      return;
    }
    const payload = body();
    if (!payload) {
      view.setStatus('failed', kind === 'text' ? 'Type some text to send first.' : 'Choose what to send first.');
      (kind === 'text' ? textArea : kind === 'folder' ? folderInput : filesInput).focus();
      return;
    }
    const url = pipeUrl(context.origin, target);
    const receivers = plural(target.n, 'receiver');
    controller = new AbortController();
    setBusy(true);
    view.setExtra(receiverHint(url, payload.name, payload.archive));
    const log = h('pre', { class: 'log' });
    view.extra.append(h('details', {}, h('summary', {}, 'Server log'), log));

    let sent = 0;
    let uploaded = false;
    let logText = '';
    const total = payload.blob.size;
    const meter = view.track(total, (progress) => {
      if (uploaded) {
        const state = readSenderLog(logText);
        if (state.outcome) return;
        if (!state.started) {
          view.setStatus('busy', `Waiting for ${receivers}: ${state.connected} of ${target.n} connected.`);
        } else {
          view.setStatus('busy', `Everything is sent; waiting for the ${receivers} to finish downloading.`);
        }
      } else if (sent === 0 && progress.stalledFor() < STALL_MS) {
        view.setStatus('busy', 'Connecting…');
      } else if (progress.stalledFor() >= STALL_MS) {
        view.setStatus('busy', `Waiting for ${receivers} to connect (or to read): nothing has moved for a moment.`);
      } else {
        view.setStatus('busy', `Sending to ${receivers}…`);
      }
    });
    try {
      const result = await upload(
        url,
        payload.blob,
        payload.headers,
        {
          onProgress(bytes) {
            sent = bytes;
            meter.update(bytes);
            if (bytes >= total) uploaded = true;
          },
          onLog(text) {
            uploaded = true;
            logText = text;
            log.textContent = text;
          },
        },
        controller.signal,
      );
      view.finish();
      const state = readSenderLog(result.log);
      if (result.status !== 200) {
        view.setStatus('failed', `The server refused: ${state.error ?? `status ${result.status}`}`);
      } else if (state.outcome === 'received') {
        view.setStatus(
          'done',
          `Done: ${target.n === 1 ? 'the receiver' : `all ${target.n} receivers`} got everything.`,
        );
      } else if (state.outcome === 'partial') {
        view.setStatus(
          'warn',
          `Finished: ${plural(state.received ?? 0, 'receiver')} got everything; ${state.aborted ?? 0} left before the end.`,
        );
      } else if (state.outcome === 'aborted') {
        view.setStatus('failed', 'Failed: the receivers left before the end.');
      } else {
        view.setStatus('failed', `Failed: ${state.error ?? 'the server ended the transfer without a result'}.`);
      }
    } catch (err) {
      view.finish(false);
      if (err instanceof UploadError && err.kind === 'aborted') {
        view.setStatus('failed', 'Cancelled. Receivers that had started got an incomplete transfer.');
      } else {
        view.setStatus(
          'failed',
          `Failed: ${(err as Error).message}. If the receivers had left, the server closes the upload; otherwise check the connection and send again.`,
        );
      }
    } finally {
      controller = undefined;
      setBusy(false);
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!controller) void send();
  });
  cancelButton.addEventListener('click', () => controller?.abort());

  const titleId = card.getAttribute('aria-labelledby') as string;
  card.append(h('h2', { id: titleId }, 'Send'), form, view.element);
  return { element: card, stop: () => controller?.abort() };
}

function receivePanel(context: AppContext): { element: HTMLElement; stop(): void } {
  let controller: AbortController | undefined;
  const view = new TransferView('Receiving progress');
  const pathInput = h('input', {
    type: 'text',
    autocomplete: 'off',
    autocapitalize: 'off',
    spellcheck: false,
    required: true,
    placeholder: 'a path or a link',
  });
  const nInput = h('input', { type: 'number', min: 1, value: 1, inputmode: 'numeric', required: true });
  const hashBox = h('input', { type: 'checkbox' });
  const receiveButton = h('button', { type: 'submit', class: 'primary' }, 'Receive');
  const cancelButton = h('button', { type: 'button', hidden: true }, 'Cancel');
  const inputs = h(
    'fieldset',
    { class: 'plain' },
    h('div', { class: 'row' }, field('Path', pathInput), field('Receivers', nInput)),
    h('label', { class: 'check' }, hashBox, 'Show the SHA-256 of what arrives (uses more processor time)'),
  );
  const form = h('form', { novalidate: true }, inputs, h('div', { class: 'actions' }, receiveButton, cancelButton));
  const note = h('p', { class: 'hint' });
  context.saver.then((saver) => {
    if (saver.mode === 'link') {
      note.textContent = `Files go straight to your browser’s downloads: this page cannot show their progress, because ${saver.reason}.`;
    }
  });

  const setBusy = (busy: boolean) => {
    inputs.disabled = busy;
    receiveButton.hidden = busy;
    cancelButton.hidden = !busy;
  };

  const start = async () => {
    view.reset();
    let target: ReturnType<typeof parsePipeInput>;
    try {
      target = parsePipeInput(pathInput.value, Number(nInput.value), context.origin);
    } catch (err) {
      if (!(err instanceof PipeInputError)) throw err;
      view.setStatus('failed', err.message);
      pathInput.focus();
      return;
    }
    const url = pipeUrl(context.origin, target);
    const others = target.n > 1 ? ` and the other ${plural(target.n - 1, 'receiver')}` : '';
    const saver = await context.saver;
    if (saver.mode === 'link') {
      saver.open(url, suggestedName(null, target.path));
      view.setStatus(
        'info',
        `Handed to your browser: the download starts when the sender${others} ${target.n > 1 ? 'are' : 'is'} there. Follow it in your browser’s downloads.`,
      );
      return;
    }
    controller = new AbortController();
    setBusy(true);
    view.setStatus('busy', `Waiting for the sender${others}…`);
    let name = '';
    let meter: ReturnType<TransferView['track']> | undefined;
    try {
      const outcome = await receive(
        url,
        target.path,
        saver,
        {
          onStart(info) {
            name = info.name;
            meter = view.track(info.size);
            view.setStatus('busy', `Receiving${info.size === undefined ? '' : ` ${formatBytes(info.size)}`}…`);
          },
          onSaving() {
            view.setStatus('busy', `Receiving ${name}, saving to your downloads…`);
          },
          onProgress(bytes) {
            meter?.update(bytes);
          },
        },
        controller.signal,
        { sha256: hashBox.checked },
      );
      view.finish();
      const sha = outcome.sha256 ? h('p', { class: 'hash' }, 'SHA-256 ', h('code', {}, outcome.sha256)) : '';
      if (outcome.kind === 'text') {
        // Speed and duration mean nothing for a few bytes of text.
        view.hideFigures();
        view.setStatus('done', `Received a text (${formatBytes(outcome.bytes)}).`);
        const text = h('textarea', { class: 'received-text', readonly: true, rows: 6, 'aria-label': 'Received text' });
        text.value = outcome.text;
        view.setExtra(
          text,
          h(
            'div',
            { class: 'actions' },
            copyButton(() => outcome.text, 'Copy text'),
            h(
              'button',
              {
                type: 'button',
                class: 'small',
                onclick: () => saveBlob(new Blob([outcome.text], { type: 'text/plain' }), `${name || 'text'}.txt`),
              },
              'Save as a file',
            ),
          ),
          sha,
        );
      } else {
        view.setStatus('done', `Saved ${outcome.name} to your downloads (${formatBytes(outcome.bytes)}).`);
        view.setExtra(sha);
      }
    } catch (err) {
      view.finish(false);
      const error = err as ReceiveError;
      if (error.kind === 'aborted') view.setStatus('failed', 'Cancelled; the partial download was discarded.');
      else if (error.kind === 'refused') view.setStatus('failed', `The server refused: ${error.message}`);
      else if (error.kind === 'cut')
        view.setStatus('failed', `Failed: ${error.message}. The partial download was discarded.`);
      else view.setStatus('failed', `Failed: ${error.message}.`);
    } finally {
      controller = undefined;
      setBusy(false);
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!controller) void start();
  });
  cancelButton.addEventListener('click', () => controller?.abort());

  const titleId = uid('receive');
  const card = h(
    'section',
    { class: 'card', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, 'Receive'),
    form,
    note,
    view.element,
  );
  return { element: card, stop: () => controller?.abort() };
}

export function mount(root: HTMLElement, context: AppContext): () => void {
  const send = sendPanel(context);
  const receivePart = receivePanel(context);
  root.append(
    h('h1', {}, 'Send to a path, receive from it'),
    h(
      'p',
      { class: 'lead' },
      'Anyone who opens the same path receives what is sent: from this page, another browser or curl. Nothing is stored; the transfer starts when both sides are there.',
    ),
    h('div', { class: 'cards' }, send.element, receivePart.element),
  );
  return () => {
    send.stop();
    receivePart.stop();
  };
}
