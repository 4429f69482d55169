/**
 * @packageDocumentation
 * Reports for tsvae's studies and comparisons: vega-lite charts rendered to SVG and PNG in Node
 * (vega's headless view and resvg; no browser), markdown tables and mean ± std over seeds.
 */
export { type ChartSpec, chartToPng, chartToSvg, svgToPng } from './charts';
export { formatMeanStd, type MeanStd, markdownTable, meanStd } from './table';
