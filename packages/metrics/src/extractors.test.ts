import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { definePlugin, Registry, z } from '@tsvae/core';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EvaluationError } from './errors';
import {
  type EvaluationExtractorPlugin,
  hasAvailability,
  type SelectionEnvironment,
  selectExtractors,
} from './extractors';
import { metricsPlugins } from './plugins';
import { FID_WEIGHTS_FILE, FID_WEIGHTS_URL } from './weights';

/** What `f` throws (undefined when it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

const root = mkdtempSync(join(tmpdir(), 'tsvae-select-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A third-party extractor without the availability hook. */
const plain = definePlugin({
  kind: 'feature-extractor',
  name: 'acme-plain',
  configSchema: z.object({ scale: z.number().default(1) }),
  create: () => ({
    name: 'acme-plain',
    featureDim: 1,
    async extract(x: tf.Tensor4D) {
      return tf.zeros([x.shape[0], 1]) as tf.Tensor2D;
    },
    dispose() {},
  }),
});

/** A third-party extractor with the hook: available only on datasets called `ok`. */
const picky: EvaluationExtractorPlugin = {
  ...(plain as unknown as EvaluationExtractorPlugin),
  name: 'acme-picky',
  availability: (env) =>
    env.dataset.name === 'ok'
      ? { available: true, defaults: { scale: 2 } }
      : { available: false, reason: `only for 'ok', not '${env.dataset.name}'` },
};

function registry(): Registry {
  const r = new Registry();
  for (const p of metricsPlugins) r.register(p);
  r.register(plain);
  r.register(picky);
  return r;
}

const env = (over: Partial<SelectionEnvironment['dataset']> = {}, cacheDir = join(root, 'empty')) => ({
  dataset: { name: 'digits', config: { size: 7 }, labelled: true, ...over },
  cacheDir,
});

let savedEnv: string | undefined;
beforeEach(() => {
  savedEnv = process.env['TSVAE_FID_WEIGHTS'];
  delete process.env['TSVAE_FID_WEIGHTS'];
});
afterEach(() => {
  if (savedEnv === undefined) delete process.env['TSVAE_FID_WEIGHTS'];
  else process.env['TSVAE_FID_WEIGHTS'] = savedEnv;
});

describe('selectExtractors', () => {
  it("reads the hook from the registry's definitions (ours declare it; a plain third-party one does not)", () => {
    const r = registry();
    expect(hasAvailability(r.get('feature-extractor', 'classifier'))).toBe(true);
    expect(hasAvailability(r.get('feature-extractor', 'inception-fid'))).toBe(true);
    expect(hasAvailability(r.get('feature-extractor', 'acme-plain'))).toBe(false);
  });

  it('auto on a labelled dataset without Inception weights: the classifier with its defaults; inception skipped', () => {
    const cacheDir = join(root, 'empty');
    const { chosen, skipped } = selectExtractors('auto', env({}, cacheDir), {}, registry());
    expect(chosen).toEqual([
      { plugin: 'classifier', config: { dataset: 'digits', datasetConfig: { size: 7 }, cacheDir } },
    ]);
    // acme-picky declares the hook too, and says why it does not apply; acme-plain is never auto.
    expect(skipped.map((s) => s.plugin)).toEqual(['acme-picky', 'inception-fid']);
    const reason = skipped.find((s) => s.plugin === 'inception-fid')?.reason ?? '';
    expect(reason).toContain(`FID Inception weights not found (${FID_WEIGHTS_FILE} in ${cacheDir})`);
    expect(reason).toContain(FID_WEIGHTS_URL);
  });

  it('auto on an unlabelled dataset with the weights in the cache: inception-fid with the path; classifier skipped', () => {
    const cacheDir = join(root, 'with-weights');
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(join(cacheDir, FID_WEIGHTS_FILE), 'weights');
    const { chosen, skipped } = selectExtractors('auto', env({ labelled: false }, cacheDir), {}, registry());
    expect(chosen).toEqual([
      { plugin: 'inception-fid', config: { cacheDir, path: join(cacheDir, FID_WEIGHTS_FILE) } },
    ]);
    expect(skipped.find((s) => s.plugin === 'classifier')?.reason).toMatch(
      /^dataset 'digits' has no labels to train the classifier on/,
    );
  });

  it('user configs override the defaults; a classifier of another dataset needs no labels here', () => {
    const cacheDir = join(root, 'empty');
    const r = registry();
    const one = selectExtractors('auto', env({}, cacheDir), { classifier: { epochs: 3, cacheDir: '/x' } }, r);
    expect(one.chosen[0]?.config).toEqual({
      dataset: 'digits',
      datasetConfig: { size: 7 },
      cacheDir: '/x',
      epochs: 3,
    });
    // Another dataset's classifier: this dataset's config is not passed on to it.
    const other = selectExtractors(
      ['classifier'],
      env({ labelled: false }, cacheDir),
      {
        classifier: { dataset: 'mnist' },
      },
      r,
    );
    expect(other.chosen).toEqual([{ plugin: 'classifier', config: { cacheDir, dataset: 'mnist' } }]);
  });

  it('explicit names: a plain extractor gets the user config alone; a named inception-fid may download', () => {
    const r = registry();
    const cacheDir = join(root, 'empty');
    const { chosen, skipped } = selectExtractors(
      ['acme-plain', 'inception-fid', 'acme-plain'],
      env({}, cacheDir),
      { 'acme-plain': { scale: 3 } },
      r,
    );
    expect(chosen).toEqual([
      { plugin: 'acme-plain', config: { scale: 3 } },
      { plugin: 'inception-fid', config: { cacheDir } },
    ]);
    expect(skipped).toEqual([]);
    expect(selectExtractors(['acme-plain'], env(), {}, r).chosen).toEqual([
      { plugin: 'acme-plain', config: {} },
    ]);
  });

  it('weights: the explicit file, then TSVAE_FID_WEIGHTS; a missing one is an error naming it', () => {
    const r = registry();
    const file = join(root, 'mine.pth');
    writeFileSync(file, 'w');
    const explicit = selectExtractors(['inception-fid'], { ...env(), inceptionWeights: file }, {}, r);
    expect(explicit.chosen[0]?.config).toMatchObject({ path: file });
    process.env['TSVAE_FID_WEIGHTS'] = file;
    expect(selectExtractors('auto', env(), {}, r).chosen.map((c) => c.plugin)).toEqual([
      'classifier',
      'inception-fid',
    ]);
    const missing = join(root, 'missing.pth');
    const err = thrown(() =>
      selectExtractors(['inception-fid'], { ...env(), inceptionWeights: missing }, {}, r),
    );
    expect(err).toBeInstanceOf(EvaluationError);
    expect(err).toMatchObject({ field: 'inceptionWeights', problem: `no such file (${missing})` });
    // A path in the user's config wins: no lookup, no error.
    expect(
      selectExtractors(
        ['inception-fid'],
        { ...env(), inceptionWeights: missing },
        { 'inception-fid': { path: file } },
        r,
      ).chosen[0]?.config,
    ).toMatchObject({ path: file });
  });

  it('errors name the extractor: unknown, unavailable when named, a config for an unregistered one', () => {
    const r = registry();
    const catchIt = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as EvaluationError;
      }
      throw new Error('did not throw');
    };
    const unknown = catchIt(() => selectExtractors(['nope'], env(), {}, r));
    expect(unknown).toBeInstanceOf(EvaluationError);
    expect(unknown.extractor).toBe('nope');
    expect(unknown.message).toBe(
      "extractor 'nope': no such feature extractor (known: acme-picky, acme-plain, classifier, inception-fid)",
    );
    const unlabelled = catchIt(() => selectExtractors(['classifier'], env({ labelled: false }), {}, r));
    expect(unlabelled).toMatchObject({ field: 'extractors', extractor: 'classifier' });
    expect(unlabelled.message).toMatch(/^extractor 'classifier': dataset 'digits' has no labels/);
    const picked = catchIt(() => selectExtractors(['acme-picky'], env(), {}, r));
    expect(picked.message).toBe("extractor 'acme-picky': only for 'ok', not 'digits'");
    const stray = catchIt(() => selectExtractors('auto', env(), { clasifier: { epochs: 1 } }, r));
    expect(stray).toMatchObject({ field: 'extractorConfigs', extractor: 'clasifier' });
  });
});
