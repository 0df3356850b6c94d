// Bundles the browser app into dist/web with esbuild: content-hashed scripts, styles and icon, an index.html that
// names them, the service worker under a stable name (browsers update it by URL), and manifest.json, the list the
// server serves from (nothing else in the folder is ever exposed). Run by `npm run build` and `npm install`.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { VERSION } from '../src/version.ts';

const WEB = fileURLToPath(new URL('.', import.meta.url));
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('../dist/web/', import.meta.url));

/** What the server reads: every file it may serve, and whether its name carries its content hash. */
export interface WebManifest {
  version: string;
  index: string;
  files: { name: string; immutable: boolean }[];
}

// Browsers from early 2023 on: every one has ES2022, CSS nesting is not used, streams and BigInt are there.
const TARGET = ['chrome111', 'firefox115', 'safari16.4', 'edge111'];

export async function buildWeb(outDir: string = DEFAULT_OUT_DIR): Promise<WebManifest> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });

  // The hashing worker first: the app is built with its (content-hashed) URL.
  const worker = await esbuild.build({
    entryPoints: { 'sha256-worker': join(WEB, 'src/workers/sha256.ts') },
    outdir: outDir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: TARGET,
    minify: true,
    entryNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const workerName = Object.keys(worker.metafile.outputs).map((path) => relative(outDir, path))[0] as string;

  const app = await esbuild.build({
    entryPoints: [join(WEB, 'src/main.ts')],
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: TARGET,
    minify: true,
    sourcemap: 'linked',
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    loader: { '.svg': 'file' },
    define: {
      FERRY_VERSION: JSON.stringify(VERSION),
      FERRY_SHA256_WORKER: JSON.stringify(`/_/app/${workerName}`),
    },
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  // Classic script, not a module worker: module service workers are recent in Firefox and Safari.
  await esbuild.build({
    entryPoints: [join(WEB, 'sw/sw.ts')],
    outfile: join(outDir, 'sw.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: TARGET,
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });

  const outputs = Object.entries(app.metafile.outputs).map(([path, meta]) => ({ name: relative(outDir, path), meta }));
  const entry = outputs.find((o) => o.meta.entryPoint?.endsWith('src/main.ts'));
  if (!entry) throw new Error('esbuild produced no entry script');
  const css = entry.meta.cssBundle ? relative(outDir, entry.meta.cssBundle) : undefined;

  const icon = await readFile(join(WEB, 'src/icon.svg'));
  const iconName = `icon-${createHash('sha256').update(icon).digest('hex').slice(0, 8)}.svg`;
  await writeFile(join(outDir, iconName), icon);

  const template = await readFile(join(WEB, 'src/index.html'), 'utf8');
  const html = template
    .replaceAll('%VERSION%', VERSION)
    .replaceAll('%ICON%', `/_/app/${iconName}`)
    .replaceAll('%STYLE%', css ? `<link rel="stylesheet" href="/_/app/${css}">` : '')
    .replaceAll('%SCRIPT%', `<script type="module" src="/_/app/${entry.name}"></script>`);
  await writeFile(join(outDir, 'index.html'), html);

  const manifest: WebManifest = {
    version: VERSION,
    index: 'index.html',
    files: [
      ...outputs.map((o) => ({ name: o.name, immutable: true })),
      { name: workerName, immutable: true },
      { name: iconName, immutable: true },
      { name: 'sw.js', immutable: false },
    ],
  };
  await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

// Run as a script (`node --import tsx web/build.ts [outDir]`), not when a test imports buildWeb.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outDir = process.argv[2] ?? DEFAULT_OUT_DIR;
  const manifest = await buildWeb(outDir);
  console.log(`web app built: ${manifest.files.length + 1} files in ${relative(process.cwd(), outDir) || '.'}`);
}
