/**
 * Building an export in memory: the stage-1 decoder and the second stage (a VAE run) or the
 * generator (a GAN run) as tfjs model files, the reference samples (drawn with `@tsvae/core`'s
 * sampling, or `@tsvae/baselines`' `sampleGan`) and `manifest.json` with every file's sha256. Bytes
 * only (Web Crypto for the digests); the CLI writes them to a folder.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { type GanGenerator, type GanPrior, sampleGan } from '@tsvae/baselines/browser';
import {
  DEFAULT_SAMPLE_BATCH_SIZE,
  type Decoder,
  decoderMean,
  type SecondStage,
  sampleOneStage,
  sampleTwoStage,
} from '@tsvae/core';
import { LayersModule } from '@tsvae/layers';
import pkg from '../package.json' with { type: 'json' };
import { maxAbsDiff } from './compare';
import { type LoadedExport, loadExport, memoryReader } from './load';
import {
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportedComponent,
  type ExportManifest,
  type ExportMode,
  MANIFEST_FILE,
  parseExportManifest,
} from './manifest';
import { encodeLayersModel } from './model-files';

/** The version of `@tsvae/web` (recorded in model.json's `convertedBy` and the manifest). */
export const WEB_VERSION: string = pkg.version;

/** A component to export: the registry plugin and config that rebuild it, and the built module. */
export interface ComponentToExport<M> {
  readonly plugin: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** The trained module; it must be a tfjs-layers model set (`@tsvae/layers`' `LayersModule`). */
  readonly module: M;
}

/** What every export needs: the run's facts, references, eval, versions, the PNG encoder. */
export interface ExportCommonInput {
  readonly run: ExportManifest['run'];
  readonly dataset: ExportManifest['dataset'];
  readonly imageShape: ExportManifest['imageShape'];
  readonly notes?: readonly string[];
  /** Reference grids, one per sampling mode: `count` images (default 16) of `seed` (default 0). */
  readonly references?: { readonly seed?: number; readonly count?: number; readonly batchSize?: number };
  /** The run's `eval.json` bytes and its summary, when it has one. */
  readonly eval?: {
    readonly bytes: Uint8Array;
    readonly sameCheckpoint: boolean;
    readonly results: NonNullable<ExportManifest['eval']>['results'];
  } | null;
  readonly versions: Readonly<Record<string, string>>;
  /** The tfjs backend the references are computed on (default `tf.getBackend()`). */
  readonly backend?: string;
  /** PNG bytes of a grid of images (values NHWC in [0, 1]); Node passes `@tsvae/stages`' `imageGridPng`. */
  encodePng(images: tf.Tensor4D): Uint8Array;
  /** Weight shard size (default 4 MiB). */
  readonly shardBytes?: number;
  readonly createdAt?: string;
}

/** What {@link buildExport} needs: a VAE run. */
export interface ExportInput extends ExportCommonInput {
  readonly gamma: number;
  readonly gammaZ: number | null;
  readonly decoder: ComponentToExport<Decoder>;
  /** null: one-stage sampling only (say why in `notes`). */
  readonly secondStage: ComponentToExport<SecondStage> | null;
}

/** What {@link buildGanExport} needs: a GAN run's generator and its code prior. */
export interface GanExportInput extends ExportCommonInput {
  readonly generator: ComponentToExport<GanGenerator> & { readonly prior: GanPrior };
}

/** An export in memory: its manifest and every file (manifest.json included) by name. */
export interface ExportFiles {
  readonly manifest: ExportManifest;
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** Why a component cannot be exported in the tfjs model format (null: it can). */
export function exportability(module: unknown): string | null {
  return module instanceof LayersModule
    ? null
    : 'it is not a tfjs-layers model (a @tsvae/layers LayersModule)';
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle)
    throw new Error('buildExport: Web Crypto (crypto.subtle) is needed for the sha256 of the files');
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function float32Le(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
  return out;
}

/**
 * File-name stem of a model of a component: `stage1-decoder`, `stage2-encoder`, `stage2-decoder`,
 * `gan-generator`.
 */
function modelStem(component: 'stage1' | 'stage2' | 'gan', prefix: string, fallback: string): string {
  const name = prefix.replace(/\/$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
  return `${component}-${name || fallback}`;
}

async function exportComponent(
  what: string,
  stem: 'stage1' | 'stage2' | 'gan',
  fallback: string,
  c: ComponentToExport<unknown>,
  files: Map<string, Uint8Array>,
  shardBytes: number | undefined,
): Promise<ExportedComponent> {
  const why = exportability(c.module);
  if (why) throw new Error(`cannot export the ${what} (plugin "${c.plugin}"): ${why}`);
  const models: ExportedComponent['models'] = [];
  for (const [prefix, model] of (c.module as LayersModule).models as ReadonlyMap<string, LayersModel>) {
    const encoded = await encodeLayersModel(model, modelStem(stem, prefix, fallback), {
      ...(shardBytes === undefined ? {} : { shardBytes }),
      generatedBy: `@tsvae/web ${WEB_VERSION}`,
    });
    files.set(encoded.modelJsonName, new TextEncoder().encode(`${JSON.stringify(encoded.modelJson)}\n`));
    for (const s of encoded.shards) files.set(s.name, s.data);
    models.push({ prefix, path: encoded.modelJsonName });
  }
  return { plugin: c.plugin, config: { ...c.config }, models };
}

/**
 * Builds an export of a VAE run in memory: each tfjs-layers model of the decoder and of the second
 * stage as `<stage>-<part>.json` + shards, one reference grid per sampling mode
 * (`<mode>-seed<seed>.png` and `.f32`, the values float32 little-endian), `eval.json` when given,
 * and `manifest.json` listing the size and sha256 of every other file.
 */
export async function buildExport(input: ExportInput): Promise<ExportFiles> {
  const files = new Map<string, Uint8Array>();
  const decoder = await exportComponent(
    'stage-1 decoder',
    'stage1',
    'decoder',
    input.decoder,
    files,
    input.shardBytes,
  );
  const secondStage = input.secondStage
    ? await exportComponent('second stage', 'stage2', 'model', input.secondStage, files, input.shardBytes)
    : null;
  const sampler = decoderMean(input.decoder.module);
  const stage2 = input.secondStage?.module;
  return finishExport(
    input,
    files,
    stage2 ? ['two-stage', 'one-stage'] : ['one-stage'],
    (mode, count, options) =>
      mode === 'two-stage' && stage2
        ? sampleTwoStage(sampler, stage2, count, options)
        : sampleOneStage(sampler, count, options),
    {
      latentDim: input.decoder.module.latentDim,
      gamma: input.gamma,
      gammaZ: input.gammaZ,
      stage1: { decoder },
      secondStage,
      generator: null,
    },
  );
}

/**
 * Builds an export of a GAN run in memory: the generator's tfjs-layers model as `gan-generator.json`
 * + shards, its code prior, a reference grid of the mode `gan` (`gan-seed<seed>.png` and `.f32`,
 * drawn with `@tsvae/baselines`' `sampleGan`, as `tsvae sample` draws), `eval.json` when given,
 * and `manifest.json` (modes `['gan']`, `latentDim` the generator's z_dim, `gamma` / `gammaZ` null).
 */
export async function buildGanExport(input: GanExportInput): Promise<ExportFiles> {
  const files = new Map<string, Uint8Array>();
  const component = await exportComponent(
    'generator',
    'gan',
    'generator',
    input.generator,
    files,
    input.shardBytes,
  );
  const generator = input.generator.module;
  const prior = input.generator.prior;
  return finishExport(
    input,
    files,
    ['gan'],
    (_mode, count, options) => sampleGan(generator, count, { ...options, prior }),
    {
      latentDim: generator.zDim,
      gamma: null,
      gammaZ: null,
      stage1: null,
      secondStage: null,
      generator: { ...component, prior },
    },
  );
}

/** The reference grids, `eval.json` and the manifest of an export whose model files are in `files`. */
async function finishExport(
  input: ExportCommonInput,
  files: Map<string, Uint8Array>,
  modes: ExportMode[],
  draw: (mode: ExportMode, count: number, options: { seed: number; batchSize: number }) => tf.Tensor4D,
  models: Pick<ExportManifest, 'latentDim' | 'gamma' | 'gammaZ' | 'stage1' | 'secondStage' | 'generator'>,
): Promise<ExportFiles> {
  const seed = input.references?.seed ?? 0;
  const count = input.references?.count ?? 16;
  const batchSize = input.references?.batchSize ?? DEFAULT_SAMPLE_BATCH_SIZE;
  const references: ExportManifest['references'] = [];
  for (const mode of modes) {
    const images = draw(mode, count, { seed, batchSize });
    try {
      const stem = `${mode}-seed${seed}`;
      files.set(`${stem}.png`, input.encodePng(images));
      files.set(`${stem}.f32`, float32Le(images.dataSync() as Float32Array));
      references.push({
        mode,
        seed,
        count,
        batchSize,
        shape: images.shape as [number, number, number, number],
        png: `${stem}.png`,
        values: `${stem}.f32`,
      });
    } finally {
      images.dispose();
    }
  }
  if (input.eval) files.set('eval.json', input.eval.bytes);
  const listed: ExportManifest['files'] = {};
  for (const [name, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    listed[name] = { bytes: bytes.byteLength, sha256: await sha256Hex(bytes) };
  }
  const manifest: ExportManifest = parseExportManifest(
    {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      createdAt: input.createdAt ?? new Date().toISOString(),
      run: input.run,
      dataset: input.dataset,
      imageShape: [...input.imageShape],
      latentDim: models.latentDim,
      gamma: models.gamma,
      gammaZ: models.gammaZ,
      modes,
      notes: [...(input.notes ?? [])],
      stage1: models.stage1,
      secondStage: models.secondStage,
      generator: models.generator,
      sampling: { batchSize },
      references,
      eval: input.eval
        ? { file: 'eval.json', sameCheckpoint: input.eval.sameCheckpoint, results: input.eval.results }
        : null,
      versions: { ...input.versions, '@tsvae/web': WEB_VERSION },
      backend: input.backend ?? tf.getBackend(),
      files: listed,
    },
    `${MANIFEST_FILE} (being written)`,
  );
  files.set(MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  return { manifest, files };
}

/** Per reference grid: the largest absolute difference between a reload's samples and the stored values. */
export interface ExportCheck {
  readonly mode: ExportMode;
  readonly seed: number;
  readonly maxAbsDiff: number;
}

/**
 * Reloads an export through {@link loadExport} (the code a page runs) and redraws every reference
 * grid: the largest absolute difference to the stored values per grid. On the backend that drew
 * the references it is 0.
 */
export async function checkExport(files: ReadonlyMap<string, Uint8Array>): Promise<ExportCheck[]> {
  let loaded: LoadedExport | undefined;
  try {
    loaded = await loadExport(memoryReader(files));
    const out: ExportCheck[] = [];
    for (const ref of loaded.manifest.references) {
      const expected = await loaded.referenceValues(ref);
      const images = loaded.sample(ref.mode, ref.count, { seed: ref.seed, batchSize: ref.batchSize });
      const max = maxAbsDiff(images.dataSync(), expected);
      images.dispose();
      out.push({ mode: ref.mode, seed: ref.seed, maxAbsDiff: max });
    }
    return out;
  } finally {
    loaded?.dispose();
  }
}
