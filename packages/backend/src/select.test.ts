import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
import type { TensorflowInstall } from './tensorflow/managed';
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
  tensorflowInstall: () => null,
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

describe('tfjs-node from tsvae setup tensorflow, from a path, and oneDNN', () => {
  const managedDir = '/cache/tensorflow/tfjs-node-4.22.0_tf-2.21.0/node_modules/@tensorflow/tfjs-node';
  const managedUrl = pathToFileURL(join(managedDir, 'dist', 'index.js')).href;
  const managed = () => ({
    ok: true as const,
    install: { packageDir: managedDir, tensorflowVersion: '2.21.0' } as TensorflowInstall,
  });
  const onednnBefore = process.env['TF_ENABLE_ONEDNN_OPTS'];
  const restore = () => {
    if (onednnBefore === undefined) delete process.env['TF_ENABLE_ONEDNN_OPTS'];
    else process.env['TF_ENABLE_ONEDNN_OPTS'] = onednnBefore;
    if (tf.findBackendFactory('tensorflow') !== null) tf.removeBackend('tensorflow');
  };

  it("loads the setup's install when the project has no tfjs-node, with oneDNN on", async () => {
    delete process.env['TF_ENABLE_ONEDNN_OPTS'];
    try {
      const loaded: string[] = [];
      const info = await selectBackend({
        ...absentEverywhere,
        tensorflowInstall: managed,
        loadModule: (s) => {
          loaded.push(s);
          return s === managedUrl ? fakeTfjsNode() : Promise.reject(notFound(s));
        },
      });
      expect(loaded).toEqual(['@tensorflow/tfjs-node', managedUrl]);
      expect(info).toMatchObject({ backend: 'tensorflow', candidate: 'tfjs-node' });
      expect(info.native).toMatchObject({
        source: 'setup',
        location: managedDir,
        onednn: true,
        onednnSource: 'default',
      });
      expect(process.env['TF_ENABLE_ONEDNN_OPTS']).toBe('1'); // set before the library loaded
      expect(describeBackend(info)).toMatch(
        /^tensorflow \(@tensorflow\/tfjs-node 4\.22\.0 from tsvae setup, TensorFlow \?, oneDNN on/,
      );
    } finally {
      restore();
    }
  });

  it("loads tfjs-node without the application's arguments (node-pre-gyp reads --dir X as its --directory)", async () => {
    const argv = process.argv;
    process.argv = [argv[0]!, '/x/tsvae-compare', 'run', 'study.json', '--dir', '/tmp/elsewhere'];
    const seen: string[][] = [];
    try {
      const info = await selectBackend({
        ...absentEverywhere,
        loadModule: (s) => {
          seen.push(process.argv.slice(2));
          return s === '@tensorflow/tfjs-node' ? fakeTfjsNode() : Promise.reject(notFound(s));
        },
      });
      expect(info.backend).toBe('tensorflow');
      expect(seen).toEqual([[]]);
      expect(process.argv.slice(2)).toEqual(['run', 'study.json', '--dir', '/tmp/elsewhere']);
    } finally {
      process.argv = argv;
      restore();
    }
  });

  it("prefers the project's working tfjs-node, and falls to the setup's when the project's addon is missing", async () => {
    try {
      const project = await selectBackend({
        ...absentEverywhere,
        tensorflowInstall: managed,
        loadModule: (s) => (s === '@tensorflow/tfjs-node' ? fakeTfjsNode() : Promise.reject(notFound(s))),
      });
      expect(project.native?.source).toBe('project');
      tf.removeBackend('tensorflow');
      const fallback = await selectBackend({
        ...absentEverywhere,
        tensorflowInstall: managed,
        loadModule: (s) => (s === managedUrl ? fakeTfjsNode() : Promise.reject(addonMissing(s))),
      });
      expect(fallback.native?.source).toBe('setup');
      expect(fallback.notes.join()).toMatch(
        /the project's @tensorflow\/tfjs-node was not used \(native addon missing/,
      );
    } finally {
      restore();
    }
  });

  it('says what to run: nothing installed, an unusable install, a setup install that fails to load', async () => {
    const none = await selectBackend(absentEverywhere);
    expect(none.rejected[1]?.reason).toBe(
      '@tensorflow/tfjs-node is not installed (tsvae setup tensorflow installs it)',
    );
    const broken = await selectBackend({
      ...absentEverywhere,
      tensorflowInstall: () => ({ ok: false, problem: '/x/tfjs_binding.node is missing' }),
    });
    expect(broken.rejected[1]).toMatchObject({ kind: 'addon-missing' });
    expect(broken.rejected[1]?.reason).toMatch(
      /unusable: \/x\/tfjs_binding\.node is missing \(run it again\)/,
    );
    const failing = await selectBackend({
      ...absentEverywhere,
      tensorflowInstall: managed,
      loadModule: (s) =>
        Promise.reject(s === managedUrl ? new Error('libtensorflow_cc.so.2: cannot open') : notFound(s)),
    });
    expect(failing.rejected[1]?.reason).toMatch(/tsvae setup tensorflow's install failed: .*--force/);
    expect(failing.backend).toBe('wasm');
  });

  it("TSVAE_TFJS_NODE names a tfjs-node directory; the user's TF_ENABLE_ONEDNN_OPTS wins, onednn: false turns it off", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvae-tfjs-node-'));
    mkdirSync(join(dir, 'dist'));
    writeFileSync(join(dir, 'dist', 'index.js'), '');
    const url = pathToFileURL(join(dir, 'dist', 'index.js')).href;
    const load = (s: string) => (s === url ? fakeTfjsNode() : Promise.reject(notFound(s)));
    try {
      process.env['TF_ENABLE_ONEDNN_OPTS'] = '0';
      const info = await selectBackend({
        ...absentEverywhere,
        env: { TSVAE_TFJS_NODE: dir },
        loadModule: load,
      });
      expect(info.native).toMatchObject({
        source: 'path',
        location: dir,
        onednn: false,
        onednnSource: 'env',
      });
      expect(describeBackend(info)).toContain(`from ${dir}`);
      tf.removeBackend('tensorflow');
      delete process.env['TF_ENABLE_ONEDNN_OPTS'];
      const off = await selectBackend({
        ...absentEverywhere,
        tfjsNode: dir,
        onednn: false,
        loadModule: load,
      });
      expect(off.native).toMatchObject({ onednn: false, onednnSource: 'option' });
      expect(process.env['TF_ENABLE_ONEDNN_OPTS']).toBe('0');
      tf.removeBackend('tensorflow');
      const missing = await selectBackend({ ...absentEverywhere, tfjsNode: join(dir, 'nope') });
      expect(missing.rejected[1]?.reason).toMatch(/no tfjs-node package at .*nope/);
      // a failed load leaves the environment as it was
      delete process.env['TF_ENABLE_ONEDNN_OPTS'];
      await selectBackend(absentEverywhere);
      expect(process.env['TF_ENABLE_ONEDNN_OPTS']).toBeUndefined();
    } finally {
      restore();
    }
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
