import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { create, type Dataset, getRegistry, InvalidConfigError, z } from '@tsvae/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultClassifierPath, registerMetricsPlugins } from './plugins';

/** What `f` throws (undefined when it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

const tmp = mkdtempSync(join(tmpdir(), 'tsvae-plugins-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerMetricsPlugins();
});

describe('inception-fid plugin config', () => {
  it('has no quantize / minMaxNormalize: prepareGenerated is the only place for them', () => {
    const reg = getRegistry();
    expect(reg.configKeys('feature-extractor', 'inception-fid')).not.toContain('quantize');
    for (const key of ['quantize', 'minMaxNormalize']) {
      const err = thrown(() => reg.resolveConfig('feature-extractor', 'inception-fid', { [key]: true }));
      expect(err, key).toBeInstanceOf(InvalidConfigError);
      expect((err as InvalidConfigError).message).toContain(key);
    }
    expect(reg.resolveConfig('feature-extractor', 'inception-fid', { resize: 'pytorch-fid' })).toMatchObject({
      resize: 'pytorch-fid',
      output: 'pool3',
    });
  });
});

describe('classifier plugin', () => {
  it('trains on first use, saves atomically (no temporary file left), and reuses the file', async () => {
    let loads = 0;
    const reg = getRegistry();
    if (!reg.has('dataset', 'test-plugins-digits')) {
      reg.register({
        kind: 'dataset',
        name: 'test-plugins-digits',
        configSchema: z.object({}),
        create: (): Dataset => ({
          name: 'test-plugins-digits',
          shape: [28, 28, 1],
          numClasses: 2,
          load: async () => {
            loads++;
            const n = 16;
            const data = new Uint8Array(n * 784);
            for (let i = 0; i < n; i++) data.fill(i % 2 ? 200 : 20, i * 784, (i + 1) * 784);
            return {
              size: n,
              shape: [28, 28, 1],
              data,
              labels: Int32Array.from({ length: n }, (_, i) => i % 2),
            };
          },
        }),
      });
    }
    const config = { dataset: 'test-plugins-digits', cacheDir: tmp, epochs: 1 };
    const a = await create('feature-extractor', 'classifier', config);
    const path = defaultClassifierPath({ ...config, seed: 0 });
    expect(readdirSync(join(tmp, 'metrics'))).toEqual([path.split('/').at(-1)]);
    const b = await create('feature-extractor', 'classifier', config);
    expect(loads).toBe(1);
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const [fa, fb] = [await a.extract(x), await b.extract(x)];
    expect(tf.max(tf.abs(tf.sub(fa, fb))).dataSync()[0]).toBe(0);
    tf.dispose([x, fa, fb]);
    a.dispose();
    b.dispose();
  });
});
