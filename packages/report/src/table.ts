/** Mean and sample standard deviation (ddof = 1; 0 for a single value) of values, e.g. over seeds. */
export interface MeanStd {
  readonly mean: number;
  readonly std: number;
  readonly n: number;
}

/** {@link MeanStd} of `values` (an empty list is an error). */
export function meanStd(values: readonly number[]): MeanStd {
  if (values.length === 0) throw new RangeError('meanStd: no values');
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const v = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(v), n };
}

/** `mean ± std` with `digits` decimals (just the mean for n = 1). */
export function formatMeanStd(m: MeanStd, digits = 2): string {
  return m.n > 1 ? `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}` : m.mean.toFixed(digits);
}

/** A GitHub-flavoured markdown table; cells are escaped (`|`) and numbers printed as given. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const cell = (v: string | number) => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  for (const [i, r] of rows.entries()) {
    if (r.length !== header.length) {
      throw new RangeError(`markdownTable: row ${i} has ${r.length} cells, the header ${header.length}`);
    }
  }
  return [
    `| ${header.map(cell).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}
