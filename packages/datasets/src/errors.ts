/**
 * Errors raised by `@tsvae/datasets`. Every error about a file names the file and says what was
 * wrong with it; a missing dataset says how to obtain it.
 */

/** A dataset file is malformed, truncated, inconsistent or unreadable. */
export class DatasetFormatError extends Error {
  override readonly name = 'DatasetFormatError';
  /** The offending file (or directory). */
  readonly file: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.file = file;
  }
}

/** A dataset could not be found in any source; the message lists where it looked and how to get it. */
export class DatasetNotFoundError extends Error {
  override readonly name = 'DatasetNotFoundError';
  /** The dataset name. */
  readonly dataset: string;
  /** The places searched, in order. */
  readonly searched: readonly string[];
  constructor(dataset: string, searched: readonly string[], howToGet: string, options?: { cause?: unknown }) {
    super(
      `Dataset "${dataset}" not found. Searched:\n${searched.map((s) => `  - ${s}`).join('\n')}\n${howToGet}`,
      options,
    );
    this.dataset = dataset;
    this.searched = searched;
  }
}
