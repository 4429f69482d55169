/** The demo's logic that needs no DOM: page parameters, the facts table, value comparisons. */
import { MAX_SEED } from '@tsvae/core';
import type { BrowserBackend, ExportManifest, ExportMode } from '@tsvae/web';

/** The built-in example export, a two-stage VAE (made by scripts/prepare-example.mjs), relative to the page. */
export const EXAMPLE_EXPORT = 'example/';
/** The built-in GAN example export (made by scripts/prepare-example.mjs), relative to the page. */
export const EXAMPLE_GAN_EXPORT = 'example-gan/';

/** Grid sizes offered by the count box. */
export const COUNTS = [16, 36, 64, 100] as const;

/** What the page's query string asks for. */
export interface PageParams {
  /** The export folder URL (default the built-in example). */
  readonly exportUrl: string;
  readonly backend: BrowserBackend | 'auto';
  /** Seed and count of the grids (default: the export's first reference grid). */
  readonly seed: number | null;
  readonly count: number | null;
}

function intParam(value: string | null, min: number, max: number): number | null {
  if (value === null || !/^\d+$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
}

/** Reads `?export=<url>&backend=webgl|wasm|cpu|auto&seed=<int>&count=<int>` (bad values are ignored). */
export function parseParams(search: string): PageParams {
  const q = new URLSearchParams(search);
  const backend = q.get('backend');
  return {
    exportUrl: q.get('export') || EXAMPLE_EXPORT,
    backend: backend === 'webgl' || backend === 'wasm' || backend === 'cpu' ? backend : 'auto',
    seed: intParam(q.get('seed'), 0, MAX_SEED),
    count: intParam(q.get('count'), 1, 400),
  };
}

/** The seed box's value as a seed, or null when it is not one (0..MAX_SEED). */
export function parseSeed(text: string): number | null {
  return intParam(text.trim(), 0, MAX_SEED);
}

const num = (x: number): string => (Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(3) : x.toExponential(2));

/** The run's facts as label / value rows (a GAN run's: its generator, code prior and z_dim). */
export function facts(m: ExportManifest): [string, string][] {
  const pos = m.run.position;
  const head: [string, string][] = [
    ['run', m.run.id],
    [
      'dataset',
      `${m.dataset.plugin}${Object.keys(m.dataset.config).length ? ` ${JSON.stringify(m.dataset.config)}` : ''}`,
    ],
    ['images', m.imageShape.join(' × ')],
  ];
  const model: [string, string][] = m.generator
    ? [
        ['model', 'GAN'],
        ['code dims (z)', String(m.latentDim)],
        ['code prior', m.generator.prior === 'uniform' ? 'uniform on [−1, 1]' : 'N(0, I)'],
        ['epochs', String(m.run.epochs.stage1)],
        ['generator', m.generator.plugin],
      ]
    : [
        ['latent dims (κ)', String(m.latentDim)],
        ['γ (stage 1)', m.gamma === null ? '—' : num(m.gamma)],
        ['γ_z (stage 2)', m.gammaZ === null ? '—' : num(m.gammaZ)],
        ['epochs', `stage 1: ${m.run.epochs.stage1}, stage 2: ${m.run.epochs.stage2}`],
      ];
  const checkpoint: [string, string][] = [
    [
      'checkpoint',
      `${m.run.checkpoint} (${pos.stage === 'done' ? 'finished' : m.generator ? `epoch ${pos.epoch}` : `${pos.stage}, epoch ${pos.epoch}`})`,
    ],
    ['sampling', m.modes.join(', ')],
  ];
  const parts: [string, string][] = m.stage1
    ? [
        ['decoder', m.stage1.decoder.plugin],
        ['second stage', m.secondStage ? m.secondStage.plugin : '—'],
      ]
    : [];
  const rows: [string, string][] = [
    ...head,
    ...model,
    ...checkpoint,
    ...parts,
    ['exported', `${m.createdAt.slice(0, 19).replace('T', ' ')} (references on ${m.backend})`],
  ];
  for (const r of m.eval?.results ?? []) {
    rows.push([
      `FID ${r.generator}`,
      `${r.fid.toFixed(2)}${r.fidStd ? ` ± ${r.fidStd.toFixed(2)}` : ''} (${r.extractor}, N = ${r.count})${
        r.kid === null ? '' : `; KID ${num(r.kid)}`
      }${m.eval?.sameCheckpoint ? '' : ' (an earlier checkpoint)'}`,
    ]);
  }
  return rows;
}

/** The grid title of a mode (`gan`: codes from the export's prior, as the manifest says). */
export function modeTitle(mode: ExportMode, prior?: 'uniform' | 'normal'): string {
  if (mode === 'gan') return `GAN samples (z ~ ${prior === 'normal' ? 'N(0, I)' : 'U(−1, 1)'} → G(z))`;
  return mode === 'two-stage' ? 'Two-stage samples (u → z → x)' : 'One-stage samples (z ~ N(0, I) → x)';
}
