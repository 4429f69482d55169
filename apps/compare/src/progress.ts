/**
 * What a running study tells its user: a status block redrawn on a terminal (one line per running
 * cell and the evaluation), JSON lines otherwise.
 */
import type { StopSignal } from '@tsvae/cli';
import type { EvaluationProgress } from '@tsvae/metrics';
import type { CellExit, JobsChoice, TrainEvent } from './executor';
import { type Cell, type CellEvaluationRecord, describeBudget, type StudyPlan } from './plan';

/** Where progress is written. */
export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

/** What the study reports as it runs. */
export interface StudyProgress {
  plan(plan: StudyPlan, info: { readonly jobs: JobsChoice; readonly backend: string | null }): void;
  cellStart(
    cell: Cell,
    info: { readonly pid: number | null; readonly resume: boolean; readonly attempt: number },
  ): void;
  /** A line of the cell's `tsvae train`; `done` / `total`: epochs. */
  cellEvent(cell: Cell, event: TrainEvent, epochs: { readonly done: number; readonly total: number }): void;
  cellExit(cell: Cell, exit: CellExit): void;
  evalStart(cell: Cell): void;
  evalProgress(cell: Cell, progress: EvaluationProgress): void;
  evalDone(cell: Cell, record: CellEvaluationRecord): void;
  evalFailed(cell: Cell, message: string): void;
  interrupted(signal: StopSignal): void;
  note(message: string): void;
  finish(summary: {
    readonly code: number;
    readonly complete: boolean;
    readonly counts: Readonly<Record<string, number>>;
    readonly files: Readonly<Record<string, string>>;
    readonly table: string;
  }): void;
}

/** Epochs a cell has done at a position of `tsvae train` (stage, 1-based epoch of its `epoch` line). */
export function epochsDone(cell: Pick<Cell, 'model'>, stage: string, epoch: number): number {
  const b = cell.model.budget;
  return stage === 'stage2' ? (b.stage1Epochs ?? b.epochs ?? 0) + epoch : epoch;
}

/** JSON lines: one object per event (`plan`, `cell-start`, `cell-event`, `cell-exit`, `eval-*`, `done`). */
export function jsonStudyProgress(out: ProgressStream): StudyProgress {
  const line = (o: Record<string, unknown>) => out.write(`${JSON.stringify(o)}\n`);
  let lastEval = '';
  return {
    plan(plan, info) {
      line({
        event: 'plan',
        study: plan.study.name,
        dir: plan.dir,
        jobs: info.jobs.jobs,
        jobsRule: info.jobs.reason,
        backend: info.backend,
        cells: plan.cells.map((c) => ({
          cell: c.id,
          state: c.state,
          action: c.action,
          detail: c.detail,
          budget: describeBudget(c.model),
        })),
      });
    },
    cellStart(cell, info) {
      line({ event: 'cell-start', cell: cell.id, ...info });
    },
    cellEvent(cell, event, epochs) {
      line({
        event: 'cell-event',
        cell: cell.id,
        epochsDone: epochs.done,
        epochsTotal: epochs.total,
        data: event,
      });
    },
    cellExit(cell, exit) {
      line({ event: 'cell-exit', cell: cell.id, ...exit });
    },
    evalStart(cell) {
      line({ event: 'eval-start', cell: cell.id });
    },
    evalProgress(cell, p) {
      const key = `${p.phase}/${p.extractor}/${p.trial ?? 0}`;
      if (p.done !== p.total && key === lastEval) return; // one line per phase start and end
      lastEval = key;
      line({ event: 'eval-progress', cell: cell.id, ...p });
    },
    evalDone(cell, record) {
      line({
        event: 'eval-done',
        cell: cell.id,
        seconds: record.seconds,
        results: record.results.map((r) => ({
          extractor: r.extractor,
          fid: r.fid,
          ...(r.kid ? { kid: r.kid } : {}),
        })),
      });
    },
    evalFailed(cell, message) {
      line({ event: 'eval-failed', cell: cell.id, error: message });
    },
    interrupted(signal) {
      line({ event: 'interrupted', signal });
    },
    note(message) {
      line({ event: 'note', message });
    },
    finish(summary) {
      const { table: _table, ...rest } = summary;
      line({ event: 'done', ...rest });
    },
  };
}

const clock = (s: number): string => {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h
    ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`
    : `${m}:${String(sec).padStart(2, '0')}`;
};

/**
 * A terminal: finished cells print a line each; a block below them (overall progress, one bar per
 * running cell, the evaluation) is redrawn at most every 200 ms.
 */
export function ttyStudyProgress(out: ProgressStream, now: () => number = () => Date.now()): StudyProgress {
  const started = now();
  const running = new Map<
    string,
    { pid: number | null; done: number; total: number; stage: string; t0: number }
  >();
  let evaluating: { cell: string; text: string } | null = null;
  let total = 0;
  let finished = 0;
  let failed = 0;
  let drawn = 0;
  let last = 0;
  const width = 20;
  const clear = () => {
    if (drawn) out.write(`\x1b[${drawn}A\x1b[J`);
    drawn = 0;
  };
  const draw = (force = false) => {
    const t = now();
    if (!force && t - last < 200) return;
    last = t;
    clear();
    const lines = [
      `cells: ${finished}/${total} done${failed ? `, ${failed} failed` : ''}, ${running.size} training${evaluating ? ', 1 evaluating' : ''} · ${clock((t - started) / 1000)}`,
      ...[...running.entries()].map(([id, r]) => {
        const k = r.total ? Math.round((r.done / r.total) * width) : 0;
        return `  ${id.padEnd(28)} [${'#'.repeat(k)}${'-'.repeat(width - k)}] ${r.done}/${r.total} epochs ${r.stage} · ${clock((t - r.t0) / 1000)}`;
      }),
      ...(evaluating ? [`  ${evaluating.cell.padEnd(28)} evaluating: ${evaluating.text}`] : []),
    ];
    out.write(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const say = (text: string) => {
    clear();
    out.write(`${text}\n`);
    draw(true);
  };
  return {
    plan(plan, info) {
      total = plan.cells.length;
      finished = plan.cells.filter((c) => c.state === 'done').length;
      const by = (a: string) => plan.cells.filter((c) => c.action === a).length;
      say(
        `study ${plan.study.name}: ${plan.cells.length} cells (${plan.study.models.length} models x ${plan.study.seeds.length} seeds) in ${plan.dir}\n` +
          `  ${finished} done, ${by('train')} to train, ${by('resume')} to resume, ${by('evaluate')} to evaluate; ${info.jobs.jobs} at once (${info.jobs.reason}); evaluation on ${info.backend ?? 'the default backend'}`,
      );
    },
    cellStart(cell, info) {
      const total = cell.model.totalEpochs;
      const done = cell.position ? Math.min(total, positionEpochs(cell)) : 0;
      running.set(cell.id, { pid: info.pid, done, total, stage: '', t0: now() });
      draw(true);
    },
    cellEvent(cell, event, epochs) {
      const r = running.get(cell.id);
      if (!r) return;
      r.done = epochs.done;
      r.total = epochs.total;
      if (typeof event['stage'] === 'string') r.stage = event['stage'];
      draw();
    },
    cellExit(cell, exit) {
      running.delete(cell.id);
      if (exit.outcome === 'failed') failed++;
      say(
        exit.outcome === 'completed'
          ? `trained   ${cell.id} in ${clock(exit.seconds)}`
          : exit.outcome === 'interrupted'
            ? `stopped   ${cell.id} (checkpoint saved)`
            : `FAILED    ${cell.id}: ${exit.error}`,
      );
    },
    evalStart(cell) {
      evaluating = { cell: cell.id, text: 'loading' };
      draw(true);
    },
    evalProgress(cell, p) {
      evaluating = {
        cell: cell.id,
        text: `${p.extractor} ${p.phase}${p.trial ? ` trial ${p.trial + 1}` : ''} ${p.done}/${p.total}`,
      };
      draw();
    },
    evalDone(cell, record) {
      evaluating = null;
      finished++;
      say(
        `evaluated ${cell.id}: ${record.results.map((r) => `FID (${r.extractor}) ${r.fid.mean.toFixed(2)}`).join(', ')}`,
      );
    },
    evalFailed(cell, message) {
      evaluating = null;
      failed++;
      say(`FAILED    ${cell.id} (evaluation): ${message}`);
    },
    interrupted(signal) {
      say(`\n${signal}: stopping: every running cell saves a checkpoint (send it again to quit at once)`);
    },
    note(message) {
      say(message);
    },
    finish(summary) {
      clear();
      out.write(
        `\n${summary.table}\n\n${Object.entries(summary.files)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n')}\n`,
      );
    },
  };
}

/** Epochs done at a cell's checkpoint. */
function positionEpochs(cell: Cell): number {
  const p = cell.position;
  if (!p) return 0;
  if (p.stage === 'done') return cell.model.totalEpochs;
  return epochsDone(cell, p.stage, p.epoch);
}
