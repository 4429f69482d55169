#!/usr/bin/env node
// The demo's built-in example export: trains `smallRunConfig` from @tsvae/stages/testing (the
// production infogan + mlp networks at test size on 8x8 tiny-manifold images; seconds on the CPU)
// and exports it with `tsvae export`'s exportRun into public/example/. Cached: it is made again only
// when the config, the export format or a tsvae version changes, or the cached export does not load.
// Needs the packages built (`npm run demo:build` builds them first). Usage: node prepare-example.mjs [--force]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const demo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(demo, '.example');
const runDir = join(work, 'tiny-manifold-example');
const keyFile = join(work, 'key.json');
const out = join(demo, 'public', 'example');
const force = process.argv.includes('--force');

const { selectBackend, describeBackend } = await import('@tsvae/backend');
const { registerTinyPlugins, smallRunConfig } = await import('@tsvae/stages/testing');
const { trainTwoStage, STAGES_VERSION } = await import('@tsvae/stages');
const { exportRun } = await import('@tsvae/cli');
const { EXPORT_VERSION, WEB_VERSION, loadExport, memoryReader } = await import('@tsvae/web');
const tf = await import('@tensorflow/tfjs-core');

// The demo's run: the test-size config, trained a little longer so the samples look like the data.
const config = smallRunConfig({
  stage1: { epochs: 6, lrEpochs: 6 },
  stage2: { epochs: 6, lrEpochs: 6 },
  samples: { count: 16, seed: 0 },
});
const key = createHash('sha256')
  .update(JSON.stringify({ config, EXPORT_VERSION, WEB_VERSION, STAGES_VERSION, tfjs: tf.version_core }))
  .digest('hex');

async function cachedExportLoads() {
  if (!existsSync(join(out, 'manifest.json')) || !existsSync(keyFile)) return false;
  try {
    if (JSON.parse(readFileSync(keyFile, 'utf8')).key !== key) return false;
    const files = new Map(readdirSync(out).map((f) => [f, new Uint8Array(readFileSync(join(out, f)))]));
    const loaded = await loadExport(memoryReader(files));
    loaded.dispose();
    return true;
  } catch (e) {
    console.warn(
      `the cached example export does not load (${e instanceof Error ? e.message : e}); making it again`,
    );
    return false;
  }
}

// References on the stock single-threaded wasm backend (no tsvae training kernels): what a page's
// wasm backend runs. Training needs the training kernels; the backend is switched after it.
const stock = { backend: 'wasm', threads: 1, trainingKernels: false };
await selectBackend(stock);
if (!force && (await cachedExportLoads())) {
  console.log(`example export: cached in ${out}`);
  process.exit(0);
}
const started = performance.now();
registerTinyPlugins();
rmSync(runDir, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const training = await selectBackend({ backend: 'wasm' });
console.log(`example export: training a tiny two-stage VAE (${describeBackend(training)})…`);
const trained = await trainTwoStage({ runDir, config });
if (trained.status !== 'completed') throw new Error(`the example training ended ${trained.status}`);
console.log(`example export: references on ${describeBackend(await selectBackend(stock))}`);
const result = await exportRun({ run: runDir, out, force: true, seed: 0, count: 16 });
writeFileSync(keyFile, `${JSON.stringify({ key, createdAt: new Date().toISOString() })}\n`);
console.log(
  `example export: ${result.manifest.modes.join(' and ')} sampling written to ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
