/**
 * Executors as plugins of `@tsvae/core`'s registry (kind `executor`): `local` (worker processes
 * on this machine, {@link localExecutor}) and `slurm` (one `sbatch --array` job over the cells,
 * {@link slurmExecutor}). Another scheduler (Kubernetes Indexed Jobs, Ray, ...) is one more
 * plugin: an {@link Executor} (the study process runs the cells and evaluates them) or a
 * {@link BatchExecutor} (each cell is one element of a submitted array that runs
 * `tsvae-compare task <study> --index <i>` on a shared filesystem).
 */
import { getRegistry, type PluginContext, z } from '@tsvae/core';
import type { BatchExecutor } from './batch-types';
import { type Executor, localExecutor } from './executor';
import { slurmExecutor } from './slurm';

declare module '@tsvae/core' {
  interface PluginKinds {
    executor: Executor | BatchExecutor;
  }
}

/** The registry kind of executors. */
export const EXECUTOR_KIND = 'executor';

/** The `local` executor's config: cells at once, and optionally the `tsvae` script and the Node binary. */
export const localExecutorSchema = z.object({
  jobs: z.number().int().positive(),
  cli: z.string().min(1).optional(),
  node: z.string().min(1).optional(),
});

/** The `slurm` executor's config (each field is the `sbatch` option of the same name). */
export const slurmExecutorSchema = z.object({
  partition: z.string().min(1).optional(),
  gres: z.string().min(1).optional(),
  time: z.string().min(1).optional(),
  cpusPerTask: z.number().int().positive().optional(),
  mem: z.string().min(1).optional(),
  /** At most this many array tasks at once (`--array=...%K`). */
  maxParallel: z.number().int().positive().optional(),
  /** More `sbatch` arguments, passed as they are (e.g. `--account=lab`, `--qos=long`). */
  sbatchArgs: z.array(z.string()).default([]),
  /** Seconds between two polls of `--wait` / `status` refreshes. */
  pollSeconds: z.number().positive().default(10),
  /** Seconds of warning before the time limit (`--signal=TERM@<n>`): a checkpoint is saved. */
  signalSeconds: z.number().int().positive().default(120),
});

/** Whether an executor is a batch (submit-and-return) executor. */
export function isBatchExecutor(e: Executor | BatchExecutor): e is BatchExecutor {
  return (e as BatchExecutor).batch === true;
}

/** Adds the `executor` kind and the `local` and `slurm` plugins to the process-wide registry (idempotent). */
export function registerExecutorPlugins(): void {
  const registry = getRegistry();
  registry.registerKind(EXECUTOR_KIND);
  if (!registry.has(EXECUTOR_KIND, 'local')) {
    registry.register({
      kind: EXECUTOR_KIND,
      name: 'local',
      description: 'worker processes on this machine; the study process evaluates finished cells',
      configSchema: localExecutorSchema,
      create: (config: z.output<typeof localExecutorSchema>) =>
        localExecutor({
          jobs: config.jobs,
          ...(config.cli ? { cli: config.cli } : {}),
          ...(config.node ? { node: config.node } : {}),
        }),
    });
  }
  if (!registry.has(EXECUTOR_KIND, 'slurm')) {
    registry.register({
      kind: EXECUTOR_KIND,
      name: 'slurm',
      description: 'one sbatch --array job over the cells not done; each task trains and evaluates its cell',
      configSchema: slurmExecutorSchema,
      create: (config: z.output<typeof slurmExecutorSchema>, context: PluginContext) =>
        slurmExecutor(config, context.logger),
    });
  }
}

/** Creates an executor plugin by name with a strict config (an unknown key is an error). */
export async function createExecutor(name: string, config: unknown): Promise<Executor | BatchExecutor> {
  registerExecutorPlugins();
  return await getRegistry().create(EXECUTOR_KIND, name, config);
}
