/**
 * The study's report: `summary.md` (Table 1's shape in markdown) and `report.html`, one
 * self-contained page (inline CSS, inline SVG charts rendered in Node by `@tsvae/report` from
 * vega-lite specs, sample grids as PNG data URLs; no script, no network).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GAN_TRAINER, ganEpochMetricsSchema } from '@tsvae/baselines';
import { type ChartSpec, chartToSvg, formatMeanStd, type MeanStd, markdownTable } from '@tsvae/report';
import { RunDirectory, VAE_TRAINER } from '@tsvae/stages';
import type { ModelResult, StudyResults } from './results';

/** The two documents of a report. */
export interface StudyReport {
  readonly html: string;
  readonly markdown: string;
}

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const fmt = (m: MeanStd | undefined, digits = 2, scale = 1): string =>
  m === undefined ? '-' : formatMeanStd({ mean: m.mean * scale, std: m.std * scale, n: m.n }, digits);

/** The extractors whose numbers the study holds, with their feature widths (from the evaluated cells). */
function extractorsOf(results: StudyResults): { name: string; plugin: string; featureDim: number }[] {
  const names = [...new Set(results.models.flatMap((m) => m.metrics.map((x) => x.extractor)))];
  return names.map((name) => {
    const e = results.protocol.extractorsUsed.find((x) => x.name === name);
    return { name, plugin: e?.plugin ?? name, featureDim: e?.featureDim ?? 0 };
  });
}

/** Column headers and cells of the Table 1-shaped table (shared by markdown and HTML). */
function table(results: StudyResults): { header: string[]; rows: string[][] } {
  const extractors = extractorsOf(results);
  const kid = results.protocol.metrics.includes('kid');
  const prdc = results.protocol.metrics.includes('prdc');
  const ds = results.study.dataset.name;
  const header = [
    'model',
    'Table 1 row',
    `published FID, ${ds} (Inception, authors' budget)`,
    ...extractors.map((e) => `FID (${e.name})`),
    ...(kid ? extractors.map((e) => `KID ×10³ (${e.name})`) : []),
    ...(prdc ? extractors.flatMap((e) => [`precision (${e.name})`, `recall (${e.name})`]) : []),
    'seeds',
    'budget',
  ];
  const rows = results.models.map((m) => {
    const of = (name: string) => m.metrics.find((x) => x.extractor === name);
    const total = m.seeds.done.length + m.seeds.failed.length + m.seeds.missing.length;
    return [
      m.id === m.name ? m.name : `${m.id} (${m.name})`,
      m.table1,
      m.published ? `${m.published.mean.toFixed(1)} ± ${m.published.std.toFixed(1)}` : '-',
      ...extractors.map((e) => fmt(of(e.name)?.fid)),
      ...(kid ? extractors.map((e) => fmt(of(e.name)?.kid, 2, 1e3)) : []),
      ...(prdc
        ? extractors.flatMap((e) => [fmt(of(e.name)?.prdc?.precision, 3), fmt(of(e.name)?.prdc?.recall, 3)])
        : []),
      `${m.seeds.done.length}/${total}${m.seeds.failed.length ? ` (${m.seeds.failed.length} failed)` : ''}`,
      `${m.budgetText} (${m.preset})`,
    ];
  });
  return { header, rows };
}

/** The protocol in one paragraph (what produced "ours"). */
function protocolText(results: StudyResults): string {
  const p = results.protocol;
  const ex = extractorsOf(results)
    .map((e) => `${e.name}${e.featureDim ? ` (${e.featureDim}-d)` : ''}`)
    .join(', ');
  const n = results.cells.find((c) => c.metrics.length)?.metrics[0];
  const count = n?.count ?? p.count;
  const ref = n?.referenceCount ?? p.referenceCount ?? 'min(10000, split)';
  return [
    `Ours: ${ex || `extractors ${JSON.stringify(p.extractors)}`} features; N = ${count} generated vs ${ref} ${p.split} images`,
    `${p.trials} trial${p.trials === 1 ? '' : 's'} per cell (seed ${p.seed}+)`,
    p.metrics.includes('kid') ? `KID over ${p.kid.subsets} subsets of ${p.kid.subsetSize}` : null,
    `generated images ${p.quantize ? 'quantised to uint8' : 'not quantised'}${p.minMaxNormalize ? ', min-max normalised' : ''}`,
    `mean ± sample std over ${results.study.seeds.length} seed${results.study.seeds.length === 1 ? '' : 's'} (${results.study.seeds.join(', ')}) of each cell's mean over its trials.`,
  ]
    .filter(Boolean)
    .join('; ');
}

/** `summary.md`: the table in markdown, with what produced it. */
export function summaryMarkdown(results: StudyResults): string {
  const { header, rows } = table(results);
  const s = results.study;
  const failed = results.cells.filter((c) => c.error);
  return [
    `# ${s.name}: ${s.dataset.name}`,
    '',
    ...(s.description ? [s.description, ''] : []),
    markdownTable(header, rows),
    '',
    protocolText(results),
    '',
    `Published: ${results.published.source}. ${results.published.note}.`,
    '',
    results.complete
      ? `All ${results.cells.length} cells done.`
      : `${results.counts.done} of ${results.cells.length} cells done (${Object.entries(results.counts)
          .filter(([k, v]) => k !== 'done' && v > 0)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}): the table holds the seeds evaluated so far.`,
    ...(failed.length ? ['', 'Failed cells:', '', ...failed.map((c) => `- ${c.id}: ${c.error}`)] : []),
    '',
  ].join('\n');
}

/** Prefixes the ids of an SVG (clip paths, gradients) so several can share one page. */
function scopeSvg(svg: string, prefix: string): string {
  return svg
    .replace(/\sid="([^"]+)"/g, ` id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`);
}

let svgCount = 0;
async function svg(spec: ChartSpec): Promise<string> {
  return scopeSvg(await chartToSvg(spec), `c${++svgCount}`);
}

/** FID per model with error bars (mean ± std over seeds) and each seed's value. */
function fidChart(results: StudyResults, extractor: { name: string; plugin: string }): ChartSpec | null {
  const order = results.models.map((m) => m.id);
  const summary = results.models.flatMap((m) => {
    const x = m.metrics.find((v) => v.extractor === extractor.name);
    return x
      ? [{ model: m.id, mean: x.fid.mean, lo: x.fid.mean - x.fid.std, hi: x.fid.mean + x.fid.std }]
      : [];
  });
  if (summary.length === 0) return null;
  const seeds = results.cells.flatMap((c) => {
    const x = c.metrics.find((v) => v.extractor === extractor.name);
    return x && c.state === 'done' ? [{ model: c.model, seed: c.seed, fid: x.fid.mean }] : [];
  });
  const published =
    extractor.plugin === 'inception-fid'
      ? results.models.flatMap((m) => (m.published ? [{ model: m.id, fid: m.published.mean }] : []))
      : [];
  const x = { field: 'model', type: 'nominal', sort: order, title: null, axis: { labelAngle: -30 } } as const;
  return {
    title: {
      text: `FID (${extractor.name}) per model`,
      subtitle: `mean ± std over seeds (bars), each seed (grey)${published.length ? ', published (red diamonds)' : ''}`,
    },
    width: Math.max(180, 64 * order.length),
    height: 240,
    layer: [
      {
        data: { values: seeds },
        mark: { type: 'circle', size: 36, opacity: 0.5, color: '#888888' },
        encoding: { x, y: { field: 'fid', type: 'quantitative', title: 'FID', scale: { zero: false } } },
      },
      {
        data: { values: summary },
        mark: { type: 'errorbar', ticks: true, color: '#1f5fa8' },
        encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'FID' }, y2: { field: 'hi' } },
      },
      {
        data: { values: summary },
        mark: { type: 'point', filled: true, size: 80, color: '#1f5fa8' },
        encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'FID' } },
      },
      ...(published.length
        ? [
            {
              data: { values: published },
              mark: { type: 'point', shape: 'diamond', filled: true, size: 70, color: '#c0392b' },
              encoding: { x, y: { field: 'fid', type: 'quantitative', title: 'FID' } },
            } as const,
          ]
        : []),
    ],
  } as ChartSpec;
}

/** One training-curve panel: a metric per epoch, one line per seed. */
function curveChart(
  title: string,
  yTitle: string,
  values: readonly { epoch: number; value: number; seed: string }[],
  log = false,
  integer = false,
): ChartSpec | null {
  const finite = values.filter((v) => Number.isFinite(v.value) && (!log || v.value > 0));
  if (finite.length === 0) return null;
  return {
    title,
    width: 220,
    height: 140,
    data: { values: finite },
    mark: { type: 'line', point: { size: 16 } },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: {
        field: 'value',
        type: 'quantitative',
        title: yTitle,
        scale: log ? { type: 'log' } : { zero: false },
        ...(integer ? { axis: { format: 'd', tickMinStep: 1 } } : {}),
      },
      color: { field: 'seed', type: 'nominal', title: 'seed' },
    },
  } as ChartSpec;
}

type Point = { epoch: number; value: number; seed: string };

/** The training-curve panels of a model: loss per stage, γ and active dims (VAEs), D / G losses (GANs). */
function curveCharts(results: StudyResults, model: ModelResult): ChartSpec[] {
  const panels = new Map<string, { y: string; log: boolean; points: Point[] }>();
  const add = (key: string, y: string, log: boolean, p: Point) => {
    const panel = panels.get(key) ?? { y, log, points: [] };
    panel.points.push(p);
    panels.set(key, panel);
  };
  for (const cell of results.cells.filter((c) => c.model === model.id)) {
    const run = new RunDirectory(cell.runDir);
    if (!run.holdsRun()) continue;
    const seed = String(cell.seed);
    try {
      const trainer = run.readRecord().trainer;
      if (trainer === GAN_TRAINER) {
        for (const r of run.readMetricsWith(ganEpochMetricsSchema)) {
          add('discriminator loss', 'loss', false, { epoch: r.epoch, value: r.discriminatorLoss, seed });
          if (r.generatorLoss !== null)
            add('generator loss', 'loss', false, { epoch: r.epoch, value: r.generatorLoss, seed });
        }
      } else if (trainer === VAE_TRAINER) {
        for (const r of run.readMetrics()) {
          const stage = r.stage === 'stage1' ? 'stage 1' : 'stage 2';
          add(`${stage}: loss`, 'loss', false, { epoch: r.epoch, value: r.loss, seed });
          if (r.gamma !== null) add(`${stage}: γ`, 'γ (log)', true, { epoch: r.epoch, value: r.gamma, seed });
          if (r.activeDims !== null && r.stage === 'stage1') {
            add(`${stage}: active dims`, 'active latent dims', false, {
              epoch: r.epoch,
              value: r.activeDims,
              seed,
            });
          }
        }
      }
    } catch {
      // a run whose records cannot be read has no curves; its cell says what is wrong
    }
  }
  return [...panels.entries()].flatMap(([title, p]) => {
    const c = curveChart(title, p.y, p.points, p.log, title.endsWith('active dims'));
    return c ? [c] : [];
  });
}

/** The sample grid of the model's first evaluated (else trained) seed, as a data URL. */
function sampleGrid(results: StudyResults, model: ModelResult): { url: string; seed: number } | null {
  const cells = results.cells
    .filter((c) => c.model === model.id)
    .sort((a, b) => Number(b.state === 'done') - Number(a.state === 'done') || a.seed - b.seed);
  for (const cell of cells) {
    const file = join(cell.runDir, 'samples', `${model.mode}.png`);
    if (existsSync(file)) {
      return { url: `data:image/png;base64,${readFileSync(file).toString('base64')}`, seed: cell.seed };
    }
  }
  return null;
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0 auto; max-width: 1200px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.muted { color: #666; } .note { background: #fff8e5; border: 1px solid #f0d58c; padding: 8px 12px; border-radius: 4px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f5f7; } td.num { text-align: right; white-space: nowrap; } th.pub, td.pub { background: #fbf1f0; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; } figure svg { display: block; max-width: 100%; height: auto; }
.grid img { image-rendering: pixelated; width: 256px; border: 1px solid #ddd; }
.model { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
.failed { color: #b00020; } details pre { background: #f6f8fa; padding: 8px; overflow: auto; font-size: 12px; }
`;

/** `report.html`: the table beside the published numbers, the FID chart, grids and curves per model, the cells. */
export async function reportHtml(results: StudyResults): Promise<string> {
  const s = results.study;
  const { header, rows } = table(results);
  const extractors = extractorsOf(results);
  const numeric = (i: number) => i >= 2 && i < header.length - 2;
  const tableHtml = `<table id="table1"><thead><tr>${header
    .map((h, i) => `<th${i === 2 ? ' class="pub"' : ''}>${esc(h)}</th>`)
    .join('')}</tr></thead><tbody>${rows
    .map(
      (r, k) =>
        `<tr data-model="${esc(results.models[k]?.id ?? '')}">${r
          .map(
            (c, i) =>
              `<td class="${[numeric(i) ? 'num' : '', i === 2 ? 'pub' : ''].join(' ').trim()}">${esc(c)}</td>`,
          )
          .join('')}</tr>`,
    )
    .join('')}</tbody></table>`;

  const fidFigures: string[] = [];
  for (const e of extractors) {
    const spec = fidChart(results, e);
    if (spec)
      fidFigures.push(`<figure class="chart" data-chart="fid-${esc(e.name)}">${await svg(spec)}</figure>`);
  }

  const modelSections: string[] = [];
  for (const m of results.models) {
    const grid = sampleGrid(results, m);
    const curves: string[] = [];
    for (const spec of curveCharts(results, m))
      curves.push(`<figure class="chart">${await svg(spec)}</figure>`);
    modelSections.push(`<section class="model-section" data-model="${esc(m.id)}">
<h3>${esc(m.id)} <span class="muted">(${esc(m.table1)}; ${esc(m.mode)} sampling; ${esc(m.budgetText)}, ${esc(m.preset)} preset)</span></h3>
<div class="model">
${grid ? `<figure class="grid"><img alt="samples of ${esc(m.id)}, seed ${grid.seed}" src="${grid.url}"><figcaption class="muted">samples (${esc(m.mode)}), seed ${grid.seed}</figcaption></figure>` : '<p class="muted">no sample grid yet</p>'}
<div class="charts">${curves.join('\n') || '<p class="muted">no training curves yet</p>'}</div>
</div></section>`);
  }

  const first = extractors[0]?.name;
  const cellRows = results.cells
    .map((c) => {
      const m = c.metrics.find((x) => x.extractor === first) ?? c.metrics[0];
      const trials = m ? m.trials.map((t) => t.fid.toFixed(2)).join(', ') : '-';
      return `<tr data-cell="${esc(c.id)}"><td>${esc(c.id)}</td><td class="${c.state === 'failed' || c.state === 'stale' ? 'failed' : ''}">${esc(c.state)}</td><td class="num">${m ? m.fid.mean.toFixed(2) : '-'}</td><td class="num">${esc(trials)}</td><td class="num">${c.trainSeconds.toFixed(0)} s</td><td class="num">${c.evalSeconds.toFixed(0)} s</td><td>${c.attempts}</td><td>${esc(c.error ?? c.detail)}</td></tr>`;
    })
    .join('');

  const env = results.environment;
  const backend = env.backend
    ? `${env.backend.backend} (${env.backend.threads} thread${env.backend.threads === 1 ? '' : 's'})`
    : 'unknown';
  const trainBackends = [...new Set(results.cells.flatMap((c) => (c.trainBackend ? [c.trainBackend] : [])))];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(s.name)}: ${esc(s.dataset.name)} — tsvae comparison</title>
<style>${CSS}</style></head>
<body>
<header><h1>${esc(s.name)}: ${esc(s.dataset.name)}</h1>
${s.description ? `<p>${esc(s.description)}</p>` : ''}
<p class="muted">${results.complete ? `all ${results.cells.length} cells done` : `${results.counts.done} of ${results.cells.length} cells done`} · ${s.seeds.length} seed${s.seeds.length === 1 ? '' : 's'} · ${esc(results.createdAt)}</p></header>

<h2>FID: ours beside the published Table 1</h2>
${tableHtml}
<p>${esc(protocolText(results))}</p>
<p class="note"><strong>Not the same measurement.</strong> The published column (${esc(results.published.source)}) uses Inception features and the authors' training budgets. Our columns use the extractor${extractors.length === 1 ? '' : 's'} named in ${extractors.length === 1 ? 'its header' : 'their headers'}${extractors.some((e) => e.plugin !== 'inception-fid') ? ' (not Inception: the scales differ)' : ''}, the N above and the budgets in the table: compare the rows with each other, and with the published column only under the same protocol.</p>

<h2>FID per model</h2>
<div class="charts">${fidFigures.join('\n') || '<p class="muted">no evaluated cell yet</p>'}</div>

<h2>Samples and training curves</h2>
${modelSections.join('\n')}

<h2>Cells</h2>
<table id="cells"><thead><tr><th>cell</th><th>state</th><th>FID${first ? ` (${esc(first)})` : ''}</th><th>FID per trial</th><th>training</th><th>evaluation</th><th>attempts</th><th>detail</th></tr></thead><tbody>${cellRows}</tbody></table>

<h2>Protocol and environment</h2>
<p>Evaluation in the study process on ${esc(backend)}; training on ${esc(trainBackends.join(', ') || 'unknown')} (${esc(env.executor)} executor, ${env.jobs} at once); ${env.cores} cores; Node ${esc(env.node)}, ${esc(env.platform)}.</p>
<details><summary>protocol</summary><pre>${esc(JSON.stringify(results.protocol, null, 2))}</pre></details>
<details><summary>versions</summary><pre>${esc(JSON.stringify(env.versions, null, 2))}</pre></details>
<details><summary>models and their config overrides</summary><pre>${esc(
    JSON.stringify(
      results.models.map((m) => ({
        id: m.id,
        name: m.name,
        preset: m.preset,
        budget: m.budget,
        mode: m.mode,
        config: m.config,
      })),
      null,
      2,
    ),
  )}</pre></details>
<p class="muted">Study file: ${esc(s.source)} · directory: ${esc(s.dir)} · made by tsvae-compare (@tsvae/compare ${esc(env.versions['@tsvae/compare'] ?? '')}).</p>
</body></html>
`;
}

/** Both documents of a study's report. */
export async function renderReport(results: StudyResults): Promise<StudyReport> {
  return { html: await reportHtml(results), markdown: summaryMarkdown(results) };
}
