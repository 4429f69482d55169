import { type ConfigSchema, getRegistry, type PluginDefinition, type Registry } from '@tsvae/core';
import { EvaluationError } from './errors';

/**
 * What a feature extractor's {@link EvaluationExtractorPlugin.availability} hook sees: the
 * evaluation it would join.
 */
export interface ExtractorEnvironment {
  /** The dataset of the reference images (registry name and config). */
  readonly dataset: {
    readonly name: string;
    readonly config: Readonly<Record<string, unknown>>;
    /** Whether it has class labels (the dataset declares classes, or the split holds labels). */
    readonly labelled: boolean;
  };
  /** The cache directory of this evaluation (resolved: `@tsvae/core/node`'s `cacheDir` rule). */
  readonly cacheDir: string;
  /** An explicit FID Inception weights file (`evaluate()`'s `inceptionWeights`). */
  readonly inceptionWeights?: string | undefined;
  /** Whether the user named this extractor (rather than `'auto'` picking it). */
  readonly requested: boolean;
  /** The user's config for this extractor (`{}` when none); it overrides the defaults. */
  readonly userConfig: Readonly<Record<string, unknown>>;
}

/**
 * An extractor's answer: it can run, with these default config values (the user's config is laid
 * over them), or it cannot, and why (one sentence that says how to make it available).
 */
export type ExtractorAvailability =
  | { readonly available: true; readonly defaults: Readonly<Record<string, unknown>> }
  | { readonly available: false; readonly reason: string };

/**
 * A `feature-extractor` plugin that declares when it can run and with which defaults (the
 * pattern of torch-fidelity's feature extractors). `selectExtractors` reads the hook from the
 * registry's definition; `'auto'` considers exactly the registered extractors that have it. An
 * extractor without the hook runs only when named, with the user's config as it is.
 *
 * The hook must not do long work or downloads: it looks at the disk and the environment only.
 */
export interface EvaluationExtractorPlugin<S extends ConfigSchema = ConfigSchema>
  extends PluginDefinition<'feature-extractor', S> {
  availability(environment: ExtractorEnvironment): ExtractorAvailability;
}

/** Whether a plugin definition declares the availability hook. */
export function hasAvailability(
  definition: PluginDefinition<'feature-extractor'>,
): definition is EvaluationExtractorPlugin {
  return typeof (definition as { availability?: unknown }).availability === 'function';
}

/** What selection makes of the evaluation, shared by every extractor. */
export type SelectionEnvironment = Omit<ExtractorEnvironment, 'requested' | 'userConfig'>;

/** A chosen extractor: the plugin and the config to create it with (defaults + user config). */
export interface ChosenExtractor {
  readonly plugin: string;
  readonly config: Readonly<Record<string, unknown>>;
}

/** An extractor `'auto'` left out, and why. */
export interface SkippedExtractor {
  readonly plugin: string;
  readonly reason: string;
}

/** The result of {@link selectExtractors}. */
export interface ExtractorSelection {
  readonly chosen: readonly ChosenExtractor[];
  readonly skipped: readonly SkippedExtractor[];
}

/**
 * Which feature extractors an evaluation runs, and with which configs.
 *
 * - `'auto'`: every registered extractor with an availability hook (sorted by name; `classifier`
 *   and `inception-fid` here) that says it can run; the others are `skipped`, with the reason.
 * - a list of names: each must be registered, and one whose hook says it cannot run is an error
 *   naming it (a named extractor may do long work the hook would not, e.g. download weights).
 *
 * A chosen config is the hook's defaults with the user's config laid over them; an extractor
 * without the hook gets the user's config alone. A user config for an extractor that is not
 * registered is an error (a misspelt name would otherwise be ignored). Errors are
 * {@link EvaluationError}s naming the extractor.
 *
 * @example
 * ```ts
 * const { chosen, skipped } = selectExtractors('auto', {
 *   dataset: { name: 'mnist', config: {}, labelled: true }, cacheDir: cacheDir(),
 * });
 * ```
 */
export function selectExtractors(
  names: readonly string[] | 'auto',
  environment: SelectionEnvironment,
  userConfigs: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {},
  registry: Registry = getRegistry(),
): ExtractorSelection {
  const known = registry.list('feature-extractor');
  for (const name of Object.keys(userConfigs)) {
    if (!registry.has('feature-extractor', name)) {
      throw new EvaluationError({
        field: 'extractorConfigs',
        extractor: name,
        problem: `a config for a feature extractor that is not registered (known: ${known.join(', ')})`,
      });
    }
  }
  const requested = names !== 'auto';
  const candidates =
    names === 'auto'
      ? known.filter((n) => hasAvailability(registry.get('feature-extractor', n)))
      : [...new Set(names)];
  if (candidates.length === 0 && requested) {
    throw new EvaluationError({ field: 'extractors', problem: 'no feature extractor named' });
  }
  const chosen: ChosenExtractor[] = [];
  const skipped: SkippedExtractor[] = [];
  for (const name of candidates) {
    if (!registry.has('feature-extractor', name)) {
      throw new EvaluationError({
        field: 'extractors',
        extractor: name,
        problem: `no such feature extractor (known: ${known.join(', ')})`,
      });
    }
    const definition = registry.get('feature-extractor', name);
    const userConfig = userConfigs[name] ?? {};
    if (!hasAvailability(definition)) {
      chosen.push({ plugin: name, config: { ...userConfig } });
      continue;
    }
    const answer = definition.availability({ ...environment, requested, userConfig });
    if (!answer.available) {
      if (requested)
        throw new EvaluationError({ field: 'extractors', extractor: name, problem: answer.reason });
      skipped.push({ plugin: name, reason: answer.reason });
      continue;
    }
    chosen.push({ plugin: name, config: { ...answer.defaults, ...userConfig } });
  }
  return { chosen, skipped };
}
