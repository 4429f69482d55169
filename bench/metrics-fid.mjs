#!/usr/bin/env node
/**
 * @tsvae/metrics against the references on this machine:
 *  - FID Inception feature extraction, images/s (a tfjs backend as @tsvae/backend sets it up:
 *    tensorflow after `tsvae setup tensorflow`, wasm or cpu; seeded weights from
 *    tools/fid_oracle.py) vs pytorch-fid 0.3.0 on torch CPU, same input size (32x32 -> 299);
 *  - the FID statistic at 2048-d: float64 statistics + FID (symmetric eigensolver) vs numpy
 *    np.cov + scipy.linalg.sqrtm (pytorch-fid's calculate_frechet_distance).
 *
 *   node bench/metrics-fid.mjs [--images 16] [--n-feat 2500] [--dim 2048] [--backend tensorflow|wasm|cpu|auto]
 *                              [--no-python] [--python /usr/bin/python3]
 *
 * Needs packages/metrics/dist and packages/backend/dist (built when missing) and, for extraction,
 * .cache/metrics/pt_inception-seeded.pth (`/usr/bin/python3 tools/fid_oracle.py weights`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const nImages = Number(opt('images', 16));
const nFeat = Number(opt('n-feat', 2500));
const dim = Number(opt('dim', 2048));
const backend = opt('backend', 'wasm');
const python = opt('python', '/usr/bin/python3');

for (const pkg of ['backend', 'metrics']) {
  if (!existsSync(join(root, `packages/${pkg}/dist/index.js`))) {
    spawnSync('npx', ['tsup'], { cwd: join(root, `packages/${pkg}`), stdio: 'inherit' });
  }
}
const tf = await import('@tensorflow/tfjs-core');
// the backend as tsvae sets it up (threads, oneDNN, kernels): what `tsvae eval` runs on
const { initBackend, describeBackend } = await import(join(root, 'packages/backend/dist/index.js'));
const info = await initBackend(backend === 'auto' ? {} : { backend });
const m = await import(join(root, 'packages/metrics/dist/index.js'));

function lcgFeatures(seed, n, d, scale = 1) {
  const u = new Float64Array(n * d);
  let s = seed >>> 0;
  for (let i = 0; i < n * d; i++) {
    s = (s * 1664525 + 1013904223) % 4294967296;
    u[i] = s / 4294967296;
  }
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const w = u[i * d + ((j + 1) % d)];
      x[i * d + j] = (u[i * d + j] + 0.5 * w * w) * scale;
    }
  return x;
}

const result = { backend: info.backend, describe: describeBackend(info), images: nImages, nFeat, dim };
const pth = join(process.env.TSVAE_CACHE ?? join(root, '.cache'), 'metrics', 'pt_inception-seeded.pth');
if (nImages > 0 && existsSync(pth)) {
  const net = new m.FidInception(
    m.paramsFromStateDict(m.readTorchCheckpoint(new Uint8Array(readFileSync(pth)))),
  );
  const imgs = tf.randomUniform([nImages, 32, 32, 3], 0, 1, 'float32', 0);
  await net.extract(tf.slice(imgs, [0, 0, 0, 0], [2, -1, -1, -1]), { resize: 'pytorch-fid' });
  const t = performance.now();
  await net.extract(imgs, { resize: 'pytorch-fid', batchSize: 8 });
  result.tsvae_extract_images_per_s = nImages / ((performance.now() - t) / 1000);
  net.dispose();
} else if (nImages > 0) {
  result.extract_skipped = `no ${pth}; run /usr/bin/python3 tools/fid_oracle.py weights`;
}
if (dim > 0) {
  const x = lcgFeatures(1, nFeat, dim);
  const y = lcgFeatures(2, nFeat, dim, 1.1);
  let t = performance.now();
  const s1 = m.computeStatistics(x, dim);
  const s2 = m.computeStatistics(y, dim);
  result.tsvae_stats_s = (performance.now() - t) / 1000;
  t = performance.now();
  const fid = m.frechetDistance(s1, s2);
  result.tsvae_fid_s = (performance.now() - t) / 1000;
  result.tsvae_fid = fid.fid;
}
if (!args.includes('--no-python')) {
  const r = spawnSync(
    python,
    [
      'tools/fid_oracle.py',
      'bench',
      '--n-images',
      String(nImages),
      '--dim',
      String(dim),
      '--n-feat',
      String(nFeat),
    ],
    {
      cwd: root,
      encoding: 'utf8',
      // torch on as many threads as the tfjs backend (its default can be 1)
      env: {
        ...process.env,
        TSVAE_TORCH_THREADS: process.env.TSVAE_TORCH_THREADS ?? String(info.threads),
      },
    },
  );
  if (r.status === 0) {
    const ref = JSON.parse(r.stdout.trim().split('\n').at(-1));
    for (const [k, v] of Object.entries(ref)) result[`ref_${k}`] = v;
  } else {
    result.reference_error = r.stderr.slice(-500);
  }
}
console.log(JSON.stringify(result, null, 1));
