/**
 * The study report in a real browser: a tiny study (two models, two seeds) through the built
 * `tsvae-compare`, then its report.html in Debian's Chromium (headless, playwright-core): it loads
 * nothing from the network (every request other than the file itself is recorded and refused), the
 * console stays free of errors, the table has one row per model, every chart is a non-empty SVG
 * that the browser lays out, the sample grids decode. Writes artifacts/compare-report.png.
 *
 * Where Chromium is missing it skips with the reason, unless TSVAE_REAL_DATA=1 or CI is set (then
 * it must run). TSVAE_CHROMIUM names another Chromium binary.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudyResults } from '../src/results';
import { tinyStudy, writeStudy } from '../src/testing';

const app = resolve(import.meta.dirname, '..');
const repo = resolve(app, '../..');
const bin = join(app, 'dist', 'cli.js');
const artifacts = join(repo, 'artifacts');
const CHROMIUM = process.env['TSVAE_CHROMIUM'] ?? '/usr/bin/chromium';
const required = process.env['TSVAE_REAL_DATA'] === '1' || Boolean(process.env['CI']);
const available = existsSync(CHROMIUM);
const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];

if (!available && !required) {
  console.warn(
    `SKIPPED the report's browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set TSVAE_CHROMIUM); under CI / TSVAE_REAL_DATA=1 it must run`,
  );
}

describe.runIf(available || required)('the study report in Chromium', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsvae-compare-report-'));
  const dir = join(root, 'study');
  let browser: Browser;
  let results: StudyResults;

  beforeAll(async () => {
    if (!available)
      throw new Error(
        `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium); CI requires the browser test`,
      );
    if (!existsSync(bin)) throw new Error(`${bin} is missing: build first (npm run build)`);
    const study = writeStudy(join(root, 'files'), tinyStudy());
    const r = spawnSync(process.execPath, [bin, 'run', study, '--dir', dir, '--jobs', '2', '--json'], {
      encoding: 'utf8',
    });
    if (r.status !== 0)
      throw new Error(`tsvae-compare run exited ${r.status}:\n${r.stderr}\n${r.stdout.slice(-2000)}`);
    results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as StudyResults;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('opens without the network and without console errors; one table row per model; every chart renders; a screenshot', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const url = pathToFileURL(join(dir, 'report.html')).href;
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (u === url || u.startsWith('data:')) return route.continue();
      requests.push(u);
      return route.abort();
    });
    await page.goto(url, { waitUntil: 'load' });

    const rows = await page.$$eval('#table1 tbody tr', (trs) =>
      trs.map((tr) => tr.getAttribute('data-model')),
    );
    expect(rows).toEqual(results.models.map((m) => m.id));
    expect(rows).toHaveLength(2);

    const charts = await page.$$eval('figure.chart', (figs) =>
      figs.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        return {
          marks: svg ? svg.querySelectorAll('path, line, circle, rect, text').length : 0,
          width: box?.width ?? 0,
          height: box?.height ?? 0,
        };
      }),
    );
    // the FID chart, and per model its training curves
    expect(charts.length).toBeGreaterThanOrEqual(1 + 2 * 2);
    for (const [i, c] of charts.entries()) {
      expect(c.marks, `chart ${i}`).toBeGreaterThan(10);
      expect(c.width * c.height, `chart ${i}`).toBeGreaterThan(100 * 80);
    }
    expect(await page.$$eval('figure[data-chart^="fid-"] svg', (s) => s.length)).toBe(1);
    // (evaluated in the page: an <img>'s complete and naturalWidth)
    const grids = await page.$$eval('.grid img', (imgs) =>
      imgs.map((i) => {
        const img = i as unknown as { complete: boolean; naturalWidth: number };
        return { ok: img.complete, w: img.naturalWidth };
      }),
    );
    expect(grids).toHaveLength(2);
    for (const g of grids) expect(g.ok && g.w > 0).toBe(true);
    expect(await page.$$eval('#cells tbody tr', (trs) => trs.length)).toBe(results.cells.length);
    // the note that says which extractor produced our numbers
    expect(await page.textContent('.note')).toContain('Inception');

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'compare-report.png'), fullPage: true });
    await page.close();
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
  });
});
