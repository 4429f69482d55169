/**
 * The export format: `manifest.json` of a folder written by `tsvae export`, describing the tfjs
 * model files, how to rebuild each component through the registry, the reference samples and the
 * run's facts. One owner: the CLI writes it with these types, the browser reads it with
 * {@link parseExportManifest}.
 *
 * Versions: 1 (VAE runs only) and 2, which adds GAN runs: the sampling mode `gan`, the `generator`
 * component (with its code `prior`), `stage1: null` and `gamma: null` for a GAN. This package
 * writes version 2 and reads both (a version-1 manifest reads as version 2 with `generator: null`).
 */
import { z } from '@tsvae/core';

/** `format` of an export's `manifest.json`. */
export const EXPORT_FORMAT = 'tsvae-export';
/** The version of the export format this package writes. */
export const EXPORT_VERSION = 2;
/** The versions of the export format this package reads. */
export const EXPORT_VERSIONS_READ: readonly number[] = [1, 2];
/** The manifest's file name in an export folder. */
export const MANIFEST_FILE = 'manifest.json';

/**
 * How an export samples: `two-stage` / `one-stage` for a VAE run (`@tsvae/core`'s `SamplingMode`),
 * `gan` for a GAN run (codes from the generator's prior, `@tsvae/baselines`' `sampleGan`).
 */
export type ExportMode = 'one-stage' | 'two-stage' | 'gan';

const modeSchema = z.enum(['one-stage', 'two-stage', 'gan']);
const shape4 = z.tuple([
  z.number().int().positive(),
  z.number().int().positive(),
  z.number().int().positive(),
  z.number().int().positive(),
]);
/** A file name inside the export folder: no directories, no `..`. */
const fileName = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a plain file name inside the export folder');

const exportedModelSchema = z.object({
  /** The weight-name prefix of this model in the component (`''`, `encoder/`, `decoder/`). */
  prefix: z.string(),
  /** The tfjs `model.json` of the model (its weight shards sit beside it). */
  path: fileName,
});

const componentSchema = z.object({
  /** Registry plugin that rebuilds the component. */
  plugin: z.string().min(1),
  /** Its config (as the registry takes it). */
  config: z.record(z.string(), z.unknown()),
  /** Its tfjs-layers models; their weights, named `<prefix><layer>/<weight>`, are the component's. */
  models: z.array(exportedModelSchema).min(1),
});

/** A GAN generator: the component plus the distribution its codes are drawn from. */
const generatorSchema = componentSchema.extend({
  /** The code distribution: `uniform` on [-1, 1]^zDim (compare_gan) or standard `normal`. */
  prior: z.enum(['uniform', 'normal']),
});

const referenceSchema = z.object({
  mode: modeSchema,
  seed: z.number().int().min(0),
  count: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  /** `[n, H, W, C]`. */
  shape: shape4,
  /** The grid as Node drew it (`@tsvae/stages`' `imageGridPng`). */
  png: fileName,
  /** The image values Node computed: float32, little-endian, NHWC. */
  values: fileName,
});

const evalResultSchema = z.object({
  generator: z.string(),
  extractor: z.string(),
  fid: z.number(),
  fidStd: z.number(),
  kid: z.number().nullable(),
  count: z.number().int(),
  referenceCount: z.number().int(),
});

/**
 * The zod schema of `manifest.json` (versions 1 and 2; see the module comment). A VAE export has
 * `stage1` and modes `two-stage` / `one-stage`; a GAN export has `generator`, `stage1: null`,
 * `secondStage: null`, `gamma: null` and the mode `gan` only.
 */
export const exportManifestSchema = z
  .object({
    format: z.literal(EXPORT_FORMAT),
    version: z.union([z.literal(1), z.literal(2)]),
    createdAt: z.string(),
    run: z.object({
      /** The run directory's name. */
      id: z.string().min(1),
      trainer: z.string(),
      seed: z.number().int(),
      createdAt: z.string(),
      /** Where the exported checkpoint stands (`stage: 'done'` for a finished run). */
      position: z.object({
        stage: z.enum(['stage1', 'stage2', 'done']),
        epoch: z.number().int().min(0),
        step: z.number().int().min(0),
      }),
      /** The checkpoint's directory name. */
      checkpoint: z.string(),
      /**
       * Epochs trained per stage. A GAN run trains in one stage, recorded as `stage1` (as its
       * checkpoints' `position.stage` is while it trains); its `stage2` is 0.
       */
      epochs: z.object({ stage1: z.number().int().min(0), stage2: z.number().int().min(0) }),
    }),
    dataset: z.object({ plugin: z.string(), config: z.record(z.string(), z.unknown()) }),
    /** `[H, W, C]`. */
    imageShape: z.tuple([
      z.number().int().positive(),
      z.number().int().positive(),
      z.number().int().positive(),
    ]),
    /** The dimension of the codes sampling draws: κ (the stage-1 latent dimension), or a GAN's z_dim. */
    latentDim: z.number().int().positive(),
    /** The stage-1 decoder's gamma (1 where the likelihood has none); null for a GAN. */
    gamma: z.number().nullable(),
    /** The second stage's gamma_z, when it reports one. */
    gammaZ: z.number().nullable(),
    /**
     * The sampling modes this export supports: `two-stage` (needs a finished, exported second stage)
     * and / or `one-stage` for a VAE run, `gan` for a GAN run.
     */
    modes: z.array(modeSchema).min(1),
    /** What the export left out and why, in plain words. */
    notes: z.array(z.string()),
    /** The stage-1 decoder (`stage1.decoder`) in the tfjs model format; null for a GAN. */
    stage1: z.object({ decoder: componentSchema }).nullable(),
    /** The whole second stage in the tfjs model format; null when `two-stage` is not exported. */
    secondStage: componentSchema.nullable(),
    /** A GAN run's generator (kind `gan-generator`) in the tfjs model format; null for a VAE (absent in version 1). */
    generator: generatorSchema.nullable().default(null),
    /** Sampling defaults the references were drawn with (seed -> draws depends on `batchSize`). */
    sampling: z.object({ batchSize: z.number().int().positive() }),
    references: z.array(referenceSchema),
    /** The run's `eval.json` (copied as `file`) and its FID / KID per generator, when it had one. */
    eval: z
      .object({
        file: fileName,
        /** Whether the evaluation was of the exported checkpoint. */
        sameCheckpoint: z.boolean(),
        results: z.array(evalResultSchema),
      })
      .nullable(),
    /** Package versions of the exporting process. */
    versions: z.record(z.string(), z.string()),
    /** The tfjs backend Node computed the reference values on. */
    backend: z.string(),
    /** Every other file of the export: size and sha256 (hex). */
    files: z.record(
      fileName,
      z.object({ bytes: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
    ),
  })
  .superRefine((m, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const gan = m.modes.includes('gan');
    if (gan) {
      if (m.version < 2) issue('modes', 'the mode gan needs format version 2');
      if (m.modes.length > 1) issue('modes', 'a GAN export has the mode gan only');
      if (!m.generator) issue('generator', 'missing, but modes lists gan');
      if (m.stage1 !== null) issue('stage1', 'must be null in a GAN export');
      if (m.secondStage !== null) issue('secondStage', 'must be null in a GAN export');
    } else {
      if (m.generator !== null) issue('generator', 'must be null in a VAE export (modes lists no gan)');
      if (!m.stage1) issue('stage1', 'missing, but modes lists a VAE sampling mode');
      if (m.gamma === null) issue('gamma', 'missing, but the export is of a VAE');
      if (m.modes.includes('two-stage') && !m.secondStage)
        issue('secondStage', 'missing, but modes lists two-stage');
    }
    for (const [i, r] of m.references.entries()) {
      if (!m.modes.includes(r.mode)) {
        ctx.addIssue({
          code: 'custom',
          path: ['references', i, 'mode'],
          message: `${r.mode} is not a mode of this export`,
        });
      }
    }
  });

/** `manifest.json` of an export. */
export type ExportManifest = z.output<typeof exportManifestSchema>;
/** A component (the stage-1 decoder, the second stage, a GAN's generator) of an export. */
export type ExportedComponent = NonNullable<ExportManifest['secondStage']>;
/** A GAN's generator in an export: the component and its code prior. */
export type ExportedGenerator = NonNullable<ExportManifest['generator']>;
/** One tfjs model of an exported component. */
export type ExportedModel = ExportedComponent['models'][number];
/** A reference grid: seed, count and the values Node computed. */
export type ReferenceSample = ExportManifest['references'][number];
/** FID / KID of one generator from the run's `eval.json`. */
export type ExportEvalResult = NonNullable<ExportManifest['eval']>['results'][number];

/** A manifest that cannot be read: the message names the file and the field. */
export class ExportFormatError extends Error {
  override readonly name = 'ExportFormatError';
  constructor(
    /** The file (or URL) that is wrong. */
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

/**
 * Parses `manifest.json` (already JSON-decoded): checks the format and version and every field;
 * errors name `path` and the field.
 */
export function parseExportManifest(json: unknown, path = MANIFEST_FILE): ExportManifest {
  const format = (json as { format?: unknown } | null)?.format;
  const version = (json as { version?: unknown } | null)?.version;
  if (format !== EXPORT_FORMAT) {
    throw new ExportFormatError(path, `not a tsvae export (format ${JSON.stringify(format)})`);
  }
  if (typeof version !== 'number' || !EXPORT_VERSIONS_READ.includes(version)) {
    const newer = typeof version === 'number' && version > EXPORT_VERSION;
    throw new ExportFormatError(
      path,
      `export format version ${JSON.stringify(version)}; this @tsvae/web reads versions ${EXPORT_VERSIONS_READ.join(' and ')} (${
        newer ? 'update @tsvae/web to read it' : 'export the run again'
      })`,
    );
  }
  const parsed = exportManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.length ? `field ${i.path.join('.')}` : 'value'}: ${i.message}`)
      .join('; ');
    throw new ExportFormatError(path, issues);
  }
  return parsed.data;
}
