/**
 * The demo in a real browser: Debian's Chromium (headless, driven by playwright-core) against the
 * built page (`npm run demo:build`) and its built-in example exports (a two-stage VAE, and a GAN:
 * `example-gan/`, the same checks of its one `gan` grid). Checks that the page's samples
 * equal the values Node computed for the same run and seed (wasm vs wasm within 1e-3; WebGL, a
 * software renderer here, within a stated tolerance), that the pixels equal Node's PNG, that a seed
 * typed into the box gives Node's draws for that seed, interpolation, a dropped folder, and that
 * the console stays free of errors. Writes artifacts/demo.png, artifacts/demo-gan.png and
 * artifacts/demo-parity.json.
 *
 * Where Chromium is missing it skips with the reason, unless TSVAE_REAL_DATA=1 or CI is set (then
 * it must run). TSVAE_CHROMIUM names another Chromium binary.
 */
import '@tensorflow/tfjs-backend-wasm';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { GRID_GAP, gridLayout } from '@tsvae/core';
import { type ExportManifest, type LoadedExport, loadExport, maxAbsDiff, memoryReader } from '@tsvae/web';
import { type Browser, chromium, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../scripts/serve.mjs';

const demo = resolve(import.meta.dirname, '..');
const repo = resolve(demo, '../..');
const dist = join(demo, 'dist');
const example = join(dist, 'example');
const exampleGan = join(dist, 'example-gan');
const artifacts = join(repo, 'artifacts');
const CHROMIUM = process.env['TSVAE_CHROMIUM'] ?? '/usr/bin/chromium';
const required = process.env['TSVAE_REAL_DATA'] === '1' || Boolean(process.env['CI']);
const available = existsSync(CHROMIUM);

/** wasm in Chromium vs wasm in Node (the references): the same kernels, so far below this. */
const WASM_TOLERANCE = 1e-3;
/**
 * WebGL (float32 textures; SwiftShader, a CPU implementation of the GPU API, in headless Chromium
 * here) vs the wasm references: measured max abs differences are recorded in
 * artifacts/demo-parity.json; on SwiftShader they stay below 1e-5 on the example, and this bound
 * leaves room for real GPUs' different rounding.
 */
const WEBGL_TOLERANCE = 1e-3;

/** Chromium's flags that work on this machine's closed network (see the machine notes). */
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

if (!available && !required) {
  console.warn(
    `SKIPPED the browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set TSVAE_CHROMIUM); under CI / TSVAE_REAL_DATA=1 it must run`,
  );
}

interface Drawn {
  shape: [number, number, number, number];
  values: number[];
}
interface PageState {
  status: string;
  error: string | null;
  backend: {
    backend: string;
    renderer: string | null;
    softwareRenderer: boolean | null;
    rejected: { backend: string; reason: string }[];
  } | null;
  source: string;
  seed: number;
  count: number;
  renders: number;
  grids: Record<string, Drawn & { seed: number }>;
  interpolation: (Drawn & { mode: string; from: number; to: number; steps: number }) | null;
  interpolations: number;
  verified: string | null;
}

const parity: Record<string, unknown> = {};

describe.runIf(available || required)('the demo page in Chromium', () => {
  let browser: Browser;
  let server: { url: string; close(): Promise<void> };
  let manifest: ExportManifest;
  let node: LoadedExport;
  let nodeGan: LoadedExport;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!available)
      throw new Error(
        `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium); CI requires the browser test`,
      );
    if (
      !existsSync(join(dist, 'index.html')) ||
      !existsSync(join(example, 'manifest.json')) ||
      !existsSync(join(exampleGan, 'manifest.json'))
    ) {
      throw new Error(`${dist} holds no built demo with its example exports: run npm run demo:build first`);
    }
    // Node's side: the same exports, loaded with the same code, on the stock wasm backend.
    await tf.setBackend('wasm');
    const read = (dir: string) =>
      memoryReader(new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))])));
    node = await loadExport(read(example));
    manifest = node.manifest;
    nodeGan = await loadExport(read(exampleGan));
    server = await startServer({ port: 0, dist, exportsDir: join(repo, 'exports') });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    parity['chromium'] = browser.version();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    node?.dispose();
    nodeGan?.dispose();
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(join(artifacts, 'demo-parity.json'), `${JSON.stringify(parity, null, 2)}\n`);
    console.log(`browser parity: ${JSON.stringify(parity)}`);
  });

  async function open(query: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1180, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${query}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${query}: ${e.message}`));
    await page.goto(`${server.url}${query}`);
    await settle(page, 1);
    return page;
  }

  /** Waits until the page has rendered `renders` times (or failed). */
  async function settle(page: Page, renders: number, interpolations = 0): Promise<PageState> {
    await page.waitForFunction(
      ([r, i]) => {
        const s = (window as unknown as { tsvaeDemo?: PageState }).tsvaeDemo;
        return (
          s !== undefined &&
          (s.status === 'error' ||
            (s.status === 'ready' && s.renders >= (r as number) && s.interpolations >= (i as number)))
        );
      },
      [renders, interpolations],
      { timeout: 120_000 },
    );
    const s = await state(page);
    if (s.status === 'error') throw new Error(`the page failed: ${s.error}`);
    return s;
  }

  const state = (page: Page): Promise<PageState> =>
    page.evaluate(() => (window as unknown as { tsvaeDemo: PageState }).tsvaeDemo);

  /** The canvas's own pixels (RGBA), as the page drew them (CSS only scales them up). */
  const canvasPixels = (page: Page, id: string): Promise<{ width: number; height: number; data: number[] }> =>
    page.evaluate((canvasId) => {
      const c = document.getElementById(canvasId) as HTMLCanvasElement;
      const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height);
      return { width: d.width, height: d.height, data: Array.from(d.data) };
    }, id);

  it('draws the example on wasm: values within 1e-3 of Node, pixels equal to Node’s PNG, no console errors', async () => {
    const page = await open('?backend=wasm');
    const s = await state(page);
    expect(s.backend?.backend).toBe('wasm');
    expect(s.verified).toBe('sha256');
    expect(Object.keys(s.grids).sort()).toEqual([...manifest.modes].sort());
    for (const ref of manifest.references) {
      const drawn = s.grids[ref.mode] as Drawn & { seed: number };
      expect([drawn.seed, drawn.shape]).toEqual([ref.seed, ref.shape]);
      const diff = maxAbsDiff(drawn.values, await node.referenceValues(ref));
      parity[`wasm ${ref.mode} seed ${ref.seed}`] = diff;
      expect(diff, `${ref.mode}: page (wasm) vs Node`).toBeLessThan(WASM_TOLERANCE);
      const png = PNG.sync.read(readFileSync(join(example, ref.png)));
      const pixels = await canvasPixels(page, `grid-${ref.mode}`);
      expect([pixels.width, pixels.height]).toEqual([png.width, png.height]);
      const pixelDiff = maxAbsDiff(pixels.data, png.data);
      parity[`wasm ${ref.mode} pixels`] = pixelDiff;
      expect(pixelDiff, `${ref.mode}: canvas vs Node's PNG (0..255)`).toBeLessThanOrEqual(1);
    }
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it('a seed typed into the seed box gives Node’s draws for that seed; interpolation ends at the two picked samples', async () => {
    const page = await open('?backend=wasm');
    await page.fill('#seed', '4242');
    await page.dispatchEvent('#seed', 'change');
    const s = await settle(page, 2);
    expect(s.seed).toBe(4242);
    for (const mode of manifest.modes) {
      const x = node.sample(mode, s.count, { seed: 4242 });
      const diff = maxAbsDiff((s.grids[mode] as Drawn).values, x.dataSync());
      x.dispose();
      parity[`wasm ${mode} seed 4242`] = diff;
      expect(diff, `${mode} seed 4242: page vs Node`).toBeLessThan(WASM_TOLERANCE);
    }
    const ref = manifest.references[0] as ExportManifest['references'][number];
    expect(s.grids[manifest.modes[0] as string]?.values).not.toEqual(
      Array.from(await node.referenceValues(ref)),
    );

    // click samples 1 and 6 of the first grid
    const mode = manifest.modes[0] as string;
    const [h, w] = manifest.imageShape;
    const layout = gridLayout(s.count, h, w);
    const canvas = page.locator(`#grid-${mode}`);
    const box = (await canvas.boundingBox()) as { width: number };
    const scale = box.width / layout.width;
    const centre = (i: number) => ({
      x: (GRID_GAP + (i % layout.columns) * (w + GRID_GAP) + w / 2) * scale,
      y: (GRID_GAP + Math.floor(i / layout.columns) * (h + GRID_GAP) + h / 2) * scale,
    });
    await canvas.click({ position: centre(1) });
    await canvas.click({ position: centre(6) });
    const after = await settle(page, 2, 1);
    const path = after.interpolation as NonNullable<PageState['interpolation']>;
    expect([path.mode, path.from, path.to, path.shape[0]]).toEqual([mode, 1, 6, path.steps]);
    const size = h * w * manifest.imageShape[2];
    const grid = (after.grids[mode] as Drawn).values;
    const ends = [
      maxAbsDiff(path.values.slice(0, size), grid.slice(size, 2 * size)),
      maxAbsDiff(path.values.slice((path.steps - 1) * size), grid.slice(6 * size, 7 * size)),
    ];
    parity['interpolation ends vs grid'] = Math.max(...ends);
    expect(Math.max(...ends)).toBeLessThan(1e-4);
    const middle = path.values.slice(
      Math.floor(path.steps / 2) * size,
      (Math.floor(path.steps / 2) + 1) * size,
    );
    expect(maxAbsDiff(middle, grid.slice(size, 2 * size))).toBeGreaterThan(0);
    expect((await canvasPixels(page, 'interp-canvas')).width).toBe(
      gridLayout(path.steps, h, w, { columns: path.steps }).width,
    );

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'demo.png'), fullPage: true });
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it('loads the same export from a folder chosen in the folder box', async () => {
    const page = await open('?backend=wasm');
    const first = await state(page);
    await page.setInputFiles('#export-folder', example);
    await page.waitForFunction(
      () => (window as unknown as { tsvaeDemo: PageState }).tsvaeDemo.source.startsWith('folder'),
      null,
      { timeout: 60_000 },
    );
    const s = await settle(page, first.renders + 1);
    expect(s.source).toBe('folder example');
    for (const mode of manifest.modes) expect(s.grids[mode]?.values).toEqual(first.grids[mode]?.values);
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it('on WebGL (when the browser offers it) stays within the stated tolerance; auto says what it chose', async () => {
    const page = await open('?backend=webgl').catch((e: unknown) => e as Error);
    if (page instanceof Error) {
      parity['webgl'] = `unavailable: ${page.message}`;
      console.warn(`WebGL parity not measured: ${page.message}`);
      consoleErrors.length = 0;
    } else {
      const s = await state(page);
      expect(s.backend?.backend).toBe('webgl');
      parity['webgl renderer'] = s.backend?.renderer;
      parity['webgl software renderer'] = s.backend?.softwareRenderer;
      for (const ref of manifest.references) {
        const diff = maxAbsDiff((s.grids[ref.mode] as Drawn).values, await node.referenceValues(ref));
        parity[`webgl ${ref.mode} seed ${ref.seed}`] = diff;
        expect(diff, `${ref.mode}: page (WebGL) vs Node (wasm)`).toBeLessThan(WEBGL_TOLERANCE);
      }
      await page.close();
    }
    const auto = await open('');
    const a = await state(auto);
    parity['auto'] = { backend: a.backend?.backend, rejected: a.backend?.rejected };
    expect(['webgl', 'wasm']).toContain(a.backend?.backend);
    if (a.backend?.backend === 'wasm' && a.backend.renderer !== null) {
      expect(a.backend.rejected[0]?.reason).toMatch(/software renderer/);
    }
    await auto.close();
    expect(consoleErrors).toEqual([]);
  });
  it('draws the GAN example on wasm: its gan grid within 1e-3 of Node, pixels equal to Node’s PNG, the GAN facts, no console errors', async () => {
    const m = nodeGan.manifest;
    expect(m.modes).toEqual(['gan']);
    const page = await open('?backend=wasm&export=example-gan/');
    const s = await state(page);
    expect(s.backend?.backend).toBe('wasm');
    expect(s.verified).toBe('sha256');
    expect(Object.keys(s.grids)).toEqual(['gan']);
    const ref = m.references[0] as ExportManifest['references'][number];
    const drawn = s.grids['gan'] as Drawn & { seed: number };
    expect([drawn.seed, drawn.shape]).toEqual([ref.seed, ref.shape]);
    const diff = maxAbsDiff(drawn.values, await nodeGan.referenceValues(ref));
    parity[`wasm gan seed ${ref.seed}`] = diff;
    expect(diff, 'gan: page (wasm) vs Node').toBeLessThan(WASM_TOLERANCE);
    const png = PNG.sync.read(readFileSync(join(exampleGan, ref.png)));
    const pixels = await canvasPixels(page, 'grid-gan');
    expect([pixels.width, pixels.height]).toEqual([png.width, png.height]);
    const pixelDiff = maxAbsDiff(pixels.data, png.data);
    parity['wasm gan pixels'] = pixelDiff;
    expect(pixelDiff, "gan: canvas vs Node's PNG (0..255)").toBeLessThanOrEqual(1);
    const facts = await page.locator('#facts').innerText();
    expect(facts).toContain('code prior');
    expect(facts).toContain(`code dims (z)\t${m.latentDim}`);
    expect(await page.locator('figcaption').allInnerTexts()).toEqual([
      expect.stringMatching(/^GAN samples \(z ~ (U\(−1, 1\)|N\(0, I\)) → G\(z\)\)$/),
    ]);
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it('GAN: a seed typed into the seed box gives Node’s draws for that seed; interpolation ends at the two picked samples', async () => {
    const m = nodeGan.manifest;
    const page = await open('?backend=wasm&export=example-gan/');
    await page.fill('#seed', '777');
    await page.dispatchEvent('#seed', 'change');
    const s = await settle(page, 2);
    expect(s.seed).toBe(777);
    const x = nodeGan.sample('gan', s.count, { seed: 777 });
    const diff = maxAbsDiff((s.grids['gan'] as Drawn).values, x.dataSync());
    x.dispose();
    parity['wasm gan seed 777'] = diff;
    expect(diff, 'gan seed 777: page vs Node').toBeLessThan(WASM_TOLERANCE);

    const [h, w, c] = m.imageShape;
    const layout = gridLayout(s.count, h, w);
    const canvas = page.locator('#grid-gan');
    const box = (await canvas.boundingBox()) as { width: number };
    const scale = box.width / layout.width;
    const centre = (i: number) => ({
      x: (GRID_GAP + (i % layout.columns) * (w + GRID_GAP) + w / 2) * scale,
      y: (GRID_GAP + Math.floor(i / layout.columns) * (h + GRID_GAP) + h / 2) * scale,
    });
    await canvas.click({ position: centre(2) });
    await canvas.click({ position: centre(9) });
    const after = await settle(page, 2, 1);
    const path = after.interpolation as NonNullable<PageState['interpolation']>;
    expect([path.mode, path.from, path.to, path.shape[0]]).toEqual(['gan', 2, 9, path.steps]);
    const size = h * w * c;
    const grid = (after.grids['gan'] as Drawn).values;
    const ends = Math.max(
      maxAbsDiff(path.values.slice(0, size), grid.slice(2 * size, 3 * size)),
      maxAbsDiff(path.values.slice((path.steps - 1) * size), grid.slice(9 * size, 10 * size)),
    );
    parity['gan interpolation ends vs grid'] = ends;
    expect(ends).toBeLessThan(1e-4);
    // the page's path is Node's: the codes of samples 2 and 9 for seed 777, interpolated and decoded
    const nodePath = nodeGan.interpolate(
      'gan',
      s.count,
      { from: 2, to: 9, steps: path.steps },
      { seed: 777 },
    );
    expect(maxAbsDiff(path.values, nodePath.dataSync())).toBeLessThan(WASM_TOLERANCE);
    nodePath.dispose();
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'demo-gan.png'), fullPage: true });
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it('GAN on WebGL (when the browser offers it) stays within the stated tolerance', async () => {
    const page = await open('?backend=webgl&export=example-gan/').catch((e: unknown) => e as Error);
    if (page instanceof Error) {
      parity['webgl gan'] = `unavailable: ${page.message}`;
      consoleErrors.length = 0;
      return;
    }
    const s = await state(page);
    expect(s.backend?.backend).toBe('webgl');
    for (const ref of nodeGan.manifest.references) {
      const diff = maxAbsDiff((s.grids[ref.mode] as Drawn).values, await nodeGan.referenceValues(ref));
      parity[`webgl gan seed ${ref.seed}`] = diff;
      expect(diff, 'gan: page (WebGL) vs Node (wasm)').toBeLessThan(WEBGL_TOLERANCE);
    }
    await page.close();
    expect(consoleErrors).toEqual([]);
  });
});
