/**
 * Study files: every problem is an error naming its field, before anything is trained; the
 * config a cell trains is what `tsvae train` makes of the same options; the jobs rule; the
 * published table covers every model.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODELS, modelConfig } from '@tsvae/cli';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultJobs } from './executor';
import { main } from './main';
import { describeBudget, planStudy } from './plan';
import { publishedFid, TABLE1, TABLE1_DATASETS } from './published';
import { cellRunConfig, loadStudy, parseStudy, StudyError, type StudyInput } from './study';
import { captureIO, tinyStudy, writeStudy } from './testing';

const root = mkdtempSync(join(tmpdir(), 'tsvae-compare-study-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const base: StudyInput = {
  dataset: 'mnist',
  preset: 'quick',
  models: [
    { name: 'two-stage-vae', stage1Epochs: 2, stage2Epochs: 3 },
    { name: 'ns-gan', epochs: 2 },
    { name: 'vae-learned-gamma', epochs: 1, config: { latentDim: 16 } },
  ],
  seeds: [0, 1],
  evaluation: { extractors: ['classifier'], count: 100, referenceCount: 100 },
};

/** The issues of an invalid study, as "field: message" lines. */
function issues(input: unknown): string[] {
  try {
    parseStudy(input, '/studies/bad.json');
  } catch (e) {
    expect(e).toBeInstanceOf(StudyError);
    return (e as StudyError).issues.map((i) => `${i.field}: ${i.message}`);
  }
  throw new Error('the study was accepted');
}

describe('study validation names the field', () => {
  it('accepts a valid study and resolves its models (family, budget, mode, preset)', () => {
    const s = parseStudy(base, '/studies/quick.json');
    expect(s.name).toBe('quick');
    expect(s.dataset).toEqual({ name: 'mnist', config: {} });
    expect(s.models.map((m) => [m.id, m.family, m.mode, m.totalEpochs])).toEqual([
      ['two-stage-vae', 'two-stage', 'two-stage', 5],
      ['ns-gan', 'gan', 'gan', 2],
      ['vae-learned-gamma', 'one-stage', 'one-stage', 1],
    ]);
    expect(describeBudget(s.models[0]!)).toBe('stage 1: 2 + stage 2: 3 epochs');
    expect(s.evaluation).toMatchObject({
      trials: 1,
      seed: 0,
      metrics: ['fid', 'kid'],
      kid: { subsets: 100 },
    });
  });

  it('an unknown model, listing the known ones', () => {
    const bad = issues({ ...base, models: [...(base.models as object[]), { name: 'nsgan', epochs: 1 }] });
    expect(bad).toEqual([
      `models[3].name: unknown model "nsgan" (known: ${MODELS.map((m) => m.name).join(', ')})`,
    ]);
  });

  it('negative, fractional and duplicate seeds', () => {
    expect(issues({ ...base, seeds: [0, -1] })).toEqual(['seeds[1]: must be >= 0']);
    expect(issues({ ...base, seeds: [0.5] })).toEqual(['seeds[0]: must be an integer, got 0.5']);
    expect(issues({ ...base, seeds: [2, 3, 2] })).toEqual(['seeds[2]: duplicate seed 2 (seeds[0])']);
    expect(issues({ ...base, seeds: [] })).toEqual(['seeds: must have at least 1 entries']);
  });

  it('a missing dataset, models or seeds; unknown fields', () => {
    const { dataset: _d, ...noDataset } = base;
    expect(issues(noDataset)).toEqual(['dataset: required']);
    const { models: _m, seeds: _s, ...none } = base;
    expect(issues(none)).toEqual(['models: required', 'seeds: required']);
    expect(issues({ ...base, epochs: 3 })).toEqual(['epochs: unknown field']);
    expect(issues({ ...base, evaluation: { count: 0, extractor: 'x' } })).toEqual([
      'evaluation.count: must be > 0',
      'evaluation.extractor: unknown field',
    ]);
  });

  it('budgets: two for the Two-Stage VAE, epochs for single-stage models', () => {
    expect(issues({ ...base, models: [{ name: 'two-stage-vae', epochs: 3 }] })).toEqual([
      'models[0].epochs: the Two-Stage VAE has two budgets: use stage1Epochs and stage2Epochs',
      'models[0].stage1Epochs: required (the Two-Stage VAE has two budgets)',
      'models[0].stage2Epochs: required (the Two-Stage VAE has two budgets)',
    ]);
    expect(issues({ ...base, models: [{ name: 'wgan-gp', stage1Epochs: 3 }] })).toEqual([
      'models[0].stage1Epochs: wgan-gp is a single-stage model: use "epochs"',
      'models[0].epochs: required (the training budget of wgan-gp in epochs)',
    ]);
    expect(issues({ ...base, models: [{ name: 'ns-gan', epochs: -2 }] })).toEqual([
      'models[0].epochs: must be >= 0',
    ]);
  });

  it('config overrides are checked as tsvae train checks them; modes; duplicate cell names', () => {
    expect(issues({ ...base, models: [{ name: 'ns-gan', epochs: 1, config: { zDimm: 3 } }] })).toEqual([
      'models[0].config.zDimm: unknown field',
    ]);
    expect(issues({ ...base, models: [{ name: 'ns-gan', epochs: 1, mode: 'two-stage' }] })).toEqual([
      'models[0].mode: ns-gan samples in mode "gan", not "two-stage"',
    ]);
    expect(
      issues({
        ...base,
        models: [
          { name: 'two-stage-vae', stage1Epochs: 1, stage2Epochs: 1 },
          {
            name: 'two-stage-vae',
            stage1Epochs: 1,
            stage2Epochs: 1,
            config: { stage2: { model: { name: 'gmm' } } },
          },
        ],
      }),
    ).toEqual([
      'models[1].name: duplicate cell name "two-stage-vae" (models[0] has it): give one of them its own "id"',
    ]);
    const twoVariants = parseStudy({
      ...base,
      models: [
        { name: 'two-stage-vae', stage1Epochs: 1, stage2Epochs: 1 },
        {
          name: 'two-stage-vae',
          id: 'two-stage-gmm',
          stage1Epochs: 1,
          stage2Epochs: 1,
          config: { stage2: { model: { name: 'gmm' } } },
        },
      ],
    });
    expect(twoVariants.models.map((m) => m.id)).toEqual(['two-stage-vae', 'two-stage-gmm']);
  });

  it('a model sampled in another mode than its own is not its Table 1 row and has no published FID', () => {
    const s = parseStudy(
      {
        ...base,
        models: [
          { name: 'two-stage-vae', stage1Epochs: 2, stage2Epochs: 3 },
          {
            name: 'two-stage-vae',
            id: 'stage1-one-stage',
            stage1Epochs: 2,
            stage2Epochs: 0,
            mode: 'one-stage',
          },
        ],
      },
      '/studies/modes.json',
    );
    expect(s.models.map((m) => [m.id, m.mode, m.table1])).toEqual([
      ['two-stage-vae', 'two-stage', '2-Stage VAE'],
      ['stage1-one-stage', 'one-stage', '2-Stage VAE (one-stage samples)'],
    ]);
    expect(publishedFid(s.models[0]!.table1, 'mnist')).not.toBeNull();
    expect(publishedFid(s.models[1]!.table1, 'mnist')).toBeNull();
  });

  it('files: JSON and YAML; a file that does not parse names the file', () => {
    const yaml = writeStudy(
      root,
      'dataset: mnist\npreset: quick\nseeds: [0, 1]\nmodels:\n  - name: ns-gan\n    epochs: 2\n',
      'y.yaml',
    );
    expect(loadStudy(yaml).models[0]?.name).toBe('ns-gan');
    const broken = writeStudy(root, '{"dataset": "mnist",', 'broken.json');
    expect(() => loadStudy(broken)).toThrow(/invalid study .*broken\.json:\n {2}not valid JSON/);
    expect(() => loadStudy(join(root, 'absent.json'))).toThrow(/absent\.json:\n {2}no such file/);
  });
});

describe('cells', () => {
  it("a cell's run config is what tsvae train makes of --seed, the budget flags and --config", () => {
    const s = parseStudy(base);
    for (const model of s.models) {
      const info = MODELS.find((m) => m.name === model.name)!;
      // the CLI's path: the --config overrides, then each flag at its config field
      const over: Record<string, unknown> = {
        dataset: { config: {} },
        seed: 1,
        ...structuredClone(model.config),
      };
      if (model.family === 'two-stage') {
        over['stage1'] = { epochs: model.budget.stage1Epochs };
        over['stage2'] = { epochs: model.budget.stage2Epochs };
      } else if (model.family === 'gan') over['epochs'] = model.budget.epochs;
      else over['stage1'] = { ...((over['stage1'] as object) ?? {}), epochs: model.budget.epochs };
      expect(cellRunConfig(s, model, 1), model.name).toEqual(modelConfig(info, 'quick', 'mnist', over));
    }
    const vae = cellRunConfig(s, s.models[0]!, 1).config as { seed: number; stage1: { epochs: number } };
    expect([vae.seed, vae.stage1.epochs]).toEqual([1, 2]);
  });

  it('the plan of a new study: every model x seed, nothing on disk yet, the training commands', () => {
    const s = parseStudy(base);
    const plan = planStudy(s, join(root, 'new'), { plugins: ['my-plugins'], backend: 'wasm' });
    expect(plan.cells.map((c) => c.id)).toEqual([
      'two-stage-vae-seed0',
      'two-stage-vae-seed1',
      'ns-gan-seed0',
      'ns-gan-seed1',
      'vae-learned-gamma-seed0',
      'vae-learned-gamma-seed1',
    ]);
    expect(plan.cells.every((c) => c.state === 'pending' && c.action === 'train')).toBe(true);
    expect(plan.cells[2]?.command).toEqual([
      'train',
      '--model',
      'ns-gan',
      '--dataset',
      'mnist',
      '--preset',
      'quick',
      '--seed',
      '0',
      '--epochs',
      '2',
      '--run-dir',
      join(root, 'new', 'runs', 'ns-gan-seed0'),
      '--no-eval',
      '--json',
      '--backend',
      'wasm',
      '--plugins',
      'my-plugins',
    ]);
    expect(plan.cells[4]?.overrides).toEqual({ latentDim: 16 });
    expect(plan.cells[4]?.command).toContain('--config');
    expect(existsSync(join(root, 'new'))).toBe(false);
  });
});

describe('a bad study file fails before any training', () => {
  it.each([
    ['an unknown model', { models: [{ name: 'nsgan', epochs: 1 }] }, 'models[0].name: unknown model "nsgan"'],
    ['negative seeds', { seeds: [-1, 0] }, 'seeds[0]: must be >= 0'],
    ['no dataset', { dataset: undefined }, 'dataset: required'],
  ])('%s: exit 2, the field named, nothing written', async (_what, change, message) => {
    const file = writeStudy(join(root, 'bad'), { ...tinyStudy(), ...change });
    const dir = join(root, 'bad-study');
    const io = captureIO();
    expect(await main(['run', file, '--dir', dir], io)).toBe(2);
    expect(io.stderr.text).toContain(message);
    expect(io.stderr.text).toMatch(/^error: invalid study .*study\.json:\n/);
    expect(existsSync(dir)).toBe(false);
  });

  it('a study whose extractor is not registered fails before training, naming evaluation.extractors', async () => {
    const file = writeStudy(join(root, 'bad-extractor'), {
      ...tinyStudy(),
      plugins: ['@tsvae/stages/testing'],
      evaluation: { extractors: ['no-such-extractor'], count: 8, referenceCount: 8 },
    });
    const dir = join(root, 'bad-extractor-study');
    const io = captureIO();
    expect(await main(['run', file, '--dir', dir], io)).toBe(2);
    expect(io.stderr.text).toContain('evaluation.extractors: no-such-extractor: no such feature extractor');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });
});

describe('the jobs rule', () => {
  it('one core for the study, each cell its backend threads, 2 GiB a cell, no more than the cells', () => {
    const GiB = 2 ** 30;
    expect(defaultJobs({ cells: 10, threadsPerCell: 1, cores: 2, memoryBytes: 24 * GiB }).jobs).toBe(1);
    expect(defaultJobs({ cells: 10, threadsPerCell: 1, cores: 16, memoryBytes: 128 * GiB }).jobs).toBe(10);
    expect(defaultJobs({ cells: 40, threadsPerCell: 1, cores: 16, memoryBytes: 128 * GiB }).jobs).toBe(15);
    expect(defaultJobs({ cells: 40, threadsPerCell: 4, cores: 16, memoryBytes: 128 * GiB }).jobs).toBe(3);
    expect(defaultJobs({ cells: 40, threadsPerCell: 1, cores: 16, memoryBytes: 8 * GiB }).jobs).toBe(4);
    expect(defaultJobs({ cells: 40, threadsPerCell: 16, cores: 16, memoryBytes: 8 * GiB }).jobs).toBe(1);
  });
});

describe('the published Table 1', () => {
  it('has every model of tsvae train --model, on the four datasets', () => {
    for (const m of MODELS) {
      for (const d of TABLE1_DATASETS) expect(publishedFid(m.table1, d), `${m.table1} ${d}`).not.toBeNull();
    }
    expect(TABLE1).toHaveLength(MODELS.length);
    expect(publishedFid('2-Stage VAE', 'mnist')).toEqual({ mean: 12.6, std: 1.5 });
    expect(publishedFid('LSGAN', 'cifar10')).toEqual({ mean: 87.1, std: 47.5 });
    expect(publishedFid('2-Stage VAE', 'tiny-manifold')).toBeNull();
  });
});
