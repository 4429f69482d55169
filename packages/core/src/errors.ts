/** Base class of every error the plugin registry raises. */
export class PluginError extends Error {
  override readonly name: string = 'PluginError';
  constructor(
    message: string,
    /** The plugin kind involved (`encoder`, `dataset`, ...). */
    readonly kind: string,
    /** The plugin name involved, when there is one. */
    readonly pluginName?: string,
  ) {
    super(message);
  }
}

/** A plugin name that is not registered for its kind. */
export class UnknownPluginError extends PluginError {
  override readonly name = 'UnknownPluginError';
  constructor(
    kind: string,
    pluginName: string,
    /** The names that are registered for this kind. */
    readonly known: readonly string[],
  ) {
    super(
      `Unknown ${kind} plugin "${pluginName}". Known ${kind} plugins: ${
        known.length ? known.map((n) => `"${n}"`).join(', ') : '(none registered)'
      }.`,
      kind,
      pluginName,
    );
  }
}

/** One problem found in a plugin config. */
export interface ConfigIssue {
  /** Dotted path of the offending field (`''` for the config itself). */
  readonly field: string;
  readonly message: string;
}

/** A plugin config that fails its schema. */
export class InvalidConfigError extends PluginError {
  override readonly name = 'InvalidConfigError';
  constructor(
    kind: string,
    pluginName: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(
      `Invalid config for ${kind} plugin "${pluginName}": ${issues
        .map((i) => (i.field ? `field "${i.field}": ${i.message}` : i.message))
        .join('; ')}`,
      kind,
      pluginName,
    );
  }
  /** The first offending field. */
  get field(): string {
    return this.issues[0]?.field ?? '';
  }
}

/** A second registration under a name that is taken. */
export class DuplicatePluginError extends PluginError {
  override readonly name = 'DuplicatePluginError';
  constructor(kind: string, pluginName: string) {
    super(
      `A ${kind} plugin named "${pluginName}" is already registered; choose another name or unregister the first.`,
      kind,
      pluginName,
    );
  }
}

/** A plugin module that cannot be loaded or does not export plugins. */
export class PluginLoadError extends PluginError {
  override readonly name = 'PluginLoadError';
  constructor(
    message: string,
    /** The module specifier that was loaded. */
    readonly specifier: string,
    options?: { cause?: unknown },
  ) {
    super(message, 'module');
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}
