#!/usr/bin/env node
/**
 * tsvae's TensorFlow.js backend (as @tsvae/backend picks it) against PyTorch on the CPU, on the
 * same networks (bench/backend-nets.mjs, tools/torch_bench.py), alternating A B A B after warm-up.
 *
 *   node bench/backend-vs-torch.mjs [--rounds 5] [--s1-steps 12] [--s2-steps 60] [--threads N]
 *                                   [--no-torch] [--profile] [--python /usr/bin/python3]
 *                                   [--tfjs-node path/to/node_modules/@tensorflow/tfjs-node]
 *                                   [--torch-blas openmp|system]
 *
 * Builds @tsvae/backend first when its dist/ is missing. TSVAE_BACKEND picks the tfjs backend;
 * TSVAE_TORCH_THREADS the torch threads (default: all cores). Prints medians and ratios.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import '@tensorflow/tfjs-layers'; // gradient registrations for tfjs-core
import * as tf from '@tensorflow/tfjs-core';
import { BATCH, countParams, LATENT, makeStage1, makeStage2, trainables } from './backend-nets.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    's1-steps': { type: 'string', default: '12' },
    's2-steps': { type: 'string', default: '60' },
    threads: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    python: { type: 'string', default: '/usr/bin/python3' },
    'tfjs-node': { type: 'string' },
    'torch-blas': { type: 'string', default: 'openmp' },
  },
});
const rounds = Number(args.rounds);
const s1Steps = Number(args['s1-steps']);
const s2Steps = Number(args['s2-steps']);
const GEN_N = 10_000;
const GEN_BATCH = 1000;

const dist = path.join(root, 'packages/backend/dist/index.js');
if (!existsSync(dist)) {
  const r = spawnSync('npx', ['tsup'], { cwd: path.join(root, 'packages/backend'), stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building @tsvae/backend failed');
}
const { initBackend, describeBackend, adam } = await import(dist);

// ---------------------------------------------------------------------------------------------
// PyTorch peer: a JSON-lines server
// ---------------------------------------------------------------------------------------------
/**
 * Debian's torch links the generic libblas.so.3 alternative. The OpenMP OpenBLAS build is the honest
 * peer (the pthread build fights torch's OpenMP threads); pick it for this process only, without
 * touching the system's alternatives, unless --torch-blas system.
 */
function torchEnv() {
  const dir = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
  if (args['torch-blas'] !== 'openmp' || !existsSync(path.join(dir, 'libblas.so.3'))) return process.env;
  return { ...process.env, LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}

function startTorch() {
  const child = spawn(args.python, [path.join(root, 'tools/torch_bench.py'), '--serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: torchEnv(),
  });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()?.(JSON.parse(line)));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w({ error: `torch exited with ${code}` });
  });
  return {
    ask(msg) {
      return new Promise((resolve, reject) => {
        waiting.push((r) => (r.error ? reject(new Error(r.error)) : resolve(r)));
        child.stdin.write(`${JSON.stringify(msg)}\n`);
      });
    },
    quit() {
      child.stdin.write('{"cmd":"quit"}\n');
      child.stdin.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tfjs side
// ---------------------------------------------------------------------------------------------
// --tfjs-node: a tfjs-node installed elsewhere (e.g. provisioned by tools/provision-libtensorflow.sh)
const nodeDir = args['tfjs-node'] && path.resolve(args['tfjs-node']);
const info = await initBackend({
  ...(args.threads === undefined ? {} : { threads: Number(args.threads) }),
  ...(nodeDir
    ? {
        loadModule: (s) => import(s === '@tensorflow/tfjs-node' ? path.join(nodeDir, 'dist/index.js') : s),
        resolveModule: (s) => s === '@tensorflow/tfjs-node',
      }
    : {}),
});
const stage1 = makeStage1();
const stage2 = makeStage2();
const opt1 = adam(1e-4);
const opt2 = adam(1e-4);
const x = tf.randomUniform([BATCH, 28, 28, 1]);
const z = tf.randomNormal([BATCH, LATENT]);
const vars1 = trainables(stage1.params);
const vars2 = trainables(stage2.params);
const counters = { stage1: 0, stage2: 0 };
const leak = { stage1: {}, stage2: {} };

function trainTf(stage, steps) {
  const [model, opt, data, vars] = stage === 'stage1' ? [stage1, opt1, x, vars1] : [stage2, opt2, z, vars2];
  const start = performance.now();
  let last = 0;
  for (let i = 0; i < steps; i++) {
    const loss = opt.minimize(() => model.loss(data), true, vars);
    if (i === steps - 1) last = loss.dataSync()[0];
    loss.dispose();
    counters[stage] += 1;
    if (counters[stage] === 10 || counters[stage] === 100)
      leak[stage][counters[stage]] = tf.memory().numTensors;
  }
  if (!Number.isFinite(last)) throw new Error(`${stage}: loss is ${last}`);
  return (performance.now() - start) / 1000;
}

function generateTf(n, batch) {
  const start = performance.now();
  for (let done = 0; done < n; done += batch) {
    const b = Math.min(batch, n - done);
    const images = tf.tidy(() => {
      const zs = tf.add(
        stage2.decode(tf.randomNormal([b, LATENT])),
        tf.mul(tf.exp(stage2.params.logGamma), tf.randomNormal([b, LATENT])),
      );
      return stage1.decode(zs, false);
    });
    images.dataSync();
    images.dispose();
  }
  return (performance.now() - start) / 1000;
}

const peakRssMb = () => process.resourceUsage().maxRSS / 1024;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---------------------------------------------------------------------------------------------
// Optional per-kernel profile of one stage-1 step (wraps every kernel of the active backend)
// ---------------------------------------------------------------------------------------------
function profileStage(stage, steps) {
  const backend = tf.getBackend();
  const times = new Map();
  const originals = tf.getKernelsForBackend(backend).map((k) => ({ ...k }));
  for (const k of originals) {
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      setupFunc: undefined,
      kernelFunc: (a) => {
        const t0 = performance.now();
        const out = k.kernelFunc(a);
        const e = times.get(k.kernelName) ?? { ms: 0, calls: 0 };
        e.ms += performance.now() - t0;
        e.calls += 1;
        times.set(k.kernelName, e);
        return out;
      },
    });
  }
  const start = performance.now();
  trainTf(stage, steps);
  const total = performance.now() - start;
  for (const k of originals) {
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel(k);
  }
  const rows = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15);
  console.log(
    `\nper-kernel profile (nested kernels counted in both), ${stage}, ${steps} steps, ${(total / steps).toFixed(0)} ms/step:`,
  );
  for (const [name, e] of rows) {
    console.log(
      `  ${name.padEnd(24)} ${(e.ms / steps).toFixed(1).padStart(7)} ms/step  ${(e.calls / steps).toFixed(0).padStart(4)} calls/step  ${((100 * e.ms) / total).toFixed(0).padStart(3)}%`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------------------------
console.log(`tfjs backend: ${describeBackend(info)}`);
console.log(
  `machine: ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} cores, Node ${process.version}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}`,
);
console.log('note: timings are wall-clock on a shared machine; other processes add noise.');
const torch = args['no-torch'] ? null : startTorch();
const tinfo = torch ? await torch.ask({ cmd: 'info' }) : null;
if (tinfo) {
  console.log(
    `torch ${tinfo.torch}, ${tinfo.threads} threads, BLAS: ${tinfo.blas.join(', ') || '(none mapped)'}`,
  );
  console.log(
    `params stage 1: tfjs ${countParams(stage1.params)}, torch ${tinfo.params_stage1}; stage 2: tfjs ${countParams(stage2.params)}, torch ${tinfo.params_stage2}`,
  );
} else {
  console.log(`params stage 1: ${countParams(stage1.params)}; stage 2: ${countParams(stage2.params)}`);
}

// warm-up (includes kernel setup, XNNPACK operator creation, wasm heap growth)
trainTf('stage1', 3);
trainTf('stage2', 10);
generateTf(GEN_BATCH, GEN_BATCH);
if (torch) {
  await torch.ask({ cmd: 'stage1', steps: 3 });
  await torch.ask({ cmd: 'stage2', steps: 10 });
  await torch.ask({ cmd: 'generate', n: GEN_BATCH, batch: GEN_BATCH });
}
if (args.profile) {
  profileStage('stage1', 3);
  profileStage('stage2', 10);
}

const r = { tf: { s1: [], s2: [], gen: [] }, torch: { s1: [], s2: [], gen: [] } };
let torchRss = 0;
for (let i = 0; i < rounds; i++) {
  r.tf.s1.push((s1Steps * BATCH) / trainTf('stage1', s1Steps));
  if (torch)
    r.torch.s1.push((s1Steps * BATCH) / (await torch.ask({ cmd: 'stage1', steps: s1Steps })).seconds);
  r.tf.s2.push((s2Steps * BATCH) / trainTf('stage2', s2Steps));
  if (torch)
    r.torch.s2.push((s2Steps * BATCH) / (await torch.ask({ cmd: 'stage2', steps: s2Steps })).seconds);
  r.tf.gen.push(generateTf(GEN_N, GEN_BATCH));
  if (torch) {
    const g = await torch.ask({ cmd: 'generate', n: GEN_N, batch: GEN_BATCH });
    r.torch.gen.push(g.seconds);
    torchRss = g.peak_rss_mb;
  }
  console.log(
    `round ${i + 1}/${rounds}: tfjs ${r.tf.s1.at(-1).toFixed(0)} img/s, ${r.tf.s2.at(-1).toFixed(0)} samples/s, ${r.tf.gen.at(-1).toFixed(2)} s` +
      (torch
        ? ` | torch ${r.torch.s1.at(-1).toFixed(0)} img/s, ${r.torch.s2.at(-1).toFixed(0)} samples/s, ${r.torch.gen.at(-1).toFixed(2)} s`
        : ''),
  );
}
// leak check: live tensors after training step 10 and step 100 of each stage
for (const stage of ['stage1', 'stage2'])
  while (counters[stage] < 100) trainTf(stage, Math.min(10, 100 - counters[stage]));
const tfRss = peakRssMb();
torch?.quit();

const row = (label, a, b, unit, higherIsBetter, digits = 0) => {
  const ratio = b === undefined ? '' : `${(higherIsBetter ? a / b : b / a).toFixed(2)}x`;
  const fmt = (v) => (v === undefined ? '-' : `${v.toFixed(digits)} ${unit}`);
  console.log(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${ratio} |`);
};
console.log(
  `\nmedians of ${rounds} rounds (batch ${BATCH}; stage 1 ${s1Steps} steps, stage 2 ${s2Steps} steps a round)`,
);
console.log(
  `| figure | tsvae (${info.backend}, ${info.threads} thr) | PyTorch CPU (${tinfo?.threads ?? '-'} thr) | tsvae / PyTorch |`,
);
console.log('|---|---|---|---|');
const m = (xs) => (xs.length ? median(xs) : undefined);
row('stage-1 training, images/s', m(r.tf.s1), m(r.torch.s1), 'img/s', true);
row('stage-2 training, samples/s', m(r.tf.s2), m(r.torch.s2), 'samples/s', true);
row('10,000-sample generation', m(r.tf.gen), m(r.torch.gen), 's', false, 2);
row('peak RSS', tfRss, torch ? torchRss : undefined, 'MB', false);
console.log('(ratios: > 1 means tsvae is faster / smaller; memory ratio is PyTorch / tsvae)');
const best = (xs, higher) => (xs.length ? (higher ? Math.max(...xs) : Math.min(...xs)) : undefined);
console.log('\nbest round of each side (closest to an unloaded machine when other processes interfere):');
console.log('|---|---|---|---|');
row('stage-1 training, images/s', best(r.tf.s1, true), best(r.torch.s1, true), 'img/s', true);
row('stage-2 training, samples/s', best(r.tf.s2, true), best(r.torch.s2, true), 'samples/s', true);
row('10,000-sample generation', best(r.tf.gen, false), best(r.torch.gen, false), 's', false, 2);
if (torch) {
  // A and B of one round ran back to back, so per-round ratios resist load changes on a shared machine
  const per = (a, b, inv) => median(a.map((v, i) => (inv ? b[i] / v : v / b[i])));
  console.log(
    `median of per-round ratios: stage 1 ${per(r.tf.s1, r.torch.s1).toFixed(2)}x, stage 2 ${per(r.tf.s2, r.torch.s2).toFixed(2)}x, ` +
      `generation ${per(r.tf.gen, r.torch.gen, true).toFixed(2)}x`,
  );
}
const ok = (s) => leak[s][10] === leak[s][100];
console.log(
  `leak check: live tensors after step 10 / step 100: stage 1 ${leak.stage1[10]} / ${leak.stage1[100]} ${ok('stage1') ? 'OK' : 'LEAK'}; ` +
    `stage 2 ${leak.stage2[10]} / ${leak.stage2[100]} ${ok('stage2') ? 'OK' : 'LEAK'}`,
);
if (!ok('stage1') || !ok('stage2')) process.exitCode = 1;
