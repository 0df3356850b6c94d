// The rooms screen's file card: send a file to the chosen member, and answer the offers members make. Each
// transfer gets a block with its progress (current, average and highest rate), a Cancel that tells the other side,
// and on arrival the SHA-256 both sides agreed on. Accepted files are saved as streamed downloads.
import type { Offer } from '../../../src/protocol/transfer.ts';
import { type Decision, TransferError, type TransferResult } from '../../../src/protocol/transfer-session.ts';
import { h, uid } from '../lib/dom.ts';
import { formatBytes } from '../lib/format.ts';
import { TransferView } from '../lib/transfer-view.ts';
import { downloadSink, receiveFiles, sendFile } from '../net/room-files.ts';
import type { RoomPeer } from '../net/room-peer.ts';
import type { AppContext } from '../screens.ts';

export interface FilesCard {
  element: HTMLElement;
  /** Whether a member is there to send to. */
  setEnabled(enabled: boolean): void;
  /** A member opened a file channel: show its offer. */
  incoming(from: string, channel: RTCDataChannel): void;
  /** Cancel every running transfer (leaving the room, another screen). */
  close(): void;
}

function failureText(err: unknown): string {
  if (err instanceof TransferError) return err.message;
  return `the transfer failed: ${(err as Error).message}`;
}

export function createFilesCard(context: AppContext, target: () => RoomPeer | undefined): FilesCard {
  const fileInput = h('input', { type: 'file', id: uid('file'), disabled: true });
  const sendButton = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Send file');
  const problem = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { class: 'transfers' });
  const running = new Set<AbortController>();
  const form = h(
    'form',
    { class: 'plain' },
    h('div', { class: 'field' }, h('label', { for: fileInput.id }, 'File'), fileInput),
    h('div', { class: 'actions' }, sendButton),
  );
  const element = h(
    'section',
    { class: 'card', 'aria-labelledby': 'files-h' },
    h('h2', { id: 'files-h' }, 'Files'),
    h(
      'p',
      { class: 'hint' },
      'Sends a file straight to the chosen member, who accepts or declines it; both sides check its SHA-256.',
    ),
    form,
    problem,
    list,
  );

  /** One transfer's block: a title, the progress view, and buttons that change as it goes. */
  function block(title: string, direction: 'send' | 'receive') {
    const view = new TransferView(direction === 'send' ? 'Sending progress' : 'Receiving progress', { peak: true });
    const buttons = h('div', { class: 'actions' });
    const item = h('article', { class: 'file-transfer', 'data-direction': direction }, h('h3', {}, title));
    item.append(view.element, buttons);
    view.reset();
    list.prepend(item);
    const controller = new AbortController();
    running.add(controller);
    const cancel = h(
      'button',
      {
        type: 'button',
        onclick: () =>
          controller.abort(new Error(direction === 'send' ? 'the sender cancelled' : 'the receiver cancelled')),
      },
      'Cancel',
    );
    return { view, buttons, controller, cancel };
  }

  function finished(view: TransferView, result: TransferResult, verb: string): void {
    view.finish();
    const file = result.files[0];
    view.setStatus('done', `${verb} ${file?.path ?? ''} — SHA-256 verified by both sides.`);
    if (file) view.setExtra(h('p', { class: 'hash' }, 'SHA-256 ', h('code', {}, file.sha256)));
  }

  function failed(view: TransferView, err: unknown, controller: AbortController): void {
    view.finish();
    const mine = controller.signal.aborted;
    view.setStatus('failed', mine ? 'You cancelled the transfer.' : `${failureText(err)}.`);
  }

  async function send(peer: RoomPeer, file: File): Promise<void> {
    const { view, buttons, controller, cancel } = block(`To ${peer.remoteId}: ${file.name}`, 'send');
    buttons.replaceChildren(cancel);
    view.setStatus('busy', `Waiting for ${peer.remoteId} to accept ${file.name} (${formatBytes(file.size)})…`);
    let meter: ReturnType<TransferView['track']> | undefined;
    try {
      const result = await sendFile(peer.pc, file, {
        signal: controller.signal,
        onAccepted: () => {
          meter = view.track(file.size);
          view.setStatus('busy', `Sending ${file.name} to ${peer.remoteId}…`);
        },
        onProgress: ({ bytes }) => meter?.update(bytes),
      });
      finished(view, result, 'Sent');
    } catch (err) {
      failed(view, err, controller);
    } finally {
      running.delete(controller);
      buttons.replaceChildren();
    }
  }

  async function receive(from: string, channel: RTCDataChannel): Promise<void> {
    const { view, buttons, controller, cancel } = block(`From ${from}`, 'receive');
    let meter: ReturnType<TransferView['track']> | undefined;
    const decide = (offer: Offer) =>
      new Promise<Decision>((resolve) => {
        const size = offer.totalSize === null ? 'size unknown' : formatBytes(offer.totalSize);
        view.setStatus('info', `${from} offers ${offer.name} (${size}).`);
        const answer = async (accept: boolean) => {
          buttons.replaceChildren(cancel);
          if (!accept) return resolve({ accept: false, reason: 'no, thanks' });
          const saver = await context.saver;
          if (saver.mode === 'link') {
            view.setStatus('failed', `Cannot save it here: ${saver.reason}.`);
            return resolve({ accept: false, reason: `the receiver's browser cannot save it (${saver.reason})` });
          }
          meter = view.track(offer.totalSize ?? undefined);
          view.setStatus('busy', `Receiving ${offer.name} from ${from}…`);
          resolve({ accept: true, sink: downloadSink(saver) });
        };
        buttons.replaceChildren(
          h('button', { type: 'button', class: 'primary', onclick: () => void answer(true) }, 'Accept'),
          h('button', { type: 'button', onclick: () => void answer(false) }, 'Decline'),
        );
      });
    try {
      const result = await receiveFiles(channel, {
        decide,
        signal: controller.signal,
        onProgress: ({ bytes }) => meter?.update(bytes),
      });
      finished(view, result, 'Received');
    } catch (err) {
      if (err instanceof TransferError && err.code === 'DECLINED' && !err.byPeer) {
        view.finish(false);
        view.setStatus('info', 'You declined the file.');
      } else failed(view, err, controller);
    } finally {
      running.delete(controller);
      buttons.replaceChildren();
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const peer = target();
    const file = fileInput.files?.[0];
    if (!peer || !file) {
      problem.textContent = 'Pick a connected member and a file.';
      problem.dataset.tone = 'failed';
      return;
    }
    problem.textContent = '';
    fileInput.value = '';
    void send(peer, file);
  });

  return {
    element,
    setEnabled(enabled) {
      fileInput.disabled = !enabled;
      sendButton.disabled = !enabled;
    },
    incoming: (from, channel) => void receive(from, channel),
    close() {
      for (const controller of running) controller.abort(new Error('the other side left'));
    },
  };
}
