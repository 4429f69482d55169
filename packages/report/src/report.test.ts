import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { chartToPng, chartToSvg, formatMeanStd, markdownTable, meanStd } from './index';

describe('charts', () => {
  it('renders a vega-lite line chart to SVG with one path per series and the axis titles', async () => {
    const svg = await chartToSvg({
      data: {
        values: [
          { epoch: 1, gamma: 0.8, r: 'r = 1' },
          { epoch: 2, gamma: 0.4, r: 'r = 1' },
          { epoch: 1, gamma: 0.9, r: 'r = 2' },
          { epoch: 2, gamma: 0.5, r: 'r = 2' },
        ],
      },
      mark: 'line',
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
        y: { field: 'gamma', type: 'quantitative', title: 'gamma' },
        color: { field: 'r', type: 'nominal' },
      },
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('epoch');
    expect(svg).toContain('gamma');
    expect((svg.match(/class="mark-line/g) ?? []).length).toBe(2); // one line per series
    expect((svg.match(/<path[^>]*d="M/g) ?? []).length).toBeGreaterThanOrEqual(2);
  });

  it('rasterises to a PNG of the SVG size times the scale, not blank', async () => {
    const spec = {
      width: 100,
      height: 50,
      data: {
        values: [
          { a: 'x', b: 3 },
          { a: 'y', b: 1 },
        ],
      },
      mark: 'bar' as const,
      encoding: {
        x: { field: 'a', type: 'nominal' as const },
        y: { field: 'b', type: 'quantitative' as const },
      },
    };
    const png = PNG.sync.read(Buffer.from(await chartToPng(spec, { scale: 1 })));
    expect(png.width).toBeGreaterThan(100);
    expect(png.height).toBeGreaterThan(50);
    let dark = 0;
    for (let i = 0; i < png.data.length; i += 4) if ((png.data[i] as number) < 128) dark++;
    expect(dark).toBeGreaterThan(100);
  });
});

describe('tables', () => {
  it('mean ± std with ddof 1', () => {
    const m = meanStd([1, 2, 3, 4]);
    expect(m.mean).toBe(2.5);
    expect(m.std).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(formatMeanStd(m, 1)).toBe('2.5 ± 1.3');
    expect(formatMeanStd(meanStd([7]), 1)).toBe('7.0');
    expect(() => meanStd([])).toThrow(RangeError);
  });

  it('markdown tables escape pipes and check row widths', () => {
    expect(markdownTable(['a', 'b|c'], [[1, 'x|y']])).toBe('| a | b\\|c |\n|---|---|\n| 1 | x\\|y |');
    expect(() => markdownTable(['a'], [[1, 2]])).toThrow(/row 0 has 2 cells/);
  });
});
