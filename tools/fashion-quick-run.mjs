#!/usr/bin/env node
// A real run (issue 5, section 5): trains a Two-Stage VAE with the quick preset through the built
// `tsvae` CLI, then reports gamma and active latent dims per epoch and puts the one-stage and
// two-stage sample grids side by side in one PNG.
//
//   npm run build && node tools/fashion-quick-run.mjs                      # Fashion-MNIST, quick preset
//   node tools/fashion-quick-run.mjs --dataset mnist --run-dir runs/mnist-quick
//   node tools/fashion-quick-run.mjs --dataset tiny-manifold --encoder tiny-dense --decoder tiny-dense \
//     --second-stage tiny-mlp --latent-dim 4 --batch-size 32       # seconds, no data needed
//
// Every argument is passed to `tsvae train`; --dataset defaults to fashion-mnist and --run-dir to
// runs/<dataset>-quick-<time>.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { main } from '@tsvae/cli';
import { RunDirectory } from '@tsvae/stages';
import { PNG } from 'pngjs';

const args = process.argv.slice(2);
const get = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!get('--dataset')) args.push('--dataset', 'fashion-mnist');
const dataset = get('--dataset');
if (!get('--run-dir')) {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  args.push('--run-dir', join('runs', `${dataset}-quick-${t}`));
}
const runDir = resolve(get('--run-dir'));

const t0 = Date.now();
const code = await main(['train', '--preset', 'quick', ...args]);
const seconds = (Date.now() - t0) / 1000;
if (code !== 0) {
  console.error(`tsvae train exited with ${code}`);
  process.exit(code);
}

const config = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
const metrics = new RunDirectory(runDir).readMetrics();
const lines = [];
lines.push(`# Quick run: ${dataset}`, '');
lines.push(`command: node tools/fashion-quick-run.mjs ${process.argv.slice(2).join(' ')}`);
lines.push(`run dir: ${runDir}`);
lines.push(
  `backend: ${config.backend?.backend ?? config.tfBackend} (${config.backend?.threads ?? '?'} threads)`,
);
lines.push(`wall time: ${seconds.toFixed(0)} s`, '');
lines.push('| stage | epoch | loss | reconstruction | kl | gamma | active dims | recon MSE | lr | s |');
lines.push('|---|---|---|---|---|---|---|---|---|---|');
const f = (v, d = 4) => (v === null || v === undefined ? '-' : Number(v).toPrecision(d));
for (const m of metrics) {
  lines.push(
    `| ${m.stage} | ${m.epoch} | ${f(m.loss, 6)} | ${f(m.reconstruction, 6)} | ${f(m.kl)} | ${f(m.gamma)} | ${m.activeDims ?? '-'} | ${f(m.reconMse)} | ${f(m.lr, 2)} | ${f(m.seconds, 3)} |`,
  );
}

// one-stage | two-stage, side by side with a 4-pixel gutter
const one = PNG.sync.read(readFileSync(join(runDir, 'samples', 'one-stage.png')));
const two = PNG.sync.read(readFileSync(join(runDir, 'samples', 'two-stage.png')));
const gutter = 4;
const out = new PNG({ width: one.width + gutter + two.width, height: Math.max(one.height, two.height) });
out.data.fill(255);
PNG.bitblt(one, out, 0, 0, one.width, one.height, 0, 0);
PNG.bitblt(two, out, 0, 0, two.width, two.height, one.width + gutter, 0);
const sideBySide = join(runDir, 'samples', 'one-stage-vs-two-stage.png');
writeFileSync(sideBySide, PNG.sync.write(out));
lines.push('', `samples (left one-stage z ~ N(0,I), right two-stage): ${sideBySide}`);
const report = lines.join('\n');
writeFileSync(join(runDir, 'REPORT.md'), `${report}\n`);
console.log(report);
if (!existsSync(sideBySide)) process.exit(1);
