import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  classifyLoadError,
  describeBackend,
  getBackendInfo,
  initBackend,
  selectBackend,
} from './index';
import type { InitBackendOptions } from './types';

const notFound = (specifier: string): Error =>
  Object.assign(new Error(`Cannot find package '${specifier}' imported from /x/select.js`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });

/** The message tfjs-node 4.22 throws when installed with --ignore-scripts (no addon built). */
const addonMissing = (pkg: string): Error =>
  new Error(
    `The Node.js native addon module (tfjs_binding.node) can not be found at path: /app/node_modules/${pkg}/lib/napi-v8/tfjs_binding.node. \nPlease run command 'npm rebuild ${pkg} build-addon-from-source' to rebuild the native addon module.`,
  );

/** A stand-in for an installed, working tfjs-node: registers a 'tensorflow' backend. */
async function fakeTfjsNode(): Promise<unknown> {
  if (tf.findBackendFactory('tensorflow') === null)
    tf.registerBackend('tensorflow', () => new MathBackendCPU(), 3);
  return { version: { 'tfjs-node': '4.22.0' } };
}

const absentEverywhere: InitBackendOptions = {
  env: {},
  threads: 1,
  loadModule: (s) => Promise.reject(notFound(s)),
  resolveModule: () => false,
  probeCuda: () => 'no NVIDIA driver',
};

afterAll(() => {
  if (tf.findBackendFactory('tensorflow') !== null) tf.removeBackend('tensorflow');
});

describe('classifyLoadError', () => {
  it('tells an absent module, a missing addon, missing CUDA and other failures apart', () => {
    expect(classifyLoadError('@tensorflow/tfjs-node', notFound('@tensorflow/tfjs-node')).kind).toBe(
      'module-absent',
    );
    expect(classifyLoadError('@tensorflow/tfjs-node', addonMissing('@tensorflow/tfjs-node')).kind).toBe(
      'addon-missing',
    );
    expect(
      classifyLoadError(
        '@tensorflow/tfjs-node-gpu',
        new Error('libcudart.so.11.0: cannot open shared object file'),
      ).kind,
    ).toBe('no-cuda');
    expect(
      classifyLoadError(
        '@tensorflow/tfjs-node',
        new Error('libtensorflow.so.2: cannot open shared object file'),
      ).kind,
    ).toBe('addon-missing');
    // a missing dependency of the module is not the module being absent
    expect(classifyLoadError('@tensorflow/tfjs-node', notFound('adm-zip')).kind).toBe('init-failed');
  });
});

describe('selectBackend', () => {
  it('falls to wasm when both native modules are absent, and says why', async () => {
    const info = await selectBackend(absentEverywhere);
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.rejected.map((r) => [r.backend, r.kind])).toEqual([
      ['tfjs-node-gpu', 'module-absent'],
      ['tfjs-node', 'module-absent'],
    ]);
    expect(info.tfjsVersion).toBe(tf.version_core);
    expect(info.simd).toBe(true);
    expect(info.threads).toBe(1);
    expect(info.trainingKernels).toContain('Conv2DBackpropFilter');
    expect(info.requested).toBe('auto');
    expect(getBackendInfo()).toBe(info);
    expect(describeBackend(info)).toMatch(
      /^wasm .*tfjs-node-gpu: @tensorflow\/tfjs-node-gpu is not installed/,
    );
  });

  it('reports a module present without its addon, and a GPU module without CUDA', async () => {
    const info = await selectBackend({
      ...absentEverywhere,
      loadModule: (s) => Promise.reject(addonMissing(s)),
      resolveModule: () => true,
    });
    expect(info.backend).toBe('wasm');
    expect(info.rejected.map((r) => [r.backend, r.kind])).toEqual([
      ['tfjs-node-gpu', 'no-cuda'],
      ['tfjs-node', 'addon-missing'],
    ]);
    expect(info.rejected[1]!.reason).toMatch(/tfjs_binding\.node/);
  });

  it('tries tfjs-node-gpu when CUDA looks usable, and reports its addon missing', async () => {
    const info = await selectBackend({
      ...absentEverywhere,
      probeCuda: () => null,
      loadModule: (s) => Promise.reject(addonMissing(s)),
    });
    expect(info.rejected[0]).toMatchObject({ backend: 'tfjs-node-gpu', kind: 'addon-missing' });
  });

  it('uses tfjs-node when it loads', async () => {
    const loaded: string[] = [];
    const info = await selectBackend({
      ...absentEverywhere,
      loadModule: (s) => {
        loaded.push(s);
        return s === '@tensorflow/tfjs-node' ? fakeTfjsNode() : Promise.reject(notFound(s));
      },
    });
    expect(loaded).toEqual(['@tensorflow/tfjs-node']); // gpu skipped: no CUDA, not installed
    expect(info).toMatchObject({
      backend: 'tensorflow',
      candidate: 'tfjs-node',
      backendVersion: '4.22.0',
      gpu: false,
    });
    expect(tf.getBackend()).toBe('tensorflow');
    tf.removeBackend('tensorflow');
  });

  it('honours TSVAE_BACKEND and never falls back from an explicit request', async () => {
    expect((await selectBackend({ ...absentEverywhere, env: { TSVAE_BACKEND: 'cpu' } })).backend).toBe('cpu');
    expect((await selectBackend({ ...absentEverywhere, env: { TSVAE_BACKEND: 'wasm' } })).rejected).toEqual(
      [],
    );
    const err = await selectBackend({ ...absentEverywhere, env: { TSVAE_BACKEND: 'tensorflow' } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/TSVAE_BACKEND=tensorflow is unavailable/);
    expect((err as BackendUnavailableError).rejected.map((r) => r.backend)).toEqual([
      'tfjs-node-gpu',
      'tfjs-node',
    ]);
    expect(tf.getBackend()).toBe('wasm'); // untouched by the failed request
    await expect(selectBackend({ ...absentEverywhere, env: { TSVAE_BACKEND: 'webgpu' } })).rejects.toThrow(
      /TSVAE_BACKEND=webgpu is unavailable.*not installed/,
    );
    await expect(selectBackend({ ...absentEverywhere, env: { TSVAE_BACKEND: 'gpu' } })).rejects.toThrow(
      /is not one of/,
    );
    // the option wins over the environment
    expect(
      (await selectBackend({ ...absentEverywhere, backend: 'cpu', env: { TSVAE_BACKEND: 'wasm' } }))
        .requestSource,
    ).toBe('option');
  });

  it('prints nothing, even on the cpu backend', async () => {
    const spies = (['log', 'warn', 'info', 'error'] as const).map((m) => {
      const original = console[m];
      const calls: unknown[] = [];
      console[m] = (...a: unknown[]) => calls.push(a);
      return { m, original, calls };
    });
    try {
      await selectBackend({ ...absentEverywhere, backend: 'cpu' });
      tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)).dataSync());
    } finally {
      for (const s of spies) console[s.m] = s.original;
    }
    expect(spies.flatMap((s) => s.calls)).toEqual([]);
  });
});

describe('initBackend', () => {
  it('picks once and returns the same answer afterwards', async () => {
    const a = await initBackend(absentEverywhere);
    const b = await initBackend({ ...absentEverywhere, backend: 'cpu' });
    expect(b).toBe(a);
    expect(a.backend).toBe('wasm');
  });
});

describe('threaded wasm', () => {
  it('starts 2 XNNPACK threads in Node and computes what the cpu backend computes', async () => {
    const x = Array.from({ length: 2 * 9 * 9 * 3 }, (_, i) => Math.sin(i));
    const f = Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i));
    const run = () =>
      tf.tidy(() =>
        tf.conv2d(tf.tensor4d(x, [2, 9, 9, 3]), tf.tensor4d(f, [3, 3, 3, 4]), 2, 'same').dataSync(),
      );
    await selectBackend({ ...absentEverywhere, backend: 'cpu' });
    const expected = run();
    const info = await selectBackend({ ...absentEverywhere, backend: 'wasm', threads: 2 });
    expect(info.notes).toEqual([]);
    expect(info.threads).toBe(2);
    const actual = run();
    for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i]!, 4);
    // back to one thread: the stock registration again
    expect((await selectBackend({ ...absentEverywhere, backend: 'wasm', threads: 1 })).threads).toBe(1);
  });
});
