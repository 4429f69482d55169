#!/usr/bin/env node
// Serves the built demo (apps/demo/dist) and, under /exports/, the export folders that
// `tsvae export` writes (./exports by default), with /exports/index.json listing them.
// Usage: node serve.mjs [--port 5178] [--host 127.0.0.1] [--exports <dir>] [--dist <dir>]
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const demo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

/** `file` inside `root`, or null when the request walks out of it. */
function inside(root, path) {
  const file = resolve(root, `.${path}`);
  return file === root || file.startsWith(root + sep) ? file : null;
}

/** The export folders (holding a manifest.json) under `dir`, for the page's list. */
export function listExports(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const manifest = join(dir, name, 'manifest.json');
    if (!existsSync(manifest)) continue;
    try {
      const m = JSON.parse(readFileSync(manifest, 'utf8'));
      out.push({
        id: name,
        url: `exports/${encodeURIComponent(name)}/`,
        dataset: m.dataset?.plugin,
        createdAt: m.createdAt,
      });
    } catch {
      // not readable: left out of the list
    }
  }
  return out;
}

/**
 * Starts the server; resolves to `{ url, close() }`. `port` 0 picks a free one.
 * @param {{ port?: number, host?: string, dist?: string, exportsDir?: string }} options
 */
export function startServer(options = {}) {
  const dist = resolve(options.dist ?? join(demo, 'dist'));
  const exportsDir = resolve(options.exportsDir ?? join(process.cwd(), 'exports'));
  const host = options.host ?? '127.0.0.1';
  if (!existsSync(join(dist, 'index.html'))) {
    throw new Error(`${dist} holds no built demo (index.html); build it first: npm run demo:build`);
  }
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    let file = null;
    if (path === '/exports/index.json') {
      res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-cache' });
      res.end(JSON.stringify(listExports(exportsDir)));
      return;
    }
    if (path.startsWith('/exports/')) file = inside(exportsDir, path.slice('/exports'.length));
    else file = inside(dist, path === '/' ? '/index.html' : path);
    if (file && existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
    });
    res.end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 5178, host, () => {
      const { port } = server.address();
      ok({
        url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}/`,
        exportsDir,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const { url, exportsDir } = await startServer({
    port: Number(arg('--port') ?? process.env.PORT ?? 5178),
    host: arg('--host') ?? '127.0.0.1',
    ...(arg('--dist') ? { dist: arg('--dist') } : {}),
    ...(arg('--exports') ? { exportsDir: arg('--exports') } : {}),
  });
  const exports = listExports(exportsDir);
  console.log(`tsvae demo: ${url}`);
  console.log(
    `  the built-in example, and ${exports.length} export${exports.length === 1 ? '' : 's'} from ${exportsDir}${exports.length ? ` (${exports.map((e) => e.id).join(', ')})` : ' (make one: npx tsvae export runs/<run>)'}`,
  );
  console.log('  Ctrl-C stops it');
}
