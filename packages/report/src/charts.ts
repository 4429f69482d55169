import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A vega-lite specification (the `vega-lite` package's `TopLevelSpec`). */
export type ChartSpec = TopLevelSpec;

/**
 * Renders a vega-lite chart to an SVG document in Node, through vega's headless view (no canvas,
 * no browser, no network: the data must be inline).
 *
 * @example
 * ```ts
 * import { chartToSvg } from '@tsvae/report';
 * const svg = await chartToSvg({
 *   data: { values: [{ epoch: 1, gamma: 0.8 }, { epoch: 2, gamma: 0.4 }] },
 *   mark: 'line',
 *   encoding: { x: { field: 'epoch', type: 'quantitative' }, y: { field: 'gamma', type: 'quantitative' } },
 * });
 * ```
 */
export async function chartToSvg(spec: ChartSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Rasterises an SVG document to PNG bytes (resvg; system fonts are used for text). `scale`
 * multiplies the SVG's own size (default 2, for sharp figures).
 */
export function svgToPng(svg: string, options: { readonly scale?: number } = {}): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: options.scale ?? 2 },
    background: 'white',
    font: { loadSystemFonts: true },
  });
  return new Uint8Array(resvg.render().asPng());
}

/** {@link chartToSvg} then {@link svgToPng}. */
export async function chartToPng(
  spec: ChartSpec,
  options: { readonly scale?: number } = {},
): Promise<Uint8Array> {
  return svgToPng(await chartToSvg(spec), options);
}
