// Serves the browser app built into dist/web (web/build.ts): index.html at `/`, everything else under /_/app/.
// Files are read once at start-up, with gzip and brotli copies made then, so a request costs a map lookup. Content-
// hashed assets are cached forever; the page and the service worker are revalidated (ETag) on every load. The page
// carries a strict Content-Security-Policy: its own scripts, styles and connections only.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';
import { answerInKind, end, type Req, type Res, writeHead } from '../relay/http.ts';
import type { Logger } from './log.ts';

export const APP_PREFIX = '/_/app/';
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/**
 * The page's policy. 'self' only: scripts and styles from /_/app/, fetches and XHR to this origin's pipes (and its
 * WebSocket, which 'self' covers), the download frame and the service worker from /_/app/. blob: images for
 * previews; no inline script or style anywhere, no plugins, no <base>, and no framing by other sites.
 */
export const APP_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The service worker's policy: no fetches, no scripts, only its WebAssembly (the hash of what it saves). */
export const SW_CSP = "default-src 'none'; script-src 'wasm-unsafe-eval'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

interface Asset {
  headers: OutgoingHttpHeaders;
  body: Buffer;
  gzip?: Buffer;
  br?: Buffer;
  etag: string;
}

interface Manifest {
  index: string;
  files: { name: string; immutable: boolean }[];
}

function makeAsset(body: Buffer, type: string, headers: OutgoingHttpHeaders): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  const asset: Asset = { body, etag, headers: { 'Content-Type': type, ETag: etag, ...headers } };
  if (/^(text\/|application\/(json|javascript|manifest)|image\/svg)/.test(type) && body.length > 512) {
    // Brotli's top qualities cost seconds on a megabyte-sized source map at every start; 9 is within a few per
    // cent of 11 on these files at a small fraction of the time.
    const gzip = gzipSync(body, { level: 9 });
    const br = brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9 } });
    if (gzip.length < body.length) asset.gzip = gzip;
    if (br.length < body.length) asset.br = br;
  }
  return asset;
}

/** Coding names the client accepts (q > 0); enough of RFC 9110 §12.5.3 for the two codings we offer. */
function accepted(header: string | undefined): Set<string> {
  const codings = new Set<string>();
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (name && !(q && Number(q.slice(2)) === 0)) codings.add(name);
  }
  return codings;
}

const PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry</title></head><body>
<h1>Ferry</h1>
<p>The web app has not been built on this server (run <code>npm run build</code>, or <code>npm install</code>,
then restart). Meanwhile, send with the <a href="/noscript">plain form</a> or use <a href="/help">curl</a>.</p>
</body></html>
`;

export class WebApp {
  private constructor(
    private readonly assets: Map<string, Asset>,
    /** False when the build was missing and `/` is the placeholder page. */
    readonly built: boolean,
  ) {}

  /** Load the build in `root`; a missing or broken build leaves a placeholder at `/` and a warning in the log. */
  static async load(root: string, log: Logger): Promise<WebApp> {
    const common: OutgoingHttpHeaders = { 'X-Content-Type-Options': 'nosniff' };
    const page: OutgoingHttpHeaders = {
      ...common,
      'Cache-Control': REVALIDATE,
      'Content-Security-Policy': APP_CSP,
      'Referrer-Policy': 'no-referrer',
    };
    const assets = new Map<string, Asset>();
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await readFile(join(root, 'manifest.json'), 'utf8')) as Manifest;
      assets.set('/', makeAsset(await readFile(join(root, manifest.index)), TYPES['.html'] as string, page));
      for (const file of manifest.files) {
        if (!/^[\w.-]+$/.test(file.name)) throw new Error(`unexpected file name in the manifest: ${file.name}`);
        const type = TYPES[extname(file.name)] ?? 'application/octet-stream';
        const headers: OutgoingHttpHeaders = {
          ...common,
          'Cache-Control': file.immutable ? IMMUTABLE : REVALIDATE,
          // A worker runs under its script's own policy; ours needs nothing beyond answering the page and compiling
          // its WebAssembly SHA-256.
          ...(file.name === 'sw.js' ? { 'Content-Security-Policy': SW_CSP } : {}),
        };
        assets.set(`${APP_PREFIX}${file.name}`, makeAsset(await readFile(join(root, file.name)), type, headers));
      }
    } catch (err) {
      log.warn({ root, err: (err as Error).message }, 'web app not built: / serves a placeholder page');
      const placeholder = makeAsset(Buffer.from(PLACEHOLDER), TYPES['.html'] as string, {
        ...common,
        'Cache-Control': REVALIDATE,
        'Content-Security-Policy': "default-src 'none'",
      });
      return new WebApp(new Map([['/', placeholder]]), false);
    }
    return new WebApp(assets, true);
  }

  /** Whether a GET or HEAD on this path is the app's to answer. */
  handles(path: string): boolean {
    return path === '/' || this.assets.has(path);
  }

  serve(req: Req, res: Res, path: string): void {
    const asset = this.assets.get(path);
    if (!asset) throw new Error(`no asset at ${path}`);
    // An HTTP/1.0 client gets an HTTP/1.0 status line here as it does from the relay's pages.
    answerInKind(req, res);
    const headers: OutgoingHttpHeaders = { ...asset.headers };
    if (asset.gzip || asset.br) headers.Vary = 'Accept-Encoding';
    const match = req.headers['if-none-match'];
    if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === asset.etag)) {
      delete headers['Content-Type'];
      writeHead(res, 304, headers);
      end(res);
      return;
    }
    const codings = accepted(req.headers['accept-encoding']);
    let body = asset.body;
    if (asset.br && codings.has('br')) {
      body = asset.br;
      headers['Content-Encoding'] = 'br';
    } else if (asset.gzip && codings.has('gzip')) {
      body = asset.gzip;
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = body.length;
    writeHead(res, 200, headers);
    end(res, req.method === 'HEAD' ? undefined : body);
  }
}
