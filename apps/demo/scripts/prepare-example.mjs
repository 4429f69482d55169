#!/usr/bin/env node
// The demo's built-in example exports, made with `tsvae export`'s exportRun:
// - public/example/: `smallRunConfig` from @tsvae/stages/testing (the production infogan + mlp
//   networks at test size on 8x8 tiny-manifold images; seconds on the CPU), a two-stage VAE;
// - public/example-gan/: `smallGanRunConfig` from @tsvae/baselines/testing (compare_gan's InfoGAN
//   generator and discriminator at test size, NS-GAN, on the same kind of images; seconds), a GAN.
// Each is cached: made again only when its config, the export format or a tsvae version changes,
// or the cached export does not load. Needs the packages built (`npm run demo:build` builds them
// first). Usage: node prepare-example.mjs [--force]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const demo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(demo, '.example');
const force = process.argv.includes('--force');

const { selectBackend, describeBackend } = await import('@tsvae/backend');
const { registerTinyPlugins, smallRunConfig } = await import('@tsvae/stages/testing');
const { trainTwoStage, STAGES_VERSION } = await import('@tsvae/stages');
const { trainGan, BASELINES_VERSION } = await import('@tsvae/baselines');
const { smallGanRunConfig } = await import('@tsvae/baselines/testing');
const { exportRun } = await import('@tsvae/cli');
const { EXPORT_VERSION, WEB_VERSION, loadExport, memoryReader } = await import('@tsvae/web');
const tf = await import('@tensorflow/tfjs-core');

const examples = [
  {
    name: 'two-stage VAE',
    runDir: join(work, 'tiny-manifold-example'),
    keyFile: join(work, 'key.json'),
    out: join(demo, 'public', 'example'),
    // The test-size config, trained a little longer so the samples look like the data.
    config: smallRunConfig({
      stage1: { epochs: 6, lrEpochs: 6 },
      stage2: { epochs: 6, lrEpochs: 6 },
      samples: { count: 16, seed: 0 },
    }),
    train: (runDir, config) => trainTwoStage({ runDir, config }),
  },
  {
    name: 'GAN',
    runDir: join(work, 'tiny-manifold-gan'),
    keyFile: join(work, 'key-gan.json'),
    out: join(demo, 'public', 'example-gan'),
    // NS-GAN at test size: 128 images, 4 steps an epoch, 16 epochs (uniform codes, compare_gan's prior).
    config: smallGanRunConfig('ns-gan', {
      dataset: { config: { size: 128 } },
      epochs: 16,
      checkpoint: { everyEpochs: 16, keep: 1 },
      samples: { count: 16, seed: 0 },
    }),
    train: (runDir, config) => trainGan({ runDir, config }),
  },
];

const keyOf = (config) =>
  createHash('sha256')
    .update(
      JSON.stringify({
        config,
        EXPORT_VERSION,
        WEB_VERSION,
        STAGES_VERSION,
        BASELINES_VERSION,
        tfjs: tf.version_core,
      }),
    )
    .digest('hex');

async function cachedExportLoads(example, key) {
  const { out, keyFile } = example;
  if (!existsSync(join(out, 'manifest.json')) || !existsSync(keyFile)) return false;
  try {
    if (JSON.parse(readFileSync(keyFile, 'utf8')).key !== key) return false;
    const files = new Map(readdirSync(out).map((f) => [f, new Uint8Array(readFileSync(join(out, f)))]));
    const loaded = await loadExport(memoryReader(files));
    loaded.dispose();
    return true;
  } catch (e) {
    console.warn(
      `the cached ${example.name} example export does not load (${e instanceof Error ? e.message : e}); making it again`,
    );
    return false;
  }
}

// References on the stock single-threaded wasm backend (no tsvae training kernels): what a page's
// wasm backend runs. Training needs the training kernels; the backend is switched after it.
const stock = { backend: 'wasm', threads: 1, trainingKernels: false };
registerTinyPlugins();
for (const example of examples) {
  const key = keyOf(example.config);
  await selectBackend(stock);
  if (!force && (await cachedExportLoads(example, key))) {
    console.log(`example export (${example.name}): cached in ${example.out}`);
    continue;
  }
  const started = performance.now();
  rmSync(example.runDir, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const training = await selectBackend({ backend: 'wasm' });
  console.log(`example export: training a tiny ${example.name} (${describeBackend(training)})…`);
  const trained = await example.train(example.runDir, example.config);
  if (trained.status !== 'completed')
    throw new Error(`the ${example.name} example training ended ${trained.status}`);
  console.log(
    `example export (${example.name}): references on ${describeBackend(await selectBackend(stock))}`,
  );
  const result = await exportRun({ run: example.runDir, out: example.out, force: true, seed: 0, count: 16 });
  writeFileSync(example.keyFile, `${JSON.stringify({ key, createdAt: new Date().toISOString() })}\n`);
  console.log(
    `example export (${example.name}): ${result.manifest.modes.join(' and ')} sampling written to ${example.out} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}
