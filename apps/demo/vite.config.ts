import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { tsvaeSourceAlias } from './source-alias.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/**
 * Fails the build when tsvae code (our packages, this page) imports a Node built-in: the page must
 * stay browser-safe. Dependencies that map their optional Node paths away with a `browser` field
 * (tfjs) are left to Vite.
 */
const noNodeBuiltins: Plugin = {
  name: 'tsvae-no-node-builtins',
  enforce: 'pre',
  resolveId(id, importer) {
    if (!builtins.has(id) || !importer) return null;
    if (importer.includes('/node_modules/')) return null;
    this.error(
      `${importer} imports the Node built-in "${id}": the page (and @tsvae/web) must stay browser-safe`,
    );
  },
};

export default defineConfig({
  root: here,
  base: './',
  resolve: { alias: tsvaeSourceAlias },
  plugins: [noNodeBuiltins],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
  },
  server: { port: 5178 },
});
