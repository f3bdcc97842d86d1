// The built web console (console/dist), read into memory once (when the admin server builds its
// application, on its first request: admin-server.ts) and served with its caching rules: file
// names under /assets carry a content hash, so they are cached for a year; index.html is
// revalidated on every load (ETag), so a new build shows at once. Every other
// GET outside /api answers index.html, so the console's own routes survive a reload. Brotli
// runs at quality 5, on the main thread: for this console 11 ms against 280 ms at the highest
// level, for a 7 % larger download (75 against 80 KB); compressing on the thread pool instead
// would free the start but leave each pool thread's allocator arena resident (+9 MB idle).

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';
import type { Context } from 'hono';

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  br: Uint8Array<ArrayBuffer> | undefined;
  gzip: Uint8Array<ArrayBuffer> | undefined;
  type: string;
  etag: string;
  immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt']);

/** Scripts, styles and data only from our own origin; no framing, no inline script. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export class ConsoleAssets {
  readonly #files: Map<string, Asset>;

  private constructor(files: Map<string, Asset>) {
    this.#files = files;
  }

  /** Reads a built console; undefined when `dir` holds no index.html (not built). */
  static async load(dir: string): Promise<ConsoleAssets | undefined> {
    const files = new Map<string, Asset>();
    let names: string[];
    try {
      names = (await readdir(dir, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name));
    } catch {
      return undefined;
    }
    for (const file of names) {
      const path = `/${relative(dir, file).split(sep).join('/')}`;
      const ext = extname(file);
      const body = new Uint8Array(await readFile(file));
      const compress = COMPRESSIBLE.has(ext) && body.length > 512;
      files.set(path, {
        body,
        br: compress
          ? new Uint8Array(brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } }))
          : undefined,
        gzip: compress ? new Uint8Array(gzipSync(body, { level: 9 })) : undefined,
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        immutable: path.startsWith('/assets/'),
      });
    }
    return files.has('/index.html') ? new ConsoleAssets(files) : undefined;
  }

  /** The response for a GET or HEAD outside /api. */
  serve(c: Context): Response {
    const path = c.req.path;
    const asset =
      this.#files.get(path) ?? (path.startsWith('/assets/') ? undefined : this.#files.get('/index.html'));
    if (!asset) return c.text('not found', 404);
    const headers: Record<string, string> = {
      'content-type': asset.type,
      etag: asset.etag,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      vary: 'accept-encoding',
    };
    if (asset.type.startsWith('text/html')) headers['content-security-policy'] = CONSOLE_CSP;
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304, headers);
    const accepted = c.req.header('accept-encoding') ?? '';
    let body = asset.body;
    if (asset.br && /\bbr\b/.test(accepted)) {
      body = asset.br;
      headers['content-encoding'] = 'br';
    } else if (asset.gzip && /\bgzip\b/.test(accepted)) {
      body = asset.gzip;
      headers['content-encoding'] = 'gzip';
    }
    return c.req.method === 'HEAD' ? c.body(null, 200, headers) : c.body(body, 200, headers);
  }
}

/** The page served when the console was not built (e.g. `bin/muon` run before `npm start`). */
export function consoleMissing(c: Context): Response {
  return c.html(
    '<!doctype html><title>Muon</title><p>The web console is not built. Run <code>npm start</code> ' +
      '(or <code>npm run build:console</code>) once in the Muon directory, then reload.</p>',
    503,
  );
}
