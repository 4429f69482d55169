/**
 * Loading an export (from a URL, a dropped folder or memory) and sampling from it with the code
 * Node samples with: the components are rebuilt through the registry from their recorded
 * `{ plugin, config }` (the `@tsvae/layers` plugins, and `@tsvae/baselines/browser`'s generators for
 * a GAN), their weights come from the tfjs model files, and sampling is `@tsvae/core`'s (VAE runs)
 * or `@tsvae/baselines`' `sampleGan` (GAN runs).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import {
  type GanGenerator,
  registerGanGeneratorPlugins,
  sampleGan,
  sampleGanCodes,
} from '@tsvae/baselines/browser';
import {
  create,
  type Decoder,
  decoderMean,
  type InterpolationMethod,
  interpolateLatents,
  type Logger,
  type Module,
  type NamedWeight,
  type SampleDecoder,
  type SampleOptions,
  type SecondStage,
  sampleLatents,
  sampleOneStage,
  sampleTwoStage,
  silentLogger,
} from '@tsvae/core';
import { LayersModule, registerLayersPlugins } from '@tsvae/layers';
import {
  type ExportedComponent,
  ExportFormatError,
  type ExportManifest,
  type ExportMode,
  MANIFEST_FILE,
  parseExportManifest,
  type ReferenceSample,
} from './manifest';
import { modelArtifactsFromFiles } from './model-files';

/** Reads a file of an export by its name (relative to the export folder). */
export type ExportReader = (path: string) => Promise<Uint8Array>;

/** An export file that cannot be read or does not match the manifest: names the file. */
export class ExportLoadError extends Error {
  override readonly name = 'ExportLoadError';
  constructor(
    /** The file (or URL) involved. */
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

/**
 * Reads export files over HTTP(S) relative to `base` (a folder URL; a missing trailing `/` is
 * added). Errors name the URL and the HTTP status.
 */
export function urlReader(base: string | URL, fetchFn: typeof fetch = globalThis.fetch): ExportReader {
  const text = String(base);
  const folder = text.endsWith('/') ? text : `${text}/`;
  return async (path) => {
    const url = new URL(
      path,
      new URL(folder, (globalThis as { location?: { href: string } }).location?.href ?? 'http://localhost/'),
    ).href;
    let response: Response;
    try {
      response = await fetchFn(url);
    } catch (e) {
      throw new ExportLoadError(url, `cannot fetch: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
    if (!response.ok) throw new ExportLoadError(url, `HTTP ${response.status} ${response.statusText}`.trim());
    return new Uint8Array(await response.arrayBuffer());
  };
}

/** A file of a dropped folder: a `File`, or anything with its bytes and relative path. */
export interface FolderFile {
  /** The path inside the dropped folder (`webkitRelativePath`, e.g. `my-export/manifest.json`) or the name. */
  readonly path: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * Reads export files from a dropped folder or a file list (`<input webkitdirectory>`): the folder
 * holding `manifest.json` is the export (files are matched by their path below it).
 */
export function folderReader(files: Iterable<FolderFile>): ExportReader {
  const all = [...files];
  const manifest = all
    .filter((f) => f.path === MANIFEST_FILE || f.path.endsWith(`/${MANIFEST_FILE}`))
    .sort((a, b) => a.path.length - b.path.length)[0];
  if (!manifest) {
    throw new ExportLoadError(
      MANIFEST_FILE,
      'the dropped files hold no manifest.json (drop a tsvae export folder)',
    );
  }
  const root = manifest.path.slice(0, manifest.path.length - MANIFEST_FILE.length);
  const byPath = new Map(
    all.filter((f) => f.path.startsWith(root)).map((f) => [f.path.slice(root.length), f]),
  );
  return async (path) => {
    const f = byPath.get(path);
    if (!f) throw new ExportLoadError(`${root}${path}`, 'missing from the dropped folder');
    return new Uint8Array(await f.arrayBuffer());
  };
}

/** Reads export files from memory (name -> bytes), e.g. what `tsvae export` is about to write. */
export function memoryReader(
  files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>,
): ExportReader {
  const map = files instanceof Map ? files : new Map(Object.entries(files));
  return async (path) => {
    const bytes = map.get(path);
    if (!bytes) throw new ExportLoadError(path, 'no such file in the export');
    return bytes;
  };
}

async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Options of {@link loadExport}. */
export interface LoadExportOptions {
  /**
   * Check every file's size and sha256 against the manifest (default true). Where Web Crypto is
   * missing (a page on plain http other than localhost) only sizes are checked and
   * `LoadedExport.verified` says so.
   */
  readonly verify?: boolean;
  readonly logger?: Logger;
}

/** A loaded export: its manifest, the rebuilt models and sampling with the Node code. */
export interface LoadedExport {
  readonly manifest: ExportManifest;
  /**
   * Codes to images: the stage-1 decoder (its mean) of a VAE export, the generator `G(z)`
   * (inference mode) of a GAN export.
   */
  readonly decoder: SampleDecoder;
  /** The second stage; null when the export has no two-stage sampling (one-stage only, or a GAN). */
  readonly secondStage: SecondStage | null;
  /** A GAN export's generator; null for a VAE export. */
  readonly generator: GanGenerator | null;
  /** `sha256`: every file's digest matched; `size`: only sizes were checked; `none`: not checked. */
  readonly verified: 'sha256' | 'size' | 'none';
  /** The codes `z` behind {@link LoadedExport.sample} with the same arguments. */
  latents(mode: ExportMode, n: number, options?: SampleOptions): tf.Tensor2D;
  /**
   * `n` images `[n, H, W, C]` in [0, 1]: `@tsvae/core`'s `sampleOneStage` / `sampleTwoStage`, or
   * `@tsvae/baselines`' `sampleGan` with the generator's prior (mode `gan`).
   */
  sample(mode: ExportMode, n: number, options?: SampleOptions): tf.Tensor4D;
  /** Images of codes `z` `[m, latentDim]`. */
  decode(z: tf.Tensor2D): tf.Tensor4D;
  /**
   * `steps` images between samples `from` and `to` of the grid `sample(mode, n, options)`: their
   * codes interpolated (`@tsvae/core`'s `interpolateLatents`) and decoded. The ends are those samples.
   */
  interpolate(
    mode: ExportMode,
    n: number,
    path: {
      readonly from: number;
      readonly to: number;
      readonly steps: number;
      readonly method?: InterpolationMethod;
    },
    options?: SampleOptions,
  ): tf.Tensor4D;
  /** The values Node computed for a reference grid (float32 NHWC). */
  referenceValues(reference: ReferenceSample): Promise<Float32Array>;
  dispose(): void;
}

function modeError(manifest: ExportManifest, mode: ExportMode): Error {
  return new Error(
    `this export has ${manifest.modes.join(' and ')} sampling only, not ${mode}${manifest.notes.length ? ` (${manifest.notes.join('; ')})` : ''}`,
  );
}

/** Rebuilds a component through the registry and loads the weights of its tfjs models into it. */
type Components = { decoder: Decoder; 'second-stage': SecondStage; 'gan-generator': GanGenerator };

async function loadComponent<K extends keyof Components>(
  kind: K,
  component: ExportedComponent,
  read: ExportReader,
  logger: Logger,
): Promise<Components[K]> {
  const models: Record<string, LayersModel> = {};
  try {
    for (const m of component.models) {
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(new TextDecoder().decode(await read(m.path))) as tf.io.ModelJSON;
      } catch (e) {
        if (e instanceof ExportLoadError) throw e;
        throw new ExportLoadError(m.path, `not JSON: ${(e as Error).message}`, { cause: e });
      }
      try {
        const artifacts = await modelArtifactsFromFiles(modelJson, read);
        models[m.prefix] = await loadLayersModel(tf.io.fromMemory(artifacts));
      } catch (e) {
        if (e instanceof ExportLoadError) throw e;
        throw new ExportLoadError(m.path, `not a loadable tfjs layers model: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    // A fixed seed keeps the rebuilt component's (overwritten) initial weights off Math.random.
    const built = (await create(kind, component.plugin, component.config, {
      context: { logger, seed: 1 },
    })) as unknown as Module;
    try {
      const weights: NamedWeight[] = new LayersModule(models).getWeights();
      built.setWeights(weights);
    } catch (e) {
      built.dispose();
      throw new ExportLoadError(
        component.models.map((m) => m.path).join(', '),
        `the weights do not fit the ${kind} plugin "${component.plugin}": ${(e as Error).message}`,
        { cause: e },
      );
    }
    return built as unknown as Components[K];
  } finally {
    for (const m of Object.values(models)) m.dispose();
  }
}

/**
 * Loads an export: reads and checks `manifest.json`, verifies every file (size and sha256), and
 * rebuilds the stage-1 decoder and the second stage, or a GAN's generator, through the registry
 * (`@tsvae/layers`' plugins and `@tsvae/baselines/browser`'s generators are registered here) with
 * the weights of their tfjs model files. Errors name the file.
 *
 * @example
 * ```ts
 * import { loadExport, urlReader } from '@tsvae/web';
 * const model = await loadExport(urlReader('/example/'));
 * const images = model.sample('two-stage', 16, { seed: 0 }); // what `tsvae export` drew for seed 0
 * ```
 */
export async function loadExport(read: ExportReader, options: LoadExportOptions = {}): Promise<LoadedExport> {
  const logger = options.logger ?? silentLogger;
  registerLayersPlugins();
  registerGanGeneratorPlugins();
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(await read(MANIFEST_FILE)));
  } catch (e) {
    if (e instanceof ExportLoadError) throw e;
    throw new ExportFormatError(MANIFEST_FILE, `not JSON: ${(e as Error).message}`);
  }
  const manifest = parseExportManifest(json);

  let verified: LoadedExport['verified'] = 'none';
  let reader = read;
  if (options.verify ?? true) {
    verified = globalThis.crypto?.subtle ? 'sha256' : 'size';
    if (verified === 'size') logger.warn('Web Crypto is unavailable here: export files checked by size only');
    reader = async (path) => {
      const expected = manifest.files[path];
      if (!expected) throw new ExportLoadError(path, `not listed in ${MANIFEST_FILE}`);
      const bytes = await read(path);
      if (bytes.byteLength !== expected.bytes) {
        throw new ExportLoadError(
          path,
          `${bytes.byteLength} bytes, ${MANIFEST_FILE} says ${expected.bytes} (a damaged or partial copy)`,
        );
      }
      const digest = await sha256Hex(bytes);
      if (digest !== null && digest !== expected.sha256) {
        throw new ExportLoadError(
          path,
          `sha256 ${digest} differs from ${MANIFEST_FILE}'s ${expected.sha256} (a damaged copy)`,
        );
      }
      return bytes;
    };
  }

  const defaults = (o: SampleOptions | undefined): SampleOptions => ({
    batchSize: manifest.sampling.batchSize,
    ...o,
  });
  if (manifest.generator) {
    const generator = await loadComponent('gan-generator', manifest.generator, reader, logger);
    if (generator.zDim !== manifest.latentDim) {
      generator.dispose();
      throw new ExportFormatError(
        MANIFEST_FILE,
        `field latentDim: ${manifest.latentDim}, but the generator takes codes of ${generator.zDim}`,
      );
    }
    const prior = manifest.generator.prior;
    const gan = (o: SampleOptions | undefined) => ({ ...defaults(o), prior });
    return loaded({
      decoder: {
        latentDim: generator.zDim,
        decode: (z, options) => generator.forward(z, options),
      },
      secondStage: null,
      generator,
      latents: (n, o) => sampleGanCodes(generator.zDim, n, gan(o)),
      sample: (n, o) => sampleGan(generator, n, gan(o)),
      dispose: () => generator.dispose(),
    });
  }
  if (!manifest.stage1) throw new ExportFormatError(MANIFEST_FILE, 'field stage1: missing');
  const decoderModule = await loadComponent('decoder', manifest.stage1.decoder, reader, logger);
  let secondStage: SecondStage | null = null;
  try {
    if (manifest.modes.includes('two-stage')) {
      if (!manifest.secondStage) {
        throw new ExportFormatError(MANIFEST_FILE, 'field secondStage: missing, but modes lists two-stage');
      }
      secondStage = await loadComponent('second-stage', manifest.secondStage, reader, logger);
    }
  } catch (e) {
    decoderModule.dispose();
    throw e;
  }
  const decoder = decoderMean(decoderModule);
  const stage = (mode: ExportMode): SecondStage | null => (mode === 'two-stage' ? secondStage : null);
  return loaded({
    decoder,
    secondStage,
    generator: null,
    latents: (n, o, mode) => sampleLatents(manifest.latentDim, stage(mode), n, defaults(o)),
    sample(n, o, mode) {
      const s2 = stage(mode);
      return s2 ? sampleTwoStage(decoder, s2, n, defaults(o)) : sampleOneStage(decoder, n, defaults(o));
    },
    dispose() {
      decoderModule.dispose();
      secondStage?.dispose();
    },
  });

  /** The {@link LoadedExport} over one kind of export's models and sampling functions. */
  function loaded(parts: {
    decoder: SampleDecoder;
    secondStage: SecondStage | null;
    generator: GanGenerator | null;
    /** The codes of `sample` (mode already checked). */
    latents(n: number, o: SampleOptions | undefined, mode: ExportMode): tf.Tensor2D;
    sample(n: number, o: SampleOptions | undefined, mode: ExportMode): tf.Tensor4D;
    dispose(): void;
  }): LoadedExport {
    const check = (mode: ExportMode): ExportMode => {
      if (!manifest.modes.includes(mode)) throw modeError(manifest, mode);
      return mode;
    };
    const { decoder } = parts;
    return {
      manifest,
      decoder,
      secondStage: parts.secondStage,
      generator: parts.generator,
      verified,
      latents: (mode, n, o) => parts.latents(n, o, check(mode)),
      sample: (mode, n, o) => parts.sample(n, o, check(mode)),
      decode: (z) => decoder.decode(z, { training: false }),
      interpolate(mode, n, path, o) {
        check(mode);
        for (const [name, i] of [
          ['from', path.from],
          ['to', path.to],
        ] as const) {
          if (!Number.isInteger(i) || i < 0 || i >= n)
            throw new Error(`interpolate: ${name} ${i} is not a sample of 0..${n - 1}`);
        }
        return tf.tidy(() => {
          const z = parts.latents(n, o, mode);
          const a = tf.slice(z, [path.from, 0], [1, -1]);
          const b = tf.slice(z, [path.to, 0], [1, -1]);
          return decoder.decode(interpolateLatents(a, b, path.steps, path.method ?? 'linear'), {
            training: false,
          });
        });
      },
      referenceValues,
      dispose: () => parts.dispose(),
    };
  }

  async function referenceValues(reference: ReferenceSample): Promise<Float32Array> {
    const bytes = await reader(reference.values);
    const expected = reference.shape.reduce((a, b) => a * b, 1);
    if (bytes.byteLength !== expected * 4) {
      throw new ExportLoadError(reference.values, `${bytes.byteLength} bytes for ${expected} float32 values`);
    }
    const out = new Float32Array(expected);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < expected; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
}
