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
  Stage1Model,
} from './types';

/**
 * Maps each plugin kind to the type its factory returns. Third-party packages can add kinds by
 * declaration merging (`declare module '@tsvae/core' { interface PluginKinds { ... } }`) and
 * {@link Registry.registerKind}.
 */
export interface PluginKinds {
  encoder: Encoder;
  decoder: Decoder;
  stage1: Stage1Model;
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
  'stage1',
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

/** zod issues as config issues; an unrecognized key is reported at its own path. */
export function issuesOf(error: z.ZodError): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    const keys = (issue as { keys?: readonly string[] }).keys;
    if (issue.code === 'unrecognized_keys' && keys) {
      return keys.map((k) => ({ field: formatPath([...issue.path, k]), message: 'unknown key' }));
    }
    return [{ field: formatPath(issue.path), message: issue.message }];
  });
}

/** The parts of zod 4's schema definitions the strictness check reads. */
interface SchemaDef {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly shape?: Readonly<Record<string, z.ZodType>>;
  readonly catchall?: z.ZodType;
  readonly element?: z.ZodType;
  readonly items?: readonly z.ZodType[];
}

/** A zod 4 schema's definition; an opaque `{ type: 'unknown' }` for other schema-like objects. */
function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod?: { def?: SchemaDef } })._zod?.def ?? { type: 'unknown' };
}

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'nonoptional', 'catch']);

/** The object schema under wrappers (default, optional, transform pipes, ...), if any. */
function objectDef(schema: z.ZodType): SchemaDef | undefined {
  const def = defOf(schema);
  if (def.type === 'object') return def;
  if (WRAPPERS.has(def.type) && def.innerType) return objectDef(def.innerType);
  if (def.type === 'pipe' && def.in) return objectDef(def.in);
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Keys of `value` that `schema` does not declare, at any depth of nested object schemas. zod's
 * default object mode silently drops unknown keys, which turns a misspelt option into a default;
 * the registry reports them instead. Objects declared `.loose()` / `.catchall()` accept any key
 * (and `.strict()` ones are rejected by zod itself).
 */
function unknownKeys(schema: z.ZodType, value: unknown, path: readonly (string | number)[]): ConfigIssue[] {
  if (value === undefined || value === null) return [];
  const def = defOf(schema);
  if (WRAPPERS.has(def.type) && def.innerType) return unknownKeys(def.innerType, value, path);
  if (def.type === 'pipe' && def.in) return unknownKeys(def.in, value, path);
  if (def.type === 'array' && def.element && Array.isArray(value)) {
    const element = def.element;
    return value.flatMap((v, i) => unknownKeys(element, v, [...path, i]));
  }
  if (def.type === 'tuple' && def.items && Array.isArray(value)) {
    const items = def.items;
    return value.flatMap((v, i) => (items[i] ? unknownKeys(items[i], v, [...path, i]) : []));
  }
  if (def.type !== 'object' || !isPlainObject(value) || !def.shape) return [];
  const shape = def.shape;
  const known = Object.keys(shape);
  const out: ConfigIssue[] = [];
  for (const [key, v] of Object.entries(value)) {
    const field = shape[key];
    if (field) out.push(...unknownKeys(field, v, [...path, key]));
    else if (def.catchall === undefined) {
      const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
      out.push({
        field: formatPath([...path, key]),
        message: `unknown key${near ? ` (did you mean "${near}"?)` : ''}; known keys: ${known.join(', ') || '(none)'}`,
      });
    }
  }
  return out;
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
    const input = config ?? {};
    const parsed = def.configSchema.safeParse(input);
    const issues = [
      ...(parsed.success ? [] : issuesOf(parsed.error)),
      ...unknownKeys(def.configSchema, input, []),
    ];
    if (issues.length) throw new InvalidConfigError(kind, name, issues);
    return parsed.data as Record<string, unknown>;
  }

  /**
   * The top-level keys a plugin's config declares (`undefined` when its schema is not an object).
   * Callers that pass shared settings (e.g. `gammaConvention`) use it to pass them only to plugins
   * that take them.
   */
  configKeys(kind: PluginKind, name: string): readonly string[] | undefined {
    const def = objectDef(this.get(kind, name).configSchema);
    return def?.shape ? Object.keys(def.shape) : undefined;
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
