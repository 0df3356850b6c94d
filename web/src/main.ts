// The app shell: header with the screens' navigation, the current screen, a footer with the no-JavaScript and curl
// alternatives. Starts the download helper (service worker) at once, so it is ready when something arrives.
import './styles.css';
import { accessForm } from './lib/access-form.ts';
import { h, replaceChildren } from './lib/dom.ts';
import { createSaver } from './net/save.ts';
import { type AppContext, SCREENS, screenFor } from './screens.ts';

const root = document.getElementById('app') as HTMLElement;
const context: AppContext = {
  version: FERRY_VERSION,
  origin: location.origin,
  saver: createSaver(),
};

const main = h('main', { id: 'main', tabindex: -1 });
const nav =
  SCREENS.length > 1
    ? h(
        'nav',
        { 'aria-label': 'Screens' },
        h('ul', {}, ...SCREENS.map((s) => h('li', {}, h('a', { href: `#/${s.id}`, 'data-screen': s.id }, s.title)))),
      )
    : undefined;

replaceChildren(
  root,
  // Focus instead of following #main: the hash chooses the screen.
  h(
    'a',
    {
      class: 'skip',
      href: '#main',
      onclick: (event) => {
        event.preventDefault();
        main.focus();
      },
    },
    'Skip to content',
  ),
  h(
    'header',
    { class: 'top' },
    h(
      'a',
      { class: 'brand', href: '/', 'aria-label': 'Ferry, home' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }),
      'Ferry',
    ),
    nav,
  ),
  main,
  h(
    'footer',
    {},
    h('span', {}, `Ferry ${context.version}`),
    h('a', { href: '/noscript' }, 'Send without JavaScript'),
    h('a', { href: '/help' }, 'Use it with curl'),
    accessForm(),
  ),
);

let unmount: (() => void) | undefined;
let shown: string | undefined;

async function show(): Promise<void> {
  const entry = screenFor(location.hash);
  if (entry.id === shown) return;
  shown = entry.id;
  for (const link of root.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (link.dataset.screen === entry.id) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const screen = await entry.load();
  unmount?.();
  main.replaceChildren();
  document.title = `${entry.title} · Ferry`;
  unmount = screen.mount(main, context, location.hash);
}

window.addEventListener('hashchange', () => void show());
void show();
