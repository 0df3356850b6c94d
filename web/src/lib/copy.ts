// A button that copies a text (a link, a command, a code) to the clipboard and says whether that worked.
import { h } from './dom.ts';

export function copyButton(text: () => string, label = 'Copy'): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'small' }, label);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Copy failed: select and copy by hand';
    }
    setTimeout(() => {
      button.textContent = label;
    }, 2000);
  });
  return button;
}
