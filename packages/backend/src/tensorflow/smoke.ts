/**
 * The check of a fresh tfjs-node build, run in a child process (a library that fails to load, or
 * an addon built for the wrong CPU, kills that process, not the caller): load it, run a small conv
 * VAE stage-1 step (encoder convolutions, dense layers, reparameterisation, transposed-convolution
 * decoder, Gaussian likelihood with a learned gamma, KL) on the cpu backend and on the tensorflow
 * backend from the same initial values and compare the loss and every gradient, then train 20 Adam
 * steps on tensorflow and require the loss to fall.
 */
import { spawn } from 'node:child_process';
import type { TensorflowSmokeResult } from './managed';

/** Largest allowed |tensorflow - cpu| / max |cpu| for the loss and each gradient in the check. */
export const SMOKE_TOLERANCE = 1e-4;

/** The check, as a CommonJS script for `node -e`; argv[1] is the tfjs-node package directory. */
const SCRIPT = String.raw`
const dir = process.argv[1];
const tolerance = Number(process.argv[2]);
const tf = require(dir);
tf.env().set('PROD', true);
const lcg = (seed, n, scale) => {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = (s / 4294967296 - 0.5) * 2 * scale; }
  return out;
};
const shapes = {
  c1: [4, 4, 1, 4], b1: [4], c2: [4, 4, 4, 8], b2: [8], d1: [32, 16], e1: [16], d2: [16, 6], e2: [6],
  f1: [3, 32], g1: [32], t1: [4, 4, 4, 8], u1: [4], t2: [4, 4, 1, 4], u2: [1], logGamma: [],
};
const size = (s) => s.reduce((a, b) => a * b, 1);
function model(v, x, eps) {
  let h = tf.relu(tf.add(tf.conv2d(x, v.c1, 2, 'same'), v.b1));
  h = tf.leakyRelu(tf.add(tf.conv2d(h, v.c2, 2, 'same'), v.b2), 0.2);
  h = tf.relu(tf.add(tf.matMul(tf.reshape(h, [4, 32]), v.d1), v.e1));
  const stats = tf.add(tf.matMul(h, v.d2), v.e2);
  const mu = tf.slice(stats, [0, 0], [4, 3]);
  const logVar = tf.slice(stats, [0, 3], [4, 3]);
  const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logVar, 0.5)), eps));
  let g = tf.relu(tf.add(tf.matMul(z, v.f1), v.g1));
  g = tf.reshape(g, [4, 2, 2, 8]);
  g = tf.relu(tf.add(tf.conv2dTranspose(g, v.t1, [4, 4, 4, 4], 2, 'same'), v.u1));
  const xHat = tf.sigmoid(tf.add(tf.conv2dTranspose(g, v.t2, [4, 8, 8, 1], 2, 'same'), v.u2));
  const gamma2 = tf.exp(tf.mul(v.logGamma, 2));
  const recon = tf.add(tf.div(tf.sum(tf.square(tf.sub(x, xHat))), tf.mul(gamma2, 2)), tf.mul(v.logGamma, 64 * 4));
  const kl = tf.mul(tf.sum(tf.sub(tf.add(tf.square(mu), tf.exp(logVar)), tf.add(logVar, 1))), 0.5);
  return tf.div(tf.add(recon, kl), 4);
}
async function run(backend) {
  await tf.setBackend(backend);
  const v = {};
  let seed = 11;
  for (const [name, s] of Object.entries(shapes))
    v[name] = tf.variable(tf.tensor(name === 'logGamma' ? Float32Array.of(-0.5) : lcg(seed++, size(s), 0.5), s));
  const x = tf.tensor(lcg(3, 4 * 64, 0.5).map((u) => u + 0.5), [4, 8, 8, 1]);
  const eps = tf.tensor(lcg(5, 12, 1), [4, 3]);
  const { value, grads } = tf.variableGrads(() => model(v, x, eps));
  // grads are keyed by variable name, which differs between the two runs: key them by role
  const out = { loss: value.dataSync()[0], grads: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, grads[x.name].dataSync()])) };
  tf.dispose([value, ...Object.values(grads)]);
  let training = null;
  if (backend === 'tensorflow') {
    const opt = tf.train.adam(0.01);
    const before = out.loss;
    for (let i = 0; i < 20; i++) tf.dispose(opt.minimize(() => model(v, x, eps), true));
    const after = tf.tidy(() => model(v, x, eps).dataSync()[0]);
    training = [before, after];
    opt.dispose();
  }
  tf.dispose([x, eps, ...Object.values(v)]);
  return { ...out, training };
}
(async () => {
  const cpu = await run('cpu');
  const native = await run('tensorflow');
  if (tf.getBackend() !== 'tensorflow') throw new Error('the tensorflow backend did not initialise');
  const rel = (a, b) => {
    let scale = 0, worst = 0;
    for (let i = 0; i < b.length; i++) { scale = Math.max(scale, Math.abs(b[i])); worst = Math.max(worst, Math.abs(a[i] - b[i])); }
    return worst / Math.max(scale, 1e-30);
  };
  let max = rel([native.loss], [cpu.loss]);
  for (const k of Object.keys(cpu.grads)) max = Math.max(max, rel(native.grads[k], cpu.grads[k]));
  const result = {
    library: tf.backend().binding.TF_Version,
    onednn: process.env.TF_ENABLE_ONEDNN_OPTS === '1',
    loss: { cpu: cpu.loss, tensorflow: native.loss },
    maxRelativeDifference: max,
    tolerance,
    training: native.training,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  if (!(max <= tolerance)) { console.error('tensorflow differs from cpu by ' + max + ' (relative), more than ' + tolerance); process.exit(3); }
  if (!(native.training[1] < native.training[0])) { console.error('20 Adam steps did not lower the loss: ' + native.training.join(' -> ')); process.exit(4); }
})().catch((e) => { console.error(e && e.stack || String(e)); process.exit(2); });
`;

/** The check failed: the library did not load, or computed something else than the cpu backend. */
export class SmokeCheckError extends Error {
  override readonly name = 'SmokeCheckError';
}

/**
 * Runs the check against the tfjs-node package at `packageDir` in a child `node` process with
 * `env` (TF_ENABLE_ONEDNN_OPTS decides oneDNN there as it would in the caller).
 *
 * @throws SmokeCheckError with the child's last output lines when it fails.
 */
export function runSmokeCheck(
  packageDir: string,
  env: NodeJS.ProcessEnv,
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<TensorflowSmokeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SCRIPT, packageDir, String(SMOKE_TOLERANCE)], {
      cwd: packageDir,
      env: { TF_CPP_MIN_LOG_LEVEL: '2', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 300_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-8000);
    });
    child.on('error', (e) => reject(new SmokeCheckError(`could not run the check: ${e.message}`)));
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      let parsed: TensorflowSmokeResult | undefined;
      try {
        parsed = line ? (JSON.parse(line) as TensorflowSmokeResult) : undefined;
      } catch {
        parsed = undefined;
      }
      if (code === 0 && parsed) {
        resolve(parsed);
        return;
      }
      const tail = err.trim().split('\n').slice(-12).join('\n');
      const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
      const hint =
        signal === 'SIGILL'
          ? ' (an illegal instruction: this TensorFlow build needs CPU features this machine lacks; try an older --tensorflow-version)'
          : '';
      reject(new SmokeCheckError(`the tfjs-node check ${how}${hint}${tail ? `:\n${tail}` : ''}`));
    });
  });
}
