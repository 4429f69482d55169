#!/usr/bin/env node
// Stage-1 and stage-2 training speed of the real networks through @tsvae/stages (what the quick
// preset costs). Needs `npm run build`.
//
//   node bench/stages-step.mjs [steps=20] [encoder-config-json]
//   node bench/stages-step.mjs 20 '{"spectralNorm":false}'
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, initBackend } from '@tsvae/backend';
import { createRng } from '@tsvae/core';
import '@tsvae/layers';
import { create } from '@tsvae/core';
import { encodeDataset, trainStage1, trainStage2 } from '@tsvae/stages';

const steps = Number(process.argv[2] ?? 20);
const netConfig = JSON.parse(process.argv[3] ?? '{}');
const width = Number(process.env.WIDTH ?? 256);
const info = await initBackend();
console.log(`backend: ${describeBackend(info)}`);
const batch = 64;
const n = batch * steps;
const data = new Uint8Array(n * 784);
const rng = createRng(1);
for (let i = 0; i < data.length; i++) data[i] = rng.nextInt(256);
const split = { size: n, shape: [28, 28, 1], data };
const vae = await create(
  'stage1',
  'vae',
  {
    encoder: { name: 'infogan', config: netConfig },
    decoder: { name: 'infogan', config: netConfig },
    latentDim: 64,
    imageShape: [28, 28, 1],
  },
  { context: { seed: 1 } },
);
// warm-up epoch of 2 steps
const warm = await trainStage1(
  vae,
  { ...split, size: batch * 2 },
  { epochs: 1, batchSize: batch, lr: 1e-3, seed: 1, diagnostics: { samples: 64 } },
);
let t = performance.now();
const r1 = await trainStage1(vae, split, {
  epochs: 1,
  batchSize: batch,
  lr: 1e-3,
  seed: 2,
  optimizer: warm.optimizer,
  diagnostics: { samples: 64 },
});
const s1 = (performance.now() - t) / 1000;
console.log(
  `stage 1 (infogan ${JSON.stringify(netConfig)}): ${(steps / s1).toFixed(2)} steps/s (${s1.toFixed(1)} s for ${steps} steps incl. diagnostics on 64)`,
);
t = performance.now();
const codes = encodeDataset(vae, split, { batchSize: 256 });
console.log(`encode: ${(n / ((performance.now() - t) / 1000)).toFixed(0)} images/s`);
const second = await create('second-stage', 'mlp', { latentDim: 64, width }, { context: { seed: 4 } });
t = performance.now();
const r2 = await trainStage2(second, codes, { epochs: 1, batchSize: batch, lr: 1e-3, seed: 3 });
const s2 = (performance.now() - t) / 1000;
console.log(`stage 2 (mlp width ${width}): ${(steps / s2).toFixed(2)} steps/s`);
r1.optimizer.dispose();
r2.optimizer.dispose();
vae.dispose();
second.dispose();
console.log(`tensors left: ${tf.memory().numTensors}`);
