import { z } from 'zod';
import {
  type ConfigIssue,
  DuplicatePluginError,
  InvalidConfigError,
  PluginError,
  PluginLoadError,
  UnknownPluginError,
} from './errors';
import { silentLogger } from './logger';
import type {
  Dataset,
  Decoder,
  Encoder,
  FeatureExtractor,
  Generator,
  PluginContext,
  SecondStage,
} from './types';

/**
 * Maps each plugin kind to the type its factory returns. Third-party packages can add kinds by
 * declaration merging (`declare module '@tsvae/core' { interface PluginKinds { ... } }`) and
 * {@link Registry.registerKind}.
 */
export interface PluginKinds {
  encoder: Encoder;
  decoder: Decoder;
  'second-stage': SecondStage;
  dataset: Dataset;
  'feature-extractor': FeatureExtractor;
  generator: Generator;
}

/** A plugin kind. */
export type PluginKind = keyof PluginKinds & string;

/** The built-in plugin kinds. */
export const PLUGIN_KINDS: readonly PluginKind[] = [
  'encoder',
  'decoder',
  'second-stage',
  'dataset',
  'feature-extractor',
  'generator',
];

/** A zod schema for a plugin config. */
export type ConfigSchema = z.ZodType;

/**
 * A plugin: a name, a config schema (defaults filled in by the schema) and a factory.
 *
 * @example
 * ```ts
 * import { definePlugin, register } from '@tsvae/core';
 * import { z } from 'zod';
 * register(definePlugin({
 *   kind: 'dataset',
 *   name: 'my-data',
 *   configSchema: z.object({ size: z.number().int().positive().default(100) }),
 *   create: (config) => makeMyDataset(config.size),
 * }));
 * ```
 */
export interface PluginDefinition<K extends PluginKind = PluginKind, S extends ConfigSchema = ConfigSchema> {
  readonly kind: K;
  readonly name: string;
  readonly description?: string;
  readonly configSchema: S;
  create(config: z.output<S>, context: PluginContext): PluginKinds[K] | Promise<PluginKinds[K]>;
}

/** Identity helper that infers a plugin definition's types. */
export function definePlugin<K extends PluginKind, S extends ConfigSchema>(
  definition: PluginDefinition<K, S>,
): PluginDefinition<K, S> {
  return definition;
}

/** Options for creating a plugin instance. */
export interface CreateOptions {
  readonly context?: Partial<PluginContext>;
}

/** What a plugin module may export for {@link Registry.loadPlugins}. */
export type PluginModuleExports =
  | { readonly plugins: readonly PluginDefinition[] }
  | { readonly default: readonly PluginDefinition[] | { readonly plugins: readonly PluginDefinition[] } };

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
}

function issuesOf(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => ({ field: formatPath(issue.path), message: issue.message }));
}

function isPluginDefinition(value: unknown): value is PluginDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const schema = v['configSchema'] as { safeParse?: unknown } | undefined;
  return (
    typeof v['kind'] === 'string' &&
    typeof v['name'] === 'string' &&
    typeof v['create'] === 'function' &&
    typeof schema === 'object' &&
    schema !== null &&
    typeof schema.safeParse === 'function'
  );
}

/** The plugin registry: name -> factory with a typed, validated config, per kind. */
export class Registry {
  private readonly kinds = new Set<string>(PLUGIN_KINDS);
  private readonly plugins = new Map<string, Map<string, PluginDefinition>>();
  private readonly loadedModules = new Set<string>();

  /** Adds a plugin kind (for third-party kinds declared through {@link PluginKinds}). */
  registerKind(kind: string): void {
    this.kinds.add(kind);
  }

  /** Registers a plugin; refuses a duplicate name within its kind and malformed definitions. */
  register<K extends PluginKind, S extends ConfigSchema>(definition: PluginDefinition<K, S>): void {
    if (!isPluginDefinition(definition)) {
      throw new PluginError(
        'register() needs { kind: string, name: string, configSchema: a zod schema, create: function }',
        String((definition as { kind?: unknown } | undefined)?.kind ?? 'unknown'),
      );
    }
    const { kind, name } = definition;
    if (!this.kinds.has(kind)) {
      throw new PluginError(
        `Unknown plugin kind "${kind}" for plugin "${name}". Known kinds: ${[...this.kinds].join(', ')}.`,
        kind,
        name,
      );
    }
    if (!/^[a-z0-9][a-z0-9._/@-]*$/i.test(name)) {
      throw new PluginError(
        `Invalid ${kind} plugin name "${name}": use letters, digits and . _ / @ -`,
        kind,
        name,
      );
    }
    const byName = this.plugins.get(kind) ?? new Map<string, PluginDefinition>();
    if (byName.has(name)) throw new DuplicatePluginError(kind, name);
    byName.set(name, definition as unknown as PluginDefinition);
    this.plugins.set(kind, byName);
  }

  /** Removes a plugin; returns whether it was registered. */
  unregister(kind: PluginKind, name: string): boolean {
    return this.plugins.get(kind)?.delete(name) ?? false;
  }

  /** Whether a plugin is registered. */
  has(kind: PluginKind, name: string): boolean {
    return this.plugins.get(kind)?.has(name) ?? false;
  }

  /** Names registered for a kind, sorted. */
  list(kind: PluginKind): string[] {
    return [...(this.plugins.get(kind)?.keys() ?? [])].sort();
  }

  /** The definition of a plugin; throws {@link UnknownPluginError} naming the known ones. */
  get<K extends PluginKind>(kind: K, name: string): PluginDefinition<K> {
    const def = this.plugins.get(kind)?.get(name);
    if (!def) throw new UnknownPluginError(kind, name, this.list(kind));
    return def as unknown as PluginDefinition<K>;
  }

  /**
   * Validates a config against the plugin's schema and fills in defaults; throws
   * {@link InvalidConfigError} naming the kind, the plugin and the offending field.
   */
  resolveConfig<K extends PluginKind>(kind: K, name: string, config: unknown = {}): Record<string, unknown> {
    const def = this.get(kind, name);
    const parsed = def.configSchema.safeParse(config ?? {});
    if (!parsed.success) throw new InvalidConfigError(kind, name, issuesOf(parsed.error));
    return parsed.data as Record<string, unknown>;
  }

  /** Validates the config and creates an instance (factories may be async). */
  async create<K extends PluginKind>(
    kind: K,
    name: string,
    config: unknown = {},
    options: CreateOptions = {},
  ): Promise<PluginKinds[K]> {
    const def = this.get(kind, name);
    const resolved = this.resolveConfig(kind, name, config);
    return await def.create(resolved, { logger: silentLogger, ...options.context });
  }

  /** Like {@link Registry.create} for factories that return synchronously; throws if one returns a promise. */
  createSync<K extends PluginKind>(
    kind: K,
    name: string,
    config: unknown = {},
    options: CreateOptions = {},
  ): PluginKinds[K] {
    const def = this.get(kind, name);
    const resolved = this.resolveConfig(kind, name, config);
    const out = def.create(resolved, { logger: silentLogger, ...options.context });
    if (out instanceof Promise) {
      throw new PluginError(
        `The ${kind} plugin "${name}" is asynchronous: use create() instead of createSync()`,
        kind,
        name,
      );
    }
    return out;
  }

  /**
   * Loads third-party plugins by module specifier (`["@acme/my-encoder", "./local-plugin.js"]`).
   * A module must export `plugins` (an array of definitions) or a default export that is such an
   * array or `{ plugins }`. Loading the same specifier twice is a no-op.
   */
  async loadPlugins(
    specifiers: readonly string[],
    importModule: (specifier: string) => Promise<unknown> = (s) => import(s),
  ): Promise<string[]> {
    const registered: string[] = [];
    for (const specifier of specifiers) {
      if (this.loadedModules.has(specifier)) continue;
      let mod: unknown;
      try {
        mod = await importModule(specifier);
      } catch (cause) {
        throw new PluginLoadError(
          `Cannot load plugin module "${specifier}": ${cause instanceof Error ? cause.message : String(cause)}`,
          specifier,
          { cause },
        );
      }
      const defs = pluginsOf(mod);
      if (!defs) {
        const keys = typeof mod === 'object' && mod !== null ? Object.keys(mod) : [];
        throw new PluginLoadError(
          `Plugin module "${specifier}" must export \`plugins\` (an array of plugin definitions) or a default export of that form; it exports ${
            keys.length ? keys.map((k) => `\`${k}\``).join(', ') : 'nothing'
          }.`,
          specifier,
        );
      }
      defs.forEach((def, i) => {
        if (!isPluginDefinition(def)) {
          throw new PluginLoadError(
            `Plugin module "${specifier}": plugins[${i}] is not a plugin definition ({ kind, name, configSchema, create }).`,
            specifier,
          );
        }
      });
      for (const def of defs as readonly PluginDefinition[]) {
        this.register(def);
        registered.push(`${def.kind}:${def.name}`);
      }
      this.loadedModules.add(specifier);
    }
    return registered;
  }
}

function pluginsOf(mod: unknown): readonly unknown[] | undefined {
  if (typeof mod !== 'object' || mod === null) return undefined;
  const m = mod as Record<string, unknown>;
  if (Array.isArray(m['plugins'])) return m['plugins'];
  const d = m['default'];
  if (Array.isArray(d)) return d;
  if (typeof d === 'object' && d !== null && Array.isArray((d as Record<string, unknown>)['plugins'])) {
    return (d as Record<string, unknown>)['plugins'] as unknown[];
  }
  return undefined;
}

const GLOBAL_KEY = Symbol.for('@tsvae/core/registry@1');

/**
 * The process-wide registry. It lives on `globalThis` under a `Symbol.for` key, so the ESM and
 * CJS builds of `@tsvae/core` (and duplicate installs) share one registry.
 */
export function getRegistry(): Registry {
  const g = globalThis as { [GLOBAL_KEY]?: Registry };
  let r = g[GLOBAL_KEY];
  if (!r) {
    r = new Registry();
    Object.defineProperty(globalThis, GLOBAL_KEY, {
      value: r,
      enumerable: false,
      configurable: false,
      writable: false,
    });
  }
  return r;
}

/** Registers a plugin in the process-wide registry. */
export function register<K extends PluginKind, S extends ConfigSchema>(
  definition: PluginDefinition<K, S>,
): void {
  getRegistry().register(definition);
}

/** Creates a plugin instance from the process-wide registry. */
export function create<K extends PluginKind>(
  kind: K,
  name: string,
  config?: unknown,
  options?: CreateOptions,
): Promise<PluginKinds[K]> {
  return getRegistry().create(kind, name, config, options);
}

/** Synchronous {@link create} for synchronous factories. */
export function createSync<K extends PluginKind>(
  kind: K,
  name: string,
  config?: unknown,
  options?: CreateOptions,
): PluginKinds[K] {
  return getRegistry().createSync(kind, name, config, options);
}

/** Loads third-party plugin modules into the process-wide registry. */
export function loadPlugins(
  specifiers: readonly string[],
  importModule?: (specifier: string) => Promise<unknown>,
): Promise<string[]> {
  return getRegistry().loadPlugins(specifiers, importModule);
}

export { z };
