/**
 * The demo page: loads a `tsvae export` folder (a URL or a dropped folder) with @tsvae/web, draws
 * the export's sample grids for a seed (two-stage and one-stage for a VAE run, one GAN grid for a
 * GAN run), interpolates between two samples and shows the run's facts. `window.tsvaeDemo` exposes
 * what was drawn (for the browser test).
 */
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import { gridCellAt, type InterpolationMethod, imageGrid } from '@tsvae/core';
import {
  type BrowserBackendInfo,
  describeBrowserBackend,
  type ExportManifest,
  type ExportMode,
  type ExportReader,
  type FolderFile,
  folderReader,
  initBrowserBackend,
  type LoadedExport,
  loadExport,
  urlReader,
} from '@tsvae/web';
import './style.css';
import { COUNTS, EXAMPLE_EXPORT, EXAMPLE_GAN_EXPORT, facts, modeTitle, parseParams, parseSeed } from './view';

/** What the page drew, for tests and the curious (`window.tsvaeDemo`). */
interface DrawnImages {
  readonly shape: [number, number, number, number];
  readonly values: number[];
}
interface DemoState {
  status: 'starting' | 'loading' | 'ready' | 'error';
  error: string | null;
  backend: BrowserBackendInfo | null;
  source: string;
  manifest: ExportManifest | null;
  verified: LoadedExport['verified'] | null;
  seed: number;
  count: number;
  /** Grid renders finished (increments on every redraw). */
  renders: number;
  grids: Partial<Record<ExportMode, DrawnImages & { seed: number }>>;
  interpolation:
    | (DrawnImages & {
        mode: ExportMode;
        from: number;
        to: number;
        steps: number;
        method: InterpolationMethod;
      })
    | null;
  interpolations: number;
}

declare global {
  interface Window {
    tsvaeDemo: DemoState;
  }
}

const state: DemoState = {
  status: 'starting',
  error: null,
  backend: null,
  source: '',
  manifest: null,
  verified: null,
  seed: 0,
  count: 16,
  renders: 0,
  grids: {},
  interpolation: null,
  interpolations: 0,
};
window.tsvaeDemo = state;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = parseParams(location.search);
let loaded: LoadedExport | null = null;
let selection: { mode: ExportMode; picks: number[] } | null = null;

/** One piece of work at a time (loads and renders share the models). */
let queue: Promise<void> = Promise.resolve();
function schedule(work: () => Promise<void>): Promise<void> {
  queue = queue.then(work).catch((e: unknown) => fail(e));
  return queue;
}

function setStatus(text: string, error = false): void {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

function fail(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  state.status = 'error';
  state.error = message;
  setStatus(`Error: ${message}`, true);
}

/** Draws images `[n, H, W, C]` as a grid (the layout of Node's PNGs) on a canvas, scaled up by CSS. */
function drawGrid(
  canvas: HTMLCanvasElement,
  values: ArrayLike<number>,
  shape: DrawnImages['shape'],
  columns?: number,
  targetWidth = 420,
): void {
  const grid = imageGrid(values, shape, columns === undefined ? {} : { columns });
  canvas.width = grid.width;
  canvas.height = grid.height;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(grid.data), grid.width, grid.height), 0, 0);
  const scale = Math.max(1, Math.min(12, Math.floor(targetWidth / grid.width)));
  canvas.style.width = `${grid.width * scale}px`;
  canvas.style.height = `${grid.height * scale}px`;
}

async function valuesOf(images: tf.Tensor4D): Promise<DrawnImages> {
  try {
    return { shape: images.shape as DrawnImages['shape'], values: Array.from(await images.data()) };
  } finally {
    images.dispose();
  }
}

function gridCanvas(mode: ExportMode): HTMLCanvasElement {
  const id = `grid-${mode}`;
  const existing = document.getElementById(id) as HTMLCanvasElement | null;
  if (existing) return existing;
  const figure = document.createElement('figure');
  const caption = document.createElement('figcaption');
  caption.textContent = modeTitle(mode, loaded?.manifest.generator?.prior);
  const canvas = document.createElement('canvas');
  canvas.id = id;
  canvas.className = 'grid';
  canvas.title = 'click two samples to interpolate between them';
  canvas.addEventListener('click', (e) => pick(mode, canvas, e));
  figure.append(caption, canvas);
  $('grids').append(figure);
  return canvas;
}

async function renderGrids(): Promise<void> {
  const model = loaded;
  if (!model) return;
  setStatus(`sampling ${state.count} images per mode, seed ${state.seed}…`);
  const started = performance.now();
  for (const mode of model.manifest.modes) {
    const drawn = await valuesOf(model.sample(mode, state.count, { seed: state.seed }));
    drawGrid(gridCanvas(mode), drawn.values, drawn.shape);
    state.grids[mode] = { ...drawn, seed: state.seed };
  }
  state.renders++;
  state.status = 'ready';
  setStatus(
    `${model.manifest.run.id}: ${state.count} samples per mode, seed ${state.seed} (${(performance.now() - started).toFixed(0)} ms on ${tf.getBackend()})`,
  );
  if (selection?.picks.length === 2) await renderInterpolation();
}

async function renderInterpolation(): Promise<void> {
  const model = loaded;
  if (!model || !selection || selection.picks.length !== 2) return;
  const [from, to] = selection.picks as [number, number];
  const steps = Math.max(2, Math.min(20, Number(($('steps') as HTMLInputElement).value) || 8));
  const method = ($('method') as HTMLSelectElement).value as InterpolationMethod;
  const drawn = await valuesOf(
    model.interpolate(selection.mode, state.count, { from, to, steps, method }, { seed: state.seed }),
  );
  drawGrid($('interp-canvas'), drawn.values, drawn.shape, steps, 860);
  $('interpolation').hidden = false;
  $('interp-label').textContent = `${selection.mode}, sample ${from} → ${to} (seed ${state.seed}, ${method})`;
  state.interpolation = { ...drawn, mode: selection.mode, from, to, steps, method };
  state.interpolations++;
}

function pick(mode: ExportMode, canvas: HTMLCanvasElement, e: MouseEvent): void {
  const model = loaded;
  if (!model) return;
  const [h, w] = model.manifest.imageShape;
  const scale = canvas.clientWidth / canvas.width;
  const x = Math.floor(e.offsetX / scale);
  const y = Math.floor(e.offsetY / scale);
  const i = gridCellAt(x, y, state.count, h, w);
  if (i < 0) return;
  if (!selection || selection.mode !== mode || selection.picks.length === 2) selection = { mode, picks: [i] };
  else selection.picks.push(i);
  if (selection.picks.length === 1) {
    $('interp-label').textContent = `${mode}, sample ${i} → (click a second sample)`;
    $('interpolation').hidden = false;
    return;
  }
  void schedule(renderInterpolation);
}

function renderFacts(m: ExportManifest, verified: LoadedExport['verified']): void {
  const table = $('facts');
  table.replaceChildren(
    ...[
      ...facts(m),
      ['files', verified === 'sha256' ? 'sha256 checked' : `not checked by sha256 (${verified})`],
    ].map(([k, v]) => {
      const tr = document.createElement('tr');
      for (const text of [k, v]) {
        const td = document.createElement('td');
        td.textContent = text as string;
        tr.append(td);
      }
      return tr;
    }),
  );
  $('notes').replaceChildren(
    ...m.notes.map((n) => {
      const li = document.createElement('li');
      li.textContent = n;
      return li;
    }),
  );
}

async function load(read: ExportReader, label: string): Promise<void> {
  state.status = 'loading';
  state.error = null;
  setStatus(`loading ${label}…`);
  const next = await loadExport(read);
  loaded?.dispose();
  loaded = next;
  selection = null;
  state.source = label;
  state.manifest = next.manifest;
  state.verified = next.verified;
  state.grids = {};
  state.interpolation = null;
  $('interpolation').hidden = true;
  $('grids').replaceChildren();
  const ref = next.manifest.references[0];
  state.seed = params.seed ?? ref?.seed ?? 0;
  state.count = params.count ?? ref?.count ?? 16;
  ($('seed') as HTMLInputElement).value = String(state.seed);
  const countBox = $('count') as HTMLSelectElement;
  const counts = [...new Set([...COUNTS, state.count])].sort((a, b) => a - b);
  countBox.replaceChildren(
    ...counts.map((c) => {
      const o = document.createElement('option');
      o.value = String(c);
      o.textContent = String(c);
      o.selected = c === state.count;
      return o;
    }),
  );
  renderFacts(next.manifest, next.verified);
  await renderGrids();
}

/** The files of a dropped folder (directory entries walked), with their paths. */
async function droppedFiles(items: DataTransferItemList): Promise<FolderFile[]> {
  const out: FolderFile[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((ok, err) => (entry as FileSystemFileEntry).file(ok, err));
      out.push({ path: `${prefix}${entry.name}`, arrayBuffer: () => file.arrayBuffer() });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((ok, err) => reader.readEntries(ok, err));
        if (!batch.length) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
      }
    }
  };
  const entries = [...items].map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  for (const e of entries) await walk(e, '');
  return out;
}

async function listExports(): Promise<{ label: string; url: string }[]> {
  const list = [
    { label: 'example (built in: a tiny two-stage VAE)', url: EXAMPLE_EXPORT },
    { label: 'example GAN (built in: a tiny NS-GAN)', url: EXAMPLE_GAN_EXPORT },
  ];
  try {
    const r = await fetch('exports/index.json');
    if (r.ok) {
      const index = (await r.json()) as { id: string; url: string; dataset?: string }[];
      for (const e of index) list.push({ label: `${e.id}${e.dataset ? ` (${e.dataset})` : ''}`, url: e.url });
    }
  } catch {
    // a plain static host: only the example
  }
  return list;
}

function wire(): void {
  $('seed').addEventListener('change', () => {
    const seed = parseSeed(($('seed') as HTMLInputElement).value);
    if (seed === null) {
      setStatus('the seed is an integer from 0 to 2147483647', true);
      return;
    }
    state.seed = seed;
    void schedule(renderGrids);
  });
  $('seed-random').addEventListener('click', () => {
    const seed = crypto.getRandomValues(new Uint32Array(1))[0] as number;
    state.seed = seed % 2147483648;
    ($('seed') as HTMLInputElement).value = String(state.seed);
    void schedule(renderGrids);
  });
  $('count').addEventListener('change', () => {
    state.count = Number(($('count') as HTMLSelectElement).value);
    selection = null;
    $('interpolation').hidden = true;
    void schedule(renderGrids);
  });
  for (const id of ['steps', 'method'])
    $(id).addEventListener('change', () => void schedule(renderInterpolation));
  $('export-load').addEventListener('click', () => {
    const url = ($('export-url') as HTMLInputElement).value.trim();
    if (url) void schedule(() => load(urlReader(url), url));
  });
  $('export-select').addEventListener('change', () => {
    const url = ($('export-select') as HTMLSelectElement).value;
    ($('export-url') as HTMLInputElement).value = url;
    void schedule(() => load(urlReader(url), url));
  });
  $('export-folder').addEventListener('change', () => {
    const input = $('export-folder') as HTMLInputElement;
    const files = [...(input.files ?? [])].map((f) => ({
      path: f.webkitRelativePath || f.name,
      arrayBuffer: () => f.arrayBuffer(),
    }));
    if (files.length)
      void schedule(() => load(folderReader(files), `folder ${files[0]?.path.split('/')[0] ?? ''}`));
  });
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    const items = e.dataTransfer?.items;
    if (!items) return;
    void schedule(async () => {
      const files = await droppedFiles(items);
      await load(folderReader(files), `dropped folder ${files[0]?.path.split('/')[0] ?? ''}`);
    });
  });
}

async function boot(): Promise<void> {
  wire();
  const info = await initBrowserBackend({
    backend: params.backend,
    wasmPaths: {
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    },
  });
  state.backend = info;
  $('backend').textContent = `TensorFlow.js ${tf.version_core}, backend: ${describeBrowserBackend(info)}`;
  const exportsList = await listExports();
  if (!exportsList.some((e) => e.url === params.exportUrl)) {
    exportsList.push({ label: params.exportUrl, url: params.exportUrl });
  }
  const select = $('export-select') as HTMLSelectElement;
  select.replaceChildren(
    ...exportsList.map((e) => {
      const o = document.createElement('option');
      o.value = e.url;
      o.textContent = e.label;
      o.selected = e.url === params.exportUrl;
      return o;
    }),
  );
  ($('export-url') as HTMLInputElement).value = params.exportUrl;
  await load(urlReader(params.exportUrl), params.exportUrl);
}

void schedule(boot);
