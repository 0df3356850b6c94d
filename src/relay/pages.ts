// The relay's own pages: a script-free send form at `/noscript`, a curl cheat sheet at `/help`, the version, and the
// robots/favicon answers browsers and crawlers ask for. `/` is reserved here too, but the server answers it with the
// web app (src/server/web.ts).
import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { VERSION } from '../version.ts';
import { end, type Req, type Res, writeHead } from './http.ts';

interface Page {
  status: number;
  headers: OutgoingHttpHeaders;
  body?: string;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function html(body: string, headers: OutgoingHttpHeaders = {}): Page {
  return { status: 200, headers: { 'Content-Type': 'text/html', ...headers }, body };
}

function text(body: string): Page {
  return { status: 200, headers: { 'Content-Type': 'text/plain', 'Access-Control-Allow-Origin': '*' }, body };
}

/** Only to build a URL the way a browser reads the form's action; never contacted. */
const FORM_BASE = new URL('http://ferry.invalid/noscript');

/**
 * Where the send form posts for a `path` from the query: always a path on this server, never another origin. Leading
 * slashes, backslashes, spaces and control characters are dropped first (a browser reads `//host`, `/\host` and
 * `/<TAB>/host` as another host), then the URL parser gives the canonical, percent-encoded path and query.
 * '' when there is no path to send to.
 */
function formTarget(path: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: dropping control characters is the point
  const url = new URL(`/${path.replace(/^[\u0000-\u0020/\\]+/, '')}`, FORM_BASE);
  if (url.origin !== FORM_BASE.origin || url.pathname === '/') return '';
  return `${url.pathname}${url.search}`;
}

function noscript(url: URL): Page {
  const nonce = randomBytes(16).toString('base64');
  const raw = url.searchParams.get('path') ?? '';
  const path = escapeHtml(raw);
  const action = escapeHtml(formTarget(raw));
  const mode = url.searchParams.get('mode') === 'text' ? 'text' : 'file';
  const disabled = action === '' ? ' disabled' : '';
  const field =
    mode === 'text'
      ? `<textarea name="input_text" rows="8" cols="60"${disabled}></textarea>`
      : `<input type="file" name="input_file"${disabled}>`;
  const other = mode === 'text' ? 'file' : 'text';
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry (no script)</title><style nonce="${nonce}">body{font-family:sans-serif;margin:2rem}</style></head>
<body><h1>Ferry: send without JavaScript</h1>
<form method="GET" action="">
<label>Path <input type="text" name="path" value="${path}" placeholder="mypath123"></label>
<input type="hidden" name="mode" value="${mode}"><button type="submit">Set path</button>
</form>
<form method="POST" action="${action}" enctype="multipart/form-data">
${field}
<button type="submit"${disabled}>Send</button>
</form>
<p><a href="?path=${escapeHtml(encodeURIComponent(raw))}&amp;mode=${other}">Send ${other} instead</a></p>
</body></html>
`;
  // form-action: even a page altered on the way cannot post elsewhere; frame-ancestors: no site can frame the form
  // to make a visitor send; base-uri: no injected <base> could move the relative links.
  return html(body, {
    'Content-Security-Policy': `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  });
}

function help(req: Req): Page {
  const forwarded = String(req.headers['x-forwarded-proto'] ?? '');
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const scheme = encrypted || forwarded.includes('https') ? 'https' : 'http';
  const host = req.headers.host ?? req.headers[':authority'] ?? 'hostname';
  const base = `${scheme}://${host}`;
  return text(`Ferry ${VERSION}: pipe data between any two devices over HTTP.

Send and receive (either side may start first):
  curl -T myfile ${base}/mypath          # send a file
  curl ${base}/mypath > myfile           # receive it

Text and streams:
  echo 'hello, world' | curl -T - ${base}/mypath
  seq 1000 | curl -T - ${base}/mypath
  curl ${base}/mypath

Several receivers (all sides use the same n):
  curl -T myfile '${base}/mypath?n=3'
  curl '${base}/mypath?n=3' > myfile     # three times

Compress or encrypt on the way:
  tar c ./mydir | gzip | curl -T - ${base}/mypath
  curl ${base}/mypath | gunzip | tar xv
  openssl aes-256-cbc -pbkdf2 < myfile | curl -T - ${base}/mypath
  curl ${base}/mypath | openssl aes-256-cbc -d -pbkdf2 > myfile

Version: ${base}/version
`);
}

/** Serve a reserved page for GET or HEAD. Returns false if the path is not one. */
export function servePage(req: Req, res: Res, path: string, url: URL): boolean {
  let page: Page;
  switch (path) {
    case '/noscript':
      page = noscript(url);
      break;
    case '/version':
      page = text(`${VERSION}\n`);
      break;
    case '/help':
      page = help(req);
      break;
    case '/favicon.ico':
      page = { status: 204, headers: {} };
      break;
    case '/robots.txt':
      page = { status: 404, headers: {}, body: '' };
      break;
    default:
      return false;
  }
  const body = page.body === undefined ? undefined : Buffer.from(page.body);
  writeHead(res, page.status, body ? { ...page.headers, 'Content-Length': body.length } : page.headers);
  end(res, req.method === 'HEAD' ? undefined : body);
  return true;
}
