/** The interface of batch executors (a scheduler runs the cells; see batch.ts for the study side). */

/** What a batch executor submits: one array job whose element `i` runs `command` with `--index i`. */
export interface BatchSubmitRequest {
  /** The study name (job name). */
  readonly name: string;
  /** The study directory (shared by every node): the tasks run there; executor files go under it. */
  readonly dir: string;
  /** The cell indices to run (the array's elements), ascending. */
  readonly indices: readonly number[];
  /** The element's command without its index: the executor appends `--index <i>`. */
  readonly command: readonly string[];
}

/** A submitted job. */
export interface BatchSubmission {
  readonly jobId: string;
  /** The file the executor submitted (a batch script), if any. */
  readonly script: string | null;
}

/** One array element as the scheduler sees it. */
export interface BatchTaskState {
  readonly job: string;
  readonly index: number;
  /** The scheduler's state (Slurm: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, CANCELLED, ...). */
  readonly state: string;
  /** Whether the element may still run (queued, running, requeued). */
  readonly active: boolean;
  readonly running: boolean;
  readonly node: string | null;
  readonly reason: string | null;
  readonly exitCode: string | null;
  /** How many times it was requeued. */
  readonly restarts: number;
  /**
   * The state is the whole job's, for every element not listed on its own (`index` is then -1):
   * Slurm's accounting keeps an array job that never started (cancelled while pending) as one
   * record.
   */
  readonly wholeJob?: boolean;
}

/**
 * An executor that submits the cells to a scheduler and returns: each cell is one element of an
 * array job that runs `tsvae-compare task <study> --dir <dir> --index <i>` (train or resume the
 * cell, then evaluate it) in the study directory, on a filesystem every node shares.
 */
export interface BatchExecutor {
  readonly name: string;
  readonly batch: true;
  /** Seconds between two polls when waiting. */
  readonly pollSeconds: number;
  /** Submits one array job; throws with the scheduler's message when it refuses (nothing is left submitted). */
  submit(request: BatchSubmitRequest): Promise<BatchSubmission>;
  /** The elements of these jobs (unknown jobs are left out). */
  query(jobIds: readonly string[]): Promise<BatchTaskState[]>;
  /** Cancels these jobs (their elements are not requeued). */
  cancel(jobIds: readonly string[], dir: string): Promise<void>;
}

/** A scheduler refused a submission or a command; `message` carries its own words. */
export class SubmissionError extends Error {
  override readonly name = 'SubmissionError';
}
