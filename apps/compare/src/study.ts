/**
 * The study file: what to compare (dataset, models with their budgets and config overrides, seeds)
 * and how to measure it (the evaluation protocol). JSON or YAML, validated with zod; every error
 * names the field (`models[2].name: unknown model "nsgan" (known: ...)`).
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MODELS, type ModelFamily, modelConfig, modelFamily } from '@tsvae/cli';
import { MAX_SEED, z } from '@tsvae/core';
import { PRESETS, type PresetName, RunConfigError } from '@tsvae/stages';
import { parse as parseYaml } from 'yaml';

/** One problem with a study file: the field (`models[2].name`) and what is wrong with it. */
export interface StudyIssue {
  readonly field: string;
  readonly message: string;
}

/** A study file that cannot be used; `issues` lists every problem found, each naming its field. */
export class StudyError extends Error {
  override readonly name = 'StudyError';
  constructor(
    readonly source: string,
    readonly issues: readonly StudyIssue[],
  ) {
    super(
      `invalid study ${source}:\n${issues.map((i) => `  ${i.field ? `${i.field}: ` : ''}${i.message}`).join('\n')}`,
    );
  }
}

const positiveInt = z.number().int().positive();
const epochsSchema = z.number().int().min(0);
const seedSchema = z.number().int().min(0).max(MAX_SEED);
const objectRecord = z.record(z.string(), z.unknown());

/** A name usable as a directory name: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;
const nameSchema = z
  .string()
  .regex(NAME_RE, 'use letters, digits, ".", "_" and "-", starting with a letter or digit (at most 80)');

/** One model of a study: a `tsvae train --model` name, its budget and config overrides. */
const modelEntrySchema = z
  .object({
    /** A `tsvae train --model` name (every row of Table 1: `tsvae info` lists them). */
    name: z.string().min(1),
    /** The cell name prefix (default `name`); set it to compare two variants of one model. */
    id: nameSchema.optional(),
    /** The preset the model's config starts from (default: the study's `preset`). */
    preset: z.enum(PRESETS as unknown as [PresetName, ...PresetName[]]).optional(),
    /** Epochs of a single-stage model (the GANs, the one-stage VAEs, wae-mmd, vae-flow). */
    epochs: epochsSchema.optional(),
    /** The Two-Stage VAE's stage-1 epochs. */
    stage1Epochs: epochsSchema.optional(),
    /** The Two-Stage VAE's stage-2 epochs. */
    stage2Epochs: epochsSchema.optional(),
    /** Config overrides deep-merged over the preset (the fields of `tsvae train --set`). */
    config: objectRecord.default({}),
    /** The sampling mode to evaluate (default: the model's own: two-stage, one-stage or gan). */
    mode: z.enum(['two-stage', 'one-stage', 'gan']).optional(),
  })
  .strict();

const datasetSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { name: v } : v),
  z
    .object({
      /** A dataset plugin (`mnist`, `fashion-mnist`, `cifar10`, `celeba`, or a plugin's). */
      name: z.string().min(1),
      /** Its plugin config. */
      config: objectRecord.default({}),
      /** Train every model on the first N training images only. */
      subset: positiveInt.optional(),
    })
    .strict(),
);

/** The evaluation protocol: `@tsvae/metrics`' `evaluate()` options, one set for every cell. */
const evaluationSchema = z
  .object({
    /** Feature extractors: registry names, or `auto` (every one that can run here). */
    extractors: z.union([z.literal('auto'), z.array(z.string().min(1)).min(1)]).default('auto'),
    /** Per-extractor plugin configs, by plugin name. */
    extractorConfigs: z.record(z.string(), objectRecord).default({}),
    /** Generated images per cell and trial (N). */
    count: positiveInt.default(10000),
    /** Reference images: the first N of the split (default min(10000, split size)). */
    referenceCount: positiveInt.optional(),
    /** The reference split. */
    split: z.enum(['test', 'train']).default('test'),
    /** Trials per cell, each with fresh samples (mean ± std over trials per cell). */
    trials: positiveInt.default(1),
    /** Seed of trial 0 (trial t uses seed + t). */
    seed: seedSchema.default(0),
    /** `fid` (required), `kid`, `prdc`. */
    metrics: z.array(z.enum(['fid', 'kid', 'prdc'])).default(['fid', 'kid']),
    /** KID subsets and their size (clamped to the sample counts). */
    kid: z
      .object({ subsets: positiveInt.default(100), subsetSize: positiveInt.default(1000) })
      .strict()
      .prefault({}),
    /** k of precision / recall / density / coverage, and closed balls (d <= r). */
    prdc: z
      .object({ k: positiveInt.default(3), closedBalls: z.boolean().default(false) })
      .strict()
      .prefault({}),
    /** Round generated images to uint8 levels first (the FID protocol). */
    quantize: z.boolean().default(true),
    /** The reference code's per-image min-max normalisation of generated images (non-standard). */
    minMaxNormalize: z.boolean().default(false),
    /** The Inception input protocol (the `inception-fid` extractor's `resize`). */
    resize: z.enum(['tf1-legacy', 'pytorch-fid']).default('tf1-legacy'),
    /** Images per generate / extract call (part of the protocol: it groups the seeded draws). */
    batchSize: positiveInt.default(250),
    /** A local FID Inception weights file (relative to the study file). */
    inceptionWeights: z.string().min(1).optional(),
    /** Where extractors keep weights and reference features (default: the tsvae cache). */
    cacheDir: z.string().min(1).optional(),
  })
  .strict();

/** The schema of a study file (before the checks that need the model catalogue). */
export const studySchema = z
  .object({
    /** A JSON schema reference for editors (ignored). */
    $schema: z.string().optional(),
    /** The study's name (default: the file name without extension); names its default directory. */
    name: nameSchema.optional(),
    /** What the study is for; shown in the report. */
    description: z.string().default(''),
    dataset: datasetSchema,
    /** The preset every model's config starts from (`paper` or `quick`). */
    preset: z.enum(PRESETS as unknown as [PresetName, ...PresetName[]]).default('paper'),
    models: z.array(modelEntrySchema).min(1),
    /** Training seeds: one cell per model and seed. */
    seeds: z.array(seedSchema).min(1),
    evaluation: evaluationSchema.prefault({}),
    /** Plugin modules to load (paths relative to the study file, or package names). */
    plugins: z.array(z.string().min(1)).default([]),
    /** The tfjs backend of the workers and the evaluation (default: automatic). */
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu', 'webgpu']).optional(),
    /** Parallel cells (default: what fits the cores; see `defaultJobs`). */
    jobs: positiveInt.optional(),
  })
  .strict();

/** A study file as written (before defaults). */
export type StudyInput = z.input<typeof studySchema>;

/** The evaluation protocol of a study, defaults filled in. */
export type StudyEvaluation = z.output<typeof evaluationSchema>;

/** A model of a study, resolved: its catalogue entry, family, budget, mode and cell name. */
export interface StudyModel {
  /** The cell name prefix (`id`, default the model name). */
  readonly id: string;
  /** The `--model` name. */
  readonly name: string;
  /** The Table 1 row it reproduces. */
  readonly table1: string;
  readonly family: ModelFamily;
  readonly trainer: string;
  readonly preset: PresetName;
  /** `{ epochs }` for single-stage models, `{ stage1Epochs, stage2Epochs }` for the Two-Stage VAE. */
  readonly budget: Readonly<{ epochs?: number; stage1Epochs?: number; stage2Epochs?: number }>;
  /** Epochs in all (for progress). */
  readonly totalEpochs: number;
  readonly config: Readonly<Record<string, unknown>>;
  /** The sampling mode evaluated. */
  readonly mode: 'two-stage' | 'one-stage' | 'gan';
}

/** A validated study. Paths (plugins, weights, cache) are absolute. */
export interface Study {
  readonly name: string;
  readonly description: string;
  /** The study file (absolute), or a label for a study given as an object. */
  readonly source: string;
  readonly dataset: {
    readonly name: string;
    readonly config: Readonly<Record<string, unknown>>;
    readonly subset?: number;
  };
  readonly preset: PresetName;
  readonly models: readonly StudyModel[];
  readonly seeds: readonly number[];
  readonly evaluation: StudyEvaluation;
  readonly plugins: readonly string[];
  readonly backend?: 'auto' | 'tensorflow' | 'wasm' | 'cpu' | 'webgpu';
  readonly jobs?: number;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
}

const describe = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'string'
        ? `"${v}"`
        : typeof v === 'number' || typeof v === 'boolean'
          ? String(v)
          : typeof v;

/** zod issues in the study's words: "required", "must be >= 0", "unknown field". */
function issuesOf(error: z.ZodError): StudyIssue[] {
  return error.issues.flatMap((i): StudyIssue[] => {
    const field = formatPath(i.path);
    const raw = i as unknown as {
      code: string;
      keys?: readonly string[];
      input?: unknown;
      expected?: string;
      minimum?: number | bigint;
      maximum?: number | bigint;
      origin?: string;
      inclusive?: boolean;
      values?: readonly unknown[];
    };
    switch (raw.code) {
      case 'unrecognized_keys':
        return (raw.keys ?? []).map((k) => ({
          field: field ? `${field}.${k}` : k,
          message: 'unknown field',
        }));
      case 'invalid_type':
        return [
          {
            field,
            message:
              raw.input === undefined
                ? 'required'
                : `must be ${raw.expected === 'int' ? 'an integer' : `a${/^[aeiou]/.test(raw.expected ?? '') ? 'n' : ''} ${raw.expected}`}, got ${describe(raw.input)}`,
          },
        ];
      case 'too_small':
        if (raw.origin === 'array') return [{ field, message: `must have at least ${raw.minimum} entries` }];
        if (raw.origin === 'string') return [{ field, message: 'must not be empty' }];
        return [{ field, message: `must be ${raw.inclusive === false ? '>' : '>='} ${raw.minimum}` }];
      case 'too_big':
        return [{ field, message: `must be ${raw.inclusive === false ? '<' : '<='} ${raw.maximum}` }];
      case 'invalid_value':
        return [
          {
            field,
            message: `must be one of ${(raw.values ?? []).map((v) => JSON.stringify(v)).join(', ')}, got ${describe(raw.input)}`,
          },
        ];
      default:
        return [{ field, message: i.message }];
    }
  });
}

/** The sampling modes a model family has. */
const MODES: Readonly<Record<ModelFamily, readonly StudyModel['mode'][]>> = {
  'two-stage': ['two-stage', 'one-stage'],
  'one-stage': ['one-stage'],
  'wae-mmd': ['one-stage'],
  'vae-flow': ['one-stage'],
  gan: ['gan'],
};

/**
 * The run-config overrides of a cell: the model's `config`, the study's dataset, the seed and the
 * budget (at the config fields `tsvae train`'s `--seed`, `--epochs`, `--stage1-epochs`,
 * `--stage2-epochs` set for the model's family).
 */
export function cellOverrides(
  study: Pick<Study, 'dataset'>,
  model: StudyModel,
  seed: number,
): Record<string, unknown> {
  const out = structuredClone(model.config) as Record<string, unknown>;
  const ds = (typeof out['dataset'] === 'object' && out['dataset'] !== null ? out['dataset'] : {}) as Record<
    string,
    unknown
  >;
  out['dataset'] = {
    ...ds,
    config: { ...study.dataset.config, ...((ds['config'] as Record<string, unknown> | undefined) ?? {}) },
    ...(study.dataset.subset !== undefined && ds['subset'] === undefined
      ? { subset: study.dataset.subset }
      : {}),
  };
  out['seed'] = seed;
  const { epochs, stage1Epochs, stage2Epochs } = model.budget;
  const setIn = (path: readonly string[], value: number) => {
    let cur = out;
    for (const k of path.slice(0, -1)) {
      const next = cur[k];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {};
      cur = cur[k] as Record<string, unknown>;
    }
    cur[path[path.length - 1] as string] = value;
  };
  if (model.family === 'two-stage') {
    setIn(['stage1', 'epochs'], stage1Epochs ?? 0);
    setIn(['stage2', 'epochs'], stage2Epochs ?? 0);
  } else if (model.family === 'gan') {
    setIn(['epochs'], epochs ?? 0);
  } else {
    setIn(['stage1', 'epochs'], epochs ?? 0);
  }
  return out;
}

/** The run config (and trainer) a cell trains: exactly what `tsvae train` makes of the cell's options. */
export function cellRunConfig(
  study: Pick<Study, 'dataset'>,
  model: StudyModel,
  seed: number,
): { trainer: string; config: unknown } {
  const info = MODELS.find((m) => m.name === model.name);
  if (!info) throw new RangeError(`unknown model "${model.name}"`);
  return modelConfig(info, model.preset, study.dataset.name, cellOverrides(study, model, seed));
}

function resolvePath(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}

/** A plugin specifier: a path (starts with `.` or `/`) resolved against `base` as a file URL, else as given. */
export function resolvePluginSpecifier(base: string, spec: string): string {
  return spec.startsWith('.') || spec.startsWith('/') ? pathToFileURL(resolvePath(base, spec)).href : spec;
}

/**
 * Validates a study (an object, e.g. parsed JSON) and resolves it: defaults, each model's family,
 * budget and mode, and every cell's run config (so an unknown config field fails here, before any
 * training). `source` names the study in errors and is the base of relative paths when it is a
 * file path (default: the working directory). Throws {@link StudyError} listing every problem.
 *
 * @example
 * ```ts
 * const study = parseStudy({
 *   dataset: 'mnist', preset: 'quick', seeds: [0, 1],
 *   models: [{ name: 'two-stage-vae', stage1Epochs: 5, stage2Epochs: 20 }, { name: 'ns-gan', epochs: 5 }],
 *   evaluation: { extractors: ['classifier'], count: 2000, referenceCount: 2000 },
 * });
 * ```
 */
export function parseStudy(
  input: unknown,
  source = '<study>',
  options: { readonly baseDir?: string } = {},
): Study {
  const baseDir = options.baseDir ?? (source.startsWith('<') ? process.cwd() : dirname(resolve(source)));
  const parsed = studySchema.safeParse(input, { reportInput: true });
  if (!parsed.success) throw new StudyError(source, issuesOf(parsed.error));
  const s = parsed.data;
  const issues: StudyIssue[] = [];
  const known = MODELS.map((m) => m.name);

  s.seeds.forEach((seed, i) => {
    const first = s.seeds.indexOf(seed);
    if (first !== i)
      issues.push({ field: `seeds[${i}]`, message: `duplicate seed ${seed} (seeds[${first}])` });
  });

  const models: StudyModel[] = [];
  const ids = new Map<string, number>();
  s.models.forEach((m, i) => {
    const at = `models[${i}]`;
    const info = MODELS.find((x) => x.name === m.name);
    if (!info) {
      issues.push({ field: `${at}.name`, message: `unknown model "${m.name}" (known: ${known.join(', ')})` });
      return;
    }
    const family = modelFamily(info);
    const id = m.id ?? m.name;
    const other = ids.get(id);
    if (other !== undefined) {
      issues.push({
        field: m.id !== undefined ? `${at}.id` : `${at}.name`,
        message: `duplicate cell name "${id}" (models[${other}] has it): give one of them its own "id"`,
      });
    } else ids.set(id, i);
    if (family === 'two-stage') {
      if (m.epochs !== undefined) {
        issues.push({
          field: `${at}.epochs`,
          message: 'the Two-Stage VAE has two budgets: use stage1Epochs and stage2Epochs',
        });
      }
      for (const k of ['stage1Epochs', 'stage2Epochs'] as const) {
        if (m[k] === undefined) {
          issues.push({ field: `${at}.${k}`, message: 'required (the Two-Stage VAE has two budgets)' });
        }
      }
    } else {
      for (const k of ['stage1Epochs', 'stage2Epochs'] as const) {
        if (m[k] !== undefined) {
          issues.push({ field: `${at}.${k}`, message: `${m.name} is a single-stage model: use "epochs"` });
        }
      }
      if (m.epochs === undefined) {
        issues.push({
          field: `${at}.epochs`,
          message: `required (the training budget of ${m.name} in epochs)`,
        });
      }
    }
    const modes = MODES[family];
    if (m.mode !== undefined && !modes.includes(m.mode)) {
      issues.push({
        field: `${at}.mode`,
        message: `${m.name} samples in mode ${modes.map((x) => `"${x}"`).join(' or ')}, not "${m.mode}"`,
      });
    }
    const budget =
      family === 'two-stage'
        ? { stage1Epochs: m.stage1Epochs ?? 0, stage2Epochs: m.stage2Epochs ?? 0 }
        : { epochs: m.epochs ?? 0 };
    const mode = m.mode ?? (modes[0] as StudyModel['mode']);
    models.push({
      id,
      name: m.name,
      // sampled in another mode than its own, a model is not its Table 1 row (nor its published FID)
      table1: mode === modes[0] ? info.table1 : `${info.table1} (${mode} samples)`,
      family,
      trainer: info.trainer,
      preset: m.preset ?? s.preset,
      budget,
      totalEpochs: (budget.epochs ?? 0) + (budget.stage1Epochs ?? 0) + (budget.stage2Epochs ?? 0),
      config: m.config,
      mode,
    });
  });

  const dataset = {
    name: s.dataset.name,
    config: s.dataset.config,
    ...(s.dataset.subset !== undefined ? { subset: s.dataset.subset } : {}),
  };
  if (issues.length === 0) {
    // Every model's run config, as `tsvae train` will make it: unknown or invalid config fields now.
    models.forEach((m, i) => {
      try {
        cellRunConfig({ dataset }, m, s.seeds[0] as number);
      } catch (e) {
        const at = `models[${i}]`; // every entry resolved, so the indices match
        if (e instanceof RunConfigError) {
          for (const issue of e.issues) {
            issues.push({
              field: issue.field ? `${at}.config.${issue.field}` : `${at}.config`,
              message: issue.message,
            });
          }
        } else issues.push({ field: `${at}.config`, message: e instanceof Error ? e.message : String(e) });
      }
    });
  }
  if (!s.evaluation.metrics.includes('fid')) {
    issues.push({
      field: 'evaluation.metrics',
      message: 'must include "fid" (every result row reports FID)',
    });
  }
  if (issues.length) throw new StudyError(source, issues);

  const name = s.name ?? (source.startsWith('<') ? 'study' : basename(source, extname(source)));
  if (!NAME_RE.test(name)) {
    throw new StudyError(source, [
      { field: 'name', message: `the file name "${name}" is not a usable study name: set "name"` },
    ]);
  }
  const evaluation: StudyEvaluation = {
    ...s.evaluation,
    metrics: (['fid', 'kid', 'prdc'] as const).filter((m) => s.evaluation.metrics.includes(m)),
    ...(s.evaluation.inceptionWeights
      ? { inceptionWeights: resolvePath(baseDir, s.evaluation.inceptionWeights) }
      : {}),
    ...(s.evaluation.cacheDir ? { cacheDir: resolvePath(baseDir, s.evaluation.cacheDir) } : {}),
  };
  return {
    name,
    description: s.description,
    source: source.startsWith('<') ? source : resolve(source),
    dataset,
    preset: s.preset,
    models,
    seeds: s.seeds,
    evaluation,
    plugins: s.plugins.map((p) => resolvePluginSpecifier(baseDir, p)),
    ...(s.backend !== undefined ? { backend: s.backend } : {}),
    ...(s.jobs !== undefined ? { jobs: s.jobs } : {}),
  };
}

/** Reads and validates a study file: `.json`, or `.yaml` / `.yml` (YAML 1.2). */
export function loadStudy(path: string): Study {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new StudyError(file, [
      { field: '', message: code === 'ENOENT' ? 'no such file' : `cannot read it: ${(e as Error).message}` },
    ]);
  }
  let input: unknown;
  const ext = extname(file).toLowerCase();
  try {
    input = ext === '.yaml' || ext === '.yml' ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new StudyError(file, [
      {
        field: '',
        message: `not valid ${ext === '.json' || ext === '' ? 'JSON' : 'YAML'}: ${(e as Error).message}`,
      },
    ]);
  }
  return parseStudy(input, file);
}
