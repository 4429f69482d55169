import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from '@tsvae/backend';
import { create, type Stage1Model } from '@tsvae/core';
import { RunDirectory } from '@tsvae/stages';
import { registerTinyPlugins, SMALL_INFOGAN } from '@tsvae/stages/testing';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from './index';
import { backendSuggestion } from './setup';
import { captureIO, SMALL_MODEL } from './testing';

/** `TSVAE_TEST_TENSORFLOW=1` (CI, after `npx tsvae setup tensorflow`): the real setup runs here. */
const REAL = process.env['TSVAE_TEST_TENSORFLOW'] === '1';
const WHY =
  'skipped: set TSVAE_TEST_TENSORFLOW=1 to run the real setup here (it downloads ~270 MB from PyPI and builds the addon once; CI does, after `npx tsvae setup tensorflow`)';

beforeAll(() => {
  registerTinyPlugins();
});

describe('tsvae setup (no network)', () => {
  const cacheBefore = process.env['TSVAE_CACHE'];
  afterEach(() => {
    if (cacheBefore === undefined) delete process.env['TSVAE_CACHE'];
    else process.env['TSVAE_CACHE'] = cacheBefore;
  });

  it('knows its targets and checks its options before doing anything', async () => {
    const unknown = captureIO();
    expect(await main(['setup', 'pytorch'], unknown)).toBe(2);
    expect(unknown.stderr.text).toMatch(/unknown target \(targets: tensorflow\)/);
    const bad = captureIO();
    expect(await main(['setup', 'tensorflow', '--tensorflow-version', 'latest'], bad)).toBe(1);
    expect(bad.stderr.text).toMatch(/--tensorflow-version must look like 2\.21\.0, got "latest"/);
    const both = captureIO();
    expect(await main(['setup', 'tensorflow', '--remove', '--force'], both)).toBe(2);
  });

  it('--remove with nothing installed says so', async () => {
    process.env['TSVAE_CACHE'] = mkdtempSync(join(tmpdir(), 'tsvae-setup-'));
    const t = captureIO();
    expect(await main(['setup', 'tensorflow', '--remove', '--json'], t)).toBe(0);
    expect(JSON.parse(t.stdout.text)).toMatchObject({ event: 'removed', removed: null, bytes: 0 });
  });

  it('the hint appears only when the automatic choice fell to wasm', () => {
    const info = { backend: 'wasm', requested: 'auto' } as BackendInfo;
    const onLinux = process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64');
    expect(backendSuggestion(info) !== null).toBe(onLinux);
    expect(backendSuggestion({ ...info, requested: 'wasm' })).toBeNull();
    expect(backendSuggestion({ ...info, backend: 'tensorflow' })).toBeNull();
  });
});

/** Loss and gradients of the production stage 1 (vae over small infogan nets) on a backend. */
async function stage1Step(backend: string): Promise<{ loss: number; grads: Float32Array[] }> {
  await tf.setBackend(backend);
  const model = (await create(
    'stage1',
    'vae',
    {
      imageShape: [8, 8, 1],
      latentDim: 4,
      encoder: { name: 'infogan', config: { ...SMALL_INFOGAN } },
      decoder: { name: 'infogan', config: { ...SMALL_INFOGAN } },
    },
    { context: { seed: 7 } },
  )) as Stage1Model;
  const x = tf.tidy(() => tf.randomUniform([16, 8, 8, 1], 0, 1, 'float32', 5) as tf.Tensor4D);
  const vars = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => model.loss(x, { training: true, seed: 11 }).loss, vars);
  const out = {
    loss: value.dataSync()[0] as number,
    grads: vars.map((v) => Float32Array.from(grads[v.name]!.dataSync() as Float32Array)),
  };
  tf.dispose([value, x, ...Object.values(grads)]);
  model.dispose();
  return out;
}

describe.skipIf(!REAL)(
  `tsvae setup tensorflow for real, then training on it${REAL ? '' : ` (${WHY})`}`,
  () => {
    it('sets up (or finds it set up), and tsvae info picks tensorflow with oneDNN on', async () => {
      const t = captureIO();
      expect(await main(['setup', 'tensorflow'], t)).toBe(0);
      expect(t.stdout.text).toMatch(
        /^(installed TensorFlow|already set up: TensorFlow|TensorFlow .* was set up)/,
      );
      expect(t.stdout.text).toMatch(
        /tsvae info will now pick: tensorflow \(@tensorflow\/tfjs-node 4\.22\.0 from tsvae setup, TensorFlow [\d.]+, oneDNN on/,
      );
      const again = captureIO();
      expect(await main(['setup', 'tensorflow'], again)).toBe(0);
      expect(again.stdout.text).toMatch(/^already set up: TensorFlow/);
      const info = captureIO();
      expect(await main(['info', '--json'], info)).toBe(0);
      const report = JSON.parse(info.stdout.text) as { backend: BackendInfo; suggestion?: string };
      expect(report.backend).toMatchObject({
        backend: 'tensorflow',
        native: { source: 'setup', onednn: true },
      });
      expect(report.suggestion).toBeUndefined();
    }, 900_000);

    it('a stage-1 step of the production networks matches the cpu backend (oneDNN on): loss and gradients to 5e-6', async () => {
      // measured here (TensorFlow 2.21, oneDNN on): loss equal, gradients within 5.8e-7 of their
      // largest magnitude. The biases in front of batch normalisation have a zero gradient in exact
      // arithmetic (round-off of ~1e-8 on both sides): those are compared absolutely.
      const cpu = await stage1Step('cpu');
      const native = await stage1Step('tensorflow');
      expect(Math.abs(native.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(5e-6);
      let worst = 0;
      let zeroTensors = 0;
      cpu.grads.forEach((g, i) => {
        const n = native.grads[i] as Float32Array;
        let scale = 0;
        let diff = 0;
        for (let j = 0; j < g.length; j++) {
          scale = Math.max(scale, Math.abs(g[j] as number));
          diff = Math.max(diff, Math.abs((n[j] as number) - (g[j] as number)));
        }
        if (scale < 1e-6) {
          zeroTensors += 1;
          expect(diff).toBeLessThan(1e-6);
        } else {
          worst = Math.max(worst, diff / scale);
        }
      });
      expect(worst).toBeLessThan(5e-6);
      expect(cpu.grads.length - zeroTensors).toBeGreaterThan(15);
    });

    it('trains a small run on the tensorflow backend', async () => {
      const runDir = join(mkdtempSync(join(tmpdir(), 'tsvae-setup-run-')), 'run');
      const args = [...SMALL_MODEL];
      args.splice(args.indexOf('--backend'), 2, '--backend', 'tensorflow');
      const t = captureIO();
      expect(await main(['train', ...args, '--run-dir', runDir, '--no-eval'], t)).toBe(0);
      const record = JSON.parse(readFileSync(new RunDirectory(runDir).configFile, 'utf8'));
      expect(record.backend).toMatchObject({ backend: 'tensorflow', native: { onednn: true } });
      const lines = t.stdout.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const epochs = lines.filter((l) => l['event'] === 'epoch');
      expect(epochs.length).toBe(4);
      expect(epochs.every((e) => Number.isFinite(e['loss']))).toBe(true);
      expect(lines.at(-1)).toMatchObject({ event: 'done' });
    }, 300_000);
  },
);
