/** A loss or gradient that became NaN or infinite; training stopped before applying the update. */
export class NonFiniteLossError extends Error {
  override readonly name = 'NonFiniteLossError';
  constructor(
    /** `stage1` or `stage2`. */
    readonly stage: string,
    /** Zero-based epoch. */
    readonly epoch: number,
    /** Zero-based step within the epoch. */
    readonly step: number,
    /** The offending values. */
    readonly values: Readonly<Record<string, number>>,
    /** The last good checkpoint directory, if one was written. */
    readonly lastCheckpoint: string | null,
  ) {
    super(
      `Non-finite ${Object.entries(values)
        .filter(([, v]) => !Number.isFinite(v))
        .map(([k, v]) => `${k} (${v})`)
        .join(', ')} in ${stage} at epoch ${epoch + 1}, step ${step + 1}; the update was not applied. ${
        lastCheckpoint
          ? `The last good checkpoint is ${lastCheckpoint}.`
          : 'No checkpoint had been written yet.'
      } Try a lower learning rate.`,
    );
  }
}

/** One problem in a run configuration. */
export interface RunConfigIssue {
  /** Dotted path of the offending field, e.g. `stage1.epochs`. */
  readonly field: string;
  readonly message: string;
}

/** A run configuration that fails validation. */
export class RunConfigError extends Error {
  override readonly name = 'RunConfigError';
  constructor(readonly issues: readonly RunConfigIssue[]) {
    super(
      `Invalid run config: ${issues.map((i) => (i.field ? `"${i.field}": ${i.message}` : i.message)).join('; ')}`,
    );
  }
  /** The first offending field. */
  get field(): string {
    return this.issues[0]?.field ?? '';
  }
}

/** A run directory or checkpoint that cannot be used. */
export class RunDirectoryError extends Error {
  override readonly name: string = 'RunDirectoryError';
  constructor(
    message: string,
    /** The file or directory involved. */
    readonly path: string,
  ) {
    super(message);
  }
}

/** A run directory locked by another live process. */
export class RunInUseError extends RunDirectoryError {
  override readonly name = 'RunInUseError';
  constructor(
    runDir: string,
    /** The process holding the lock. */
    readonly pid: number,
    /** Its host. */
    readonly host: string,
    lockFile: string,
  ) {
    super(
      `run in use by ${pid ? `pid ${pid}` : 'another process'}${host ? ` on ${host}` : ''}: ${runDir} is locked (${lockFile}); wait for that process to finish, or stop it (a lock left by a process that died is taken over automatically)`,
      runDir,
    );
  }
}
