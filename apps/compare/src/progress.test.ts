/** Progress on a terminal (a redrawn block) and as JSON lines. */
import { describe, expect, it } from 'vitest';
import { planStudy } from './plan';
import { epochsDone, jsonStudyProgress, ttyStudyProgress } from './progress';
import { parseStudy } from './study';
import { Capture } from './testing';

const study = parseStudy({
  dataset: 'mnist',
  seeds: [0],
  models: [
    { name: 'two-stage-vae', stage1Epochs: 2, stage2Epochs: 4 },
    { name: 'ns-gan', epochs: 3 },
  ],
});
const plan = planStudy(study, '/nonexistent/study');
const [vae, gan] = plan.cells as [(typeof plan.cells)[0], (typeof plan.cells)[0]];
const exit = { exitCode: 0, signal: null, error: null, seconds: 65, startedAt: '', pid: 7 };

describe('progress', () => {
  it('counts epochs across the two stages of the Two-Stage VAE', () => {
    expect(epochsDone(vae, 'stage1', 2)).toBe(2);
    expect(epochsDone(vae, 'stage2', 1)).toBe(3);
    expect(epochsDone(gan, 'gan', 3)).toBe(3);
  });

  it('a terminal: the plan, a bar per running cell (redrawn in place), a line per finished cell, the table', () => {
    const out = new Capture(true);
    let t = 0;
    const p = ttyStudyProgress(out, () => t);
    p.plan(plan, { jobs: { jobs: 1, reason: 'the rule' }, backend: 'wasm' });
    expect(out.text).toContain('study study: 2 cells (2 models x 1 seeds)');
    p.cellStart(vae, { pid: 7, resume: false, attempt: 1 });
    t = 1000;
    p.cellEvent(vae, { event: 'epoch', stage: 'stage2', epoch: 1 }, { done: 3, total: 6 });
    expect(out.text).toContain(`${vae.id.padEnd(28)} [##########----------] 3/6 epochs stage2`);
    expect(out.text).toContain('\x1b[2A\x1b[J'); // the block is redrawn in place
    p.cellExit(vae, { ...exit, outcome: 'completed' });
    expect(out.text).toContain(`trained   ${vae.id} in 1:05`);
    p.cellExit(gan, { ...exit, outcome: 'failed', error: 'NaN loss' });
    expect(out.text).toContain(`FAILED    ${gan.id}: NaN loss`);
    p.finish({ code: 1, complete: false, counts: {}, files: { report: '/x/report.html' }, table: '| a |' });
    expect(out.text.endsWith('| a |\n\nreport: /x/report.html\n')).toBe(true);
  });

  it('JSON lines: one object per event, evaluation progress once per phase start and end', () => {
    const out = new Capture();
    const p = jsonStudyProgress(out);
    p.plan(plan, { jobs: { jobs: 2, reason: 'r' }, backend: null });
    p.cellStart(gan, { pid: 9, resume: true, attempt: 2 });
    const progress = (done: number) =>
      p.evalProgress(gan, { phase: 'generated', extractor: 'e', generator: 'g', trial: 0, done, total: 10 });
    for (const d of [2, 4, 6, 10]) progress(d);
    const events = out.events();
    expect(events.map((e) => e['event'])).toEqual(['plan', 'cell-start', 'eval-progress', 'eval-progress']);
    expect(events[0]).toMatchObject({
      jobs: 2,
      cells: [{ cell: vae.id, action: 'train' }, { cell: gan.id }],
    });
    expect(events[1]).toEqual({ event: 'cell-start', cell: gan.id, pid: 9, resume: true, attempt: 2 });
    expect(events.slice(2).map((e) => e['done'])).toEqual([2, 10]);
  });
});
