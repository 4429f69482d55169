/** What an {@link EvaluationError} is about. */
export interface EvaluationErrorInit {
  /**
   * The option at fault, as `evaluate()` names it (`split`, `referenceCount`, `seed`,
   * `extractors`, `extractorConfigs`, `inceptionWeights`, ...), or the environment variable.
   */
  readonly field: string;
  /** The problem, without the subject (`no such file (/abs/path)`). */
  readonly problem: string;
  /** The feature extractor concerned, when there is one. */
  readonly extractor?: string;
  /** How the message names the subject (default: `extractor '<name>'`, else the field). */
  readonly subject?: string;
  /** What to do instead, in the option's own terms (appended in parentheses). */
  readonly hint?: string;
}

/**
 * An evaluation that cannot run as asked: the message names the option (or the extractor, or the
 * split) and says what to do. Front ends (the CLI) read `field`, `extractor` and `problem` to say
 * the same in their own option names.
 */
export class EvaluationError extends Error {
  override readonly name = 'EvaluationError';
  readonly field: string;
  /** What the message names before the problem. */
  readonly subject: string;
  readonly problem: string;
  readonly extractor: string | undefined;
  readonly hint: string | undefined;

  constructor(init: EvaluationErrorInit) {
    const subject =
      init.subject ?? (init.extractor !== undefined ? `extractor '${init.extractor}'` : init.field);
    super(`${subject}: ${init.problem}${init.hint ? ` (${init.hint})` : ''}`);
    this.field = init.field;
    this.subject = subject;
    this.problem = init.problem;
    this.extractor = init.extractor;
    this.hint = init.hint;
  }
}
