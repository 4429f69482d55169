/**
 * Running cells: the {@link Executor} interface (where and how a cell's `tsvae train` runs) and
 * the `local` executor (worker processes on this machine). A later executor (e.g. Slurm) runs the
 * same `tsvae` arguments elsewhere and reports through the same callbacks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { StopSignal } from '@tsvae/cli';
import { ensureDir } from '@tsvae/core/node';

/** A cell's training step as an executor sees it: `tsvae` arguments and where its output goes. */
export interface CellTask {
  /** The cell (unique within a study). */
  readonly id: string;
  /** `tsvae` arguments (`train ...` or `train --resume <run> ...`). */
  readonly args: readonly string[];
  /** The run directory the command trains in. */
  readonly runDir: string;
  /** Where the command's stdout and stderr are appended (one header line per attempt). */
  readonly logFile: string;
}

/** A line of `tsvae train --json` (`start`, `stage-begin`, `epoch`, `checkpoint`, `done`, `interrupted`, `error`). */
export type TrainEvent = Readonly<Record<string, unknown>> & { readonly event: string };

/** How a cell's process ended. */
export interface CellExit {
  /**
   * `completed`: exit 0; `interrupted`: stopped by a forwarded signal with a checkpoint (exit
   * 130 / 143 / 129); `failed`: any other exit, or killed by a signal (the run resumes from its last
   * checkpoint next time).
   */
  readonly outcome: 'completed' | 'interrupted' | 'failed';
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** What went wrong (the `error` event's message, else the end of stderr); null unless failed. */
  readonly error: string | null;
  readonly seconds: number;
  readonly startedAt: string;
  readonly pid: number | null;
}

/** What an executor tells its caller; every callback is optional and must not throw. */
export interface ExecutorCallbacks {
  /** Before the cell's process starts (nothing of it runs yet: safe to write the cell's files). */
  beforeStart?(task: CellTask): void;
  /** The process started. */
  onStart?(task: CellTask, info: { readonly pid: number | null }): void;
  /** A JSON line of the process. */
  onEvent?(task: CellTask, event: TrainEvent): void;
  /** The process ended (its files are no longer written). */
  onExit?(task: CellTask, exit: CellExit): void;
}

/**
 * Runs cells. `run` starts them (at most `parallelism` at once), reports through the callbacks and
 * resolves once every started cell has ended; `stop` forwards a stop signal to every running cell
 * (each saves a checkpoint and exits 130 / 143 / 129) and starts no further cell. A second `stop`
 * forwards the signal again (the processes then quit at once).
 */
export interface Executor {
  /** `local`, ... (what the study's results record). */
  readonly name: string;
  /** Cells run at once. */
  readonly parallelism: number;
  run(tasks: readonly CellTask[], callbacks?: ExecutorCallbacks): Promise<ReadonlyMap<string, CellExit>>;
  stop(signal: StopSignal): void;
}

/**
 * The `tsvae` executable of `@tsvae/cli` (its `bin` entry, resolved from this package's
 * dependency): what every local cell runs with `node`.
 */
export function resolveTsvaeCli(): string {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('@tsvae/cli/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.['tsvae'];
  if (!bin) throw new Error(`${pkgFile} declares no "tsvae" bin`);
  return join(dirname(pkgFile), bin);
}

/** The default number of parallel cells, and the rule in words. */
export interface JobsChoice {
  readonly jobs: number;
  readonly reason: string;
}

/**
 * How many cells to run at once on this machine: one core stays with the study process (it
 * evaluates finished cells while others train), each cell gets the threads its backend computes
 * with (1 for wasm and cpu: tfjs-wasm runs one thread in Node), and each may take up to 2 GiB of
 * memory (a paper-size stage 1 peaks near 750 MB, plus data). So
 * `max(1, min(cells, floor((cores - 1) / threadsPerCell), floor(memory / 2 GiB)))`: 1 on a 2-core
 * machine, 15 on 16 cores with wasm. Tiny cells (tests, smoke runs) are dominated by process
 * start-up and may use more (`--jobs`).
 */
export function defaultJobs(options: {
  readonly cells: number;
  readonly threadsPerCell: number;
  readonly cores?: number;
  readonly memoryBytes?: number;
}): JobsChoice {
  const cores = options.cores ?? availableParallelism();
  const memory = options.memoryBytes ?? totalmem();
  const threads = Math.max(1, Math.floor(options.threadsPerCell));
  const byCores = Math.max(1, Math.floor((cores - 1) / threads));
  const byMemory = Math.max(1, Math.floor(memory / 2 ** 31));
  const jobs = Math.max(1, Math.min(options.cells, byCores, byMemory));
  return {
    jobs,
    reason: `${cores} cores less one for the study process / ${threads} thread${threads === 1 ? '' : 's'} a cell = ${byCores}; ${(memory / 2 ** 30).toFixed(0)} GiB / 2 GiB a cell = ${byMemory}; ${options.cells} cell${options.cells === 1 ? '' : 's'} to run`,
  };
}

/** Options of {@link localExecutor}. */
export interface LocalExecutorOptions {
  /** Cells at once (see {@link defaultJobs}). */
  readonly jobs: number;
  /** The `tsvae` script (default {@link resolveTsvaeCli}). */
  readonly cli?: string;
  /** The Node executable (default: this one). */
  readonly node?: string;
  /** Environment of the processes (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const STOP_EXIT: Readonly<Record<number, true>> = { 130: true, 143: true, 129: true };

/**
 * Runs each cell as its own `node <tsvae> train ...` process on this machine (its own tfjs
 * backend and memory; a crash or a kill -9 of one cell leaves the others running). The processes
 * get their own process group, so a terminal's Ctrl-C reaches only the study, which forwards one
 * SIGINT to each (two would make them quit without a checkpoint). Their stdout (JSON lines) is
 * parsed for the callbacks; stdout and stderr are appended to the task's log file.
 */
export function localExecutor(options: LocalExecutorOptions): Executor {
  if (!Number.isInteger(options.jobs) || options.jobs < 1) {
    throw new RangeError(`jobs must be a positive integer, got ${options.jobs}`);
  }
  const running = new Map<string, ChildProcess>();
  let stopped: StopSignal | null = null;

  const start = async (task: CellTask, callbacks: ExecutorCallbacks): Promise<CellExit> => {
    const startedAt = new Date().toISOString();
    let log: number;
    try {
      callbacks.beforeStart?.(task);
      ensureDir(dirname(task.logFile));
      log = openSync(task.logFile, 'a');
    } catch (e) {
      const exit: CellExit = {
        outcome: 'failed',
        exitCode: null,
        signal: null,
        error: `cannot start the cell: ${e instanceof Error ? e.message : String(e)}`,
        seconds: 0,
        startedAt,
        pid: null,
      };
      callbacks.onExit?.(task, exit);
      return exit;
    }
    const t0 = performance.now();
    const cli = options.cli ?? resolveTsvaeCli();
    writeSync(log, `# ${startedAt} tsvae ${task.args.join(' ')}\n`);
    const child = spawn(options.node ?? process.execPath, [cli, ...task.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: options.env ?? process.env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    running.set(task.id, child);
    callbacks.onStart?.(task, { pid: child.pid ?? null });
    let lastError: string | null = null;
    let stderrTail: string[] = [];
    let pending = '';
    child.stdout?.on('data', (d: Buffer) => {
      writeSync(log, d);
      pending += d.toString('utf8');
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
        if (!line.startsWith('{')) continue;
        let event: TrainEvent;
        try {
          event = JSON.parse(line) as TrainEvent;
        } catch {
          continue;
        }
        if (typeof event.event !== 'string') continue;
        if (event.event === 'error' && typeof event['message'] === 'string') lastError = event['message'];
        callbacks.onEvent?.(task, event);
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      writeSync(log, d);
      stderrTail = [...stderrTail, ...d.toString('utf8').split('\n').filter(Boolean)].slice(-20);
    });
    return new Promise((done) => {
      let spawnError: string | null = null;
      let ended = false;
      child.on('error', (e) => {
        spawnError = `cannot start ${cli}: ${e.message}`;
      });
      child.on('close', (code, signal) => {
        if (ended) return;
        ended = true;
        running.delete(task.id);
        const seconds = (performance.now() - t0) / 1000;
        // 130 / 143 / 129: the process was stopped by a signal and saved a checkpoint
        // (or killed by the forwarded signal before it could install its handler: nothing to lose)
        const outcome: CellExit['outcome'] =
          code === 0
            ? 'completed'
            : (code !== null && STOP_EXIT[code]) || (signal !== null && signal === stopped)
              ? 'interrupted'
              : 'failed';
        const errorLine = [...stderrTail].reverse().find((l) => l.startsWith('error:'));
        const error =
          outcome !== 'failed'
            ? null
            : (spawnError ??
              (signal
                ? `the training process was killed by ${signal}`
                : (lastError ?? errorLine?.replace(/^error:\s*/, '') ?? stderrTail.slice(-3).join(' ')) ||
                  `exit code ${code}`));
        writeSync(log, `# exit ${code ?? signal} after ${seconds.toFixed(1)} s\n`);
        closeSync(log);
        const exit: CellExit = {
          outcome,
          exitCode: code,
          signal,
          error,
          seconds,
          startedAt,
          pid: child.pid ?? null,
        };
        callbacks.onExit?.(task, exit);
        done(exit);
      });
    });
  };

  return {
    name: 'local',
    parallelism: options.jobs,
    async run(tasks, callbacks = {}) {
      const results = new Map<string, CellExit>();
      const queue = [...tasks];
      const worker = async (): Promise<void> => {
        for (let task = queue.shift(); task && !stopped; task = queue.shift()) {
          results.set(task.id, await start(task, callbacks));
        }
      };
      await Promise.all(Array.from({ length: Math.min(options.jobs, tasks.length) }, worker));
      return results;
    },
    stop(signal) {
      stopped = signal;
      for (const child of running.values()) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      }
    },
  };
}
