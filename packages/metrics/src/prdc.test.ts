import { describe, expect, it } from 'vitest';
import { knnRadii, type PrdcResult, prdcSteps, precisionRecallDensityCoverage, runSteps } from './prdc';
import { fixtureJson, lcgFeatures, lcgUniform } from './testing';

/** How tools/prdc_oracle.py made a case's inputs: lcg_features(seed, n, d) * scale + shift, or floor(3 u). */
interface Recipe {
  real?: [number, number, number, number, number];
  fake?: [number, number, number, number, number];
  discreteReal?: [number, number, number];
  discreteFake?: [number, number, number];
}

interface OracleCase {
  name: string;
  recipe: Recipe;
  k: number;
  closed: boolean;
  precision: number;
  recall: number;
  density: number;
  coverage: number;
  real_radii?: number[];
  fake_radii?: number[];
}

const { cases } = fixtureJson<{ cases: OracleCase[] }>('prdc', 'expected.json');

function build(
  smooth: [number, number, number, number, number] | undefined,
  discrete: [number, number, number] | undefined,
): { x: Float64Array; d: number } {
  if (smooth) {
    const [seed, n, d, scale, shift] = smooth;
    const x = lcgFeatures(seed, n, d, scale);
    if (shift !== 0) for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + shift;
    return { x, d };
  }
  const [seed, n, d] = discrete as [number, number, number];
  return { x: lcgUniform(seed, n * d).map((u) => Math.floor(3 * u)), d };
}

const METRICS = ['precision', 'recall', 'density', 'coverage'] as const;

function expectClose(r: PrdcResult, c: OracleCase): void {
  for (const m of METRICS) expect(Math.abs(r[m] - c[m]), `${c.name} k=${c.k} ${m}`).toBeLessThan(1e-9);
}

describe('precision / recall / density / coverage vs the numpy oracle (tools/prdc_oracle.py)', () => {
  it.each(cases)('$name, k = $k, closed balls: $closed', (c) => {
    const real = build(c.recipe.real, c.recipe.discreteReal);
    const fake = build(c.recipe.fake, c.recipe.discreteFake);
    const d = real.d;
    for (const blockSize of [256, 7, 1]) {
      const r = precisionRecallDensityCoverage(real.x, fake.x, d, {
        k: c.k,
        closedBalls: c.closed,
        blockSize,
      });
      expectClose(r, c);
      expect(r).toMatchObject({ k: c.k, realCount: real.x.length / d, fakeCount: fake.x.length / d, dim: d });
    }
    if (c.real_radii && c.fake_radii) {
      for (const [x, want] of [
        [real.x, c.real_radii],
        [fake.x, c.fake_radii],
      ] as const) {
        const got = knnRadii(x, d, { k: c.k, blockSize: 13 });
        expect(got.length).toBe(want.length);
        let err = 0;
        for (let i = 0; i < want.length; i++) {
          const w = want[i] as number;
          err = Math.max(err, Math.abs((got[i] as number) - w) / Math.max(w, 1e-300));
        }
        expect(err).toBeLessThan(1e-9);
      }
    }
  });

  it('covers both comparisons, and they differ only where there are ties', () => {
    const discrete = cases.filter((c) => c.name === 'discrete' && c.k === 3);
    expect(discrete.map((c) => c.closed).sort()).toEqual([false, true]);
    const [open, closed] = [discrete.find((c) => !c.closed), discrete.find((c) => c.closed)];
    expect(closed?.density).toBeGreaterThan(open?.density ?? Number.POSITIVE_INFINITY);
    for (const c of cases.filter((x) => x.name !== 'discrete' && x.closed)) {
      const twin = cases.find((x) => x.name === c.name && x.k === c.k && !x.closed);
      for (const m of METRICS) expect(c[m]).toBe(twin?.[m]);
    }
  });
});

describe('precisionRecallDensityCoverage: closed forms and invariants', () => {
  const d = 6;
  const x = lcgFeatures(5, 80, d);

  it('a set against itself: precision = recall = coverage = 1; density 1 (strict) or (k + 1) / k (closed)', () => {
    for (const k of [1, 3, 5]) {
      const open = precisionRecallDensityCoverage(x, x, d, { k });
      expect([open.precision, open.recall, open.coverage, open.density]).toEqual([1, 1, 1, 1]);
      const closed = precisionRecallDensityCoverage(x, x, d, { k, closedBalls: true });
      expect([closed.precision, closed.recall, closed.coverage]).toEqual([1, 1, 1]);
      expect(closed.density).toBeCloseTo((k + 1) / k, 12);
    }
  });

  it('far-apart sets: all four are 0', () => {
    const far = x.map((v) => v + 100);
    const r = precisionRecallDensityCoverage(x, far, d);
    expect([r.precision, r.recall, r.density, r.coverage]).toEqual([0, 0, 0, 0]);
  });

  it('a fake set inside a part of the real set: precision 1, recall and coverage below 1', () => {
    // The fake samples are real samples 0..19 moved by a tiny amount: inside their own balls.
    const fake = x.slice(0, 20 * d).map((v) => v + 1e-9);
    const r = precisionRecallDensityCoverage(x, fake, d, { k: 3 });
    expect(r.precision).toBe(1);
    expect(r.recall).toBeLessThan(1);
    expect(r.coverage).toBeLessThan(1);
    expect(r.coverage).toBeGreaterThanOrEqual(20 / 80);
  });

  it('radii: the k-th nearest other row, self excluded; a duplicate row counts at distance 0', () => {
    // Points on a line at 0, 1, 3, 6, 10 (1-d).
    const line = Float64Array.of(0, 1, 3, 6, 10);
    expect([...knnRadii(line, 1, { k: 1 })]).toEqual([1, 1, 2, 3, 4]);
    expect([...knnRadii(line, 1, { k: 2 })]).toEqual([3, 2, 3, 4, 7]);
    expect([...knnRadii(Float64Array.of(0, 0, 5), 1, { k: 1 })]).toEqual([0, 0, 5]);
  });

  it('float32 features give the values of their float64 copies', () => {
    const a = Float32Array.from(x);
    const b = Float32Array.from(lcgFeatures(6, 50, d, 1.2));
    const r32 = precisionRecallDensityCoverage(a, b, d);
    const r64 = precisionRecallDensityCoverage(Float64Array.from(a), Float64Array.from(b), d);
    expect(r32).toEqual(r64);
  });

  it('reuses given real radii (same result), checking their length', () => {
    const fake = lcgFeatures(7, 60, d, 1.1);
    const direct = precisionRecallDensityCoverage(x, fake, d, { k: 4 });
    const radii = knnRadii(x, d, { k: 4 });
    expect(precisionRecallDensityCoverage(x, fake, d, { k: 4, realRadii: radii })).toEqual(direct);
    expect(() => precisionRecallDensityCoverage(x, fake, d, { realRadii: radii.subarray(1) })).toThrow(
      'realRadii has 79 values for 80 real samples',
    );
  });

  it('rejects bad input with the reason', () => {
    expect(() => precisionRecallDensityCoverage(x, x.subarray(0, 3 * d), d)).toThrow(
      'the fake set has 3 samples; k-NN radii with k = 3 need at least 4',
    );
    expect(() => precisionRecallDensityCoverage(x, x, d, { k: 0 })).toThrow('k must be a positive integer');
    expect(() => precisionRecallDensityCoverage(x, x.subarray(1), d)).toThrow(
      'fake features: length 479 is not a multiple of 6',
    );
    expect(() => knnRadii(x, d, { blockSize: 0 })).toThrow('blockSize must be a positive integer');
  });

  it('runSteps: progress rises to 1, and an aborted signal stops between blocks', async () => {
    const fake = lcgFeatures(8, 70, d);
    const seen: number[] = [];
    const out: { result?: PrdcResult } = {};
    await runSteps(prdcSteps(x, fake, d, { blockSize: 16 }, out), undefined, (f) => seen.push(f));
    expect(out.result).toEqual(precisionRecallDensityCoverage(x, fake, d));
    expect(seen.at(-1)).toBe(1);
    expect(seen.every((f, i) => i === 0 || f >= (seen[i - 1] as number))).toBe(true);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(runSteps(prdcSteps(x, fake, d, {}, {}), controller.signal)).rejects.toThrow('stop');
  });
});

describe.runIf(process.env['TSVAE_SLOW_TESTS'])('precisionRecallDensityCoverage at 10k x 10k', () => {
  it('never allocates an N x N matrix (800 MB in float64)', () => {
    const d = 4;
    const real = Float32Array.from(lcgFeatures(31, 10000, d));
    const fake = Float32Array.from(lcgFeatures(32, 10000, d, 1.05));
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const out: { result?: PrdcResult } = {};
    for (const _ of prdcSteps(real, fake, d, {}, out)) {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    expect(peak - before).toBeLessThan(20 * 1024 * 1024);
    expect(out.result?.precision).toBeGreaterThan(0.5);
    expect(out.result?.recall).toBeGreaterThan(0.5);
  }, 600_000);
});
