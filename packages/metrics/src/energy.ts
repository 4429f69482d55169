/**
 * The energy distance between two samples (Székely & Rizzo): `2 E|X - Y| - E|X - X'| - E|Y - Y'|`,
 * estimated with U-statistics (the within-sample means skip the diagonal), in float64. It is zero
 * exactly when the distributions are equal, for any metric of strong negative type (Euclidean
 * distance, or the geodesic distance on a torus, e.g. to compare densities on a manifold).
 */

/** A distance between row `i` of `a` and row `j` of `b` (both `dim` wide). */
export type RowDistance = (
  a: ArrayLike<number>,
  i: number,
  b: ArrayLike<number>,
  j: number,
  dim: number,
) => number;

/** Euclidean distance between two rows. */
export const euclidean: RowDistance = (a, i, b, j, dim) => {
  let s = 0;
  const ai = i * dim;
  const bj = j * dim;
  for (let k = 0; k < dim; k++) {
    const d = (a[ai + k] as number) - (b[bj + k] as number);
    s += d * d;
  }
  return Math.sqrt(s);
};

/** The geodesic distance on the torus `[0, 2π)^dim` (each coordinate an angle). */
export const torusDistance: RowDistance = (a, i, b, j, dim) => {
  let s = 0;
  for (let k = 0; k < dim; k++) {
    let d = Math.abs((a[i * dim + k] as number) - (b[j * dim + k] as number)) % (2 * Math.PI);
    if (d > Math.PI) d = 2 * Math.PI - d;
    s += d * d;
  }
  return Math.sqrt(s);
};

function meanDistance(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dim: number,
  same: boolean,
  dist: RowDistance,
): number {
  const n = a.length / dim;
  const m = b.length / dim;
  let s = 0;
  if (same) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += dist(a, i, a, j, dim);
    return (2 * s) / (n * (n - 1));
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) s += dist(a, i, b, j, dim);
  return s / (n * m);
}

/**
 * The energy distance between samples `x` and `y` (rows of `dim` values; at least 2 rows each).
 *
 * @example
 * ```ts
 * import { energyDistance } from '@tsvae/metrics';
 * const d = energyDistance(generated, real, 16); // both Float32Array of n * 16 values
 * ```
 */
export function energyDistance(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  dim: number,
  options: { readonly distance?: RowDistance } = {},
): number {
  if (!Number.isInteger(dim) || dim <= 0)
    throw new RangeError(`energyDistance: dim must be a positive integer, got ${dim}`);
  for (const [name, v] of [
    ['x', x],
    ['y', y],
  ] as const) {
    if (v.length % dim !== 0)
      throw new RangeError(`energyDistance: ${name} has ${v.length} values, not a multiple of ${dim}`);
    if (v.length / dim < 2) throw new RangeError(`energyDistance: ${name} needs at least 2 rows`);
  }
  const dist = options.distance ?? euclidean;
  return (
    2 * meanDistance(x, y, dim, false, dist) -
    meanDistance(x, x, dim, true, dist) -
    meanDistance(y, y, dim, true, dist)
  );
}
