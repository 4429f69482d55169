/**
 * The layout of sample grids: images `[n, H, W, C]` in [0, 1] tiled into one RGBA picture with a
 * 1-pixel white gap. Platform-neutral: `@tsvae/stages` encodes it as PNG, the browser draws it on a
 * canvas, so both show the same pixels.
 */

/** Options of {@link imageGrid}. */
export interface ImageGridOptions {
  /** Images per row (default `ceil(sqrt(n))`). */
  readonly columns?: number;
}

/** An RGBA picture (`width * height * 4` bytes, row-major, alpha 255). */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray;
}

/** The gap between grid cells and around the grid, in pixels. */
export const GRID_GAP = 1;

/** The grid's geometry: `columns`, `rows` and the picture size for `n` images of `H x W`. */
export function gridLayout(
  n: number,
  height: number,
  width: number,
  options: ImageGridOptions = {},
): { columns: number; rows: number; width: number; height: number } {
  const columns = Math.max(1, options.columns ?? Math.ceil(Math.sqrt(n)));
  const rows = Math.ceil(n / columns);
  return {
    columns,
    rows,
    width: columns * (width + GRID_GAP) + GRID_GAP,
    height: rows * (height + GRID_GAP) + GRID_GAP,
  };
}

/**
 * The image under pixel `(x, y)` of a grid of `n` images of `H x W` (the index, or -1 on a gap or
 * outside the grid).
 */
export function gridCellAt(
  x: number,
  y: number,
  n: number,
  height: number,
  width: number,
  options: ImageGridOptions = {},
): number {
  const { columns } = gridLayout(n, height, width, options);
  const cx = Math.floor((x - GRID_GAP) / (width + GRID_GAP));
  const cy = Math.floor((y - GRID_GAP) / (height + GRID_GAP));
  const inX = x - GRID_GAP - cx * (width + GRID_GAP);
  const inY = y - GRID_GAP - cy * (height + GRID_GAP);
  if (cx < 0 || cy < 0 || cx >= columns || inX >= width || inY >= height) return -1;
  const i = cy * columns + cx;
  return i < n ? i : -1;
}

/** A value in [0, 1] as a byte: `round(v * 255)`, clamped. */
export function toByte(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v * 255)));
}

/**
 * Tiles images (`values` in NHWC order, `shape` `[n, H, W, C]`, C = 1 or 3, values in [0, 1]) into
 * an RGBA grid with a 1-pixel white gap; gray images are repeated over R, G and B.
 */
export function imageGrid(
  values: ArrayLike<number>,
  shape: readonly [number, number, number, number],
  options: ImageGridOptions = {},
): RgbaImage {
  const [n, h, w, c] = shape;
  if (c !== 1 && c !== 3) throw new Error(`imageGrid: images must have 1 or 3 channels, got ${c}`);
  if (values.length !== n * h * w * c) {
    throw new Error(`imageGrid: ${values.length} values for shape [${shape.join(', ')}]`);
  }
  const layout = gridLayout(n, h, w, options);
  const data = new Uint8ClampedArray(layout.width * layout.height * 4).fill(255);
  for (let i = 0; i < n; i++) {
    const gx = GRID_GAP + (i % layout.columns) * (w + GRID_GAP);
    const gy = GRID_GAP + Math.floor(i / layout.columns) * (h + GRID_GAP);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((i * h + y) * w + x) * c;
        const dst = ((gy + y) * layout.width + gx + x) * 4;
        for (let ch = 0; ch < 3; ch++) data[dst + ch] = toByte(values[src + (c === 1 ? 0 : ch)] as number);
        data[dst + 3] = 255;
      }
    }
  }
  return { width: layout.width, height: layout.height, data };
}
