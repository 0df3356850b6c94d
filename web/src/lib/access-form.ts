// The footer's access-token form, for servers that ask for one (README "Access control"). It opens by itself when
// the server refuses this browser TURN credentials without a token (`GET /_/ice` answers 401), which a server
// protecting everything does; a page reload after saving reconnects everything with the token.
import { accessToken, authHeaders, setAccessToken } from '../net/access.ts';
import { h, uid } from './dom.ts';

export function accessForm(): HTMLElement {
  const id = uid('token');
  const input = h('input', { id, type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const status = h('p', { class: 'access-status', role: 'status' });
  const details = h(
    'details',
    { class: 'access' },
    h('summary', {}, 'Access token'),
    h(
      'form',
      {
        onsubmit: (event) => {
          event.preventDefault();
          setAccessToken(input.value.trim());
          location.reload();
        },
      },
      h('label', { for: id }, 'Token for this server'),
      input,
      h('button', { type: 'submit' }, 'Save'),
      h(
        'button',
        {
          type: 'button',
          onclick: () => {
            setAccessToken(undefined);
            location.reload();
          },
        },
        'Forget',
      ),
    ),
    status,
  );
  void fetch('/_/ice', { headers: authHeaders(), cache: 'no-store' }).then(
    (res) => {
      if (res.status === 401) {
        details.open = true;
        status.textContent = accessToken()
          ? 'This server does not accept the saved access token.'
          : 'This server needs an access token.';
      } else if (accessToken()) {
        status.textContent = 'An access token is saved in this browser.';
      }
    },
    () => {},
  );
  return details;
}
