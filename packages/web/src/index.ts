/**
 * @packageDocumentation
 * A trained tsvae run in the browser. `tsvae export` writes a folder (the stage-1 decoder and the
 * second stage of a VAE run, or a GAN run's generator, in the tfjs model format, a manifest,
 * reference samples); {@link loadExport} loads it in a page (or in Node), rebuilding each component
 * through the registry from its recorded `{ plugin, config }` with `@tsvae/layers`' plugins and
 * custom layers (and `@tsvae/baselines/browser`'s generators), and samples with `@tsvae/core`'s
 * sampling code (or `@tsvae/baselines`' `sampleGan`), so a seed gives the same images as in Node.
 * {@link initBrowserBackend} picks WebGL or wasm. Browser-safe: no Node built-ins.
 */
export {
  type BrowserBackend,
  type BrowserBackendInfo,
  type BrowserBackendOptions,
  describeBrowserBackend,
  initBrowserBackend,
  probeWebgl,
} from './backend';
export { maxAbsDiff } from './compare';
export {
  ExportLoadError,
  type ExportReader,
  type FolderFile,
  folderReader,
  type LoadExportOptions,
  type LoadedExport,
  loadExport,
  memoryReader,
  urlReader,
} from './load';
export {
  EXPORT_FORMAT,
  EXPORT_VERSION,
  EXPORT_VERSIONS_READ,
  type ExportEvalResult,
  type ExportedComponent,
  type ExportedGenerator,
  type ExportedModel,
  ExportFormatError,
  type ExportManifest,
  type ExportMode,
  exportManifestSchema,
  MANIFEST_FILE,
  parseExportManifest,
  type ReferenceSample,
} from './manifest';
export {
  DEFAULT_SHARD_BYTES,
  encodeLayersModel,
  type ModelFiles,
  modelArtifactsFromFiles,
} from './model-files';
export {
  buildExport,
  buildGanExport,
  type ComponentToExport,
  checkExport,
  type ExportCheck,
  type ExportCommonInput,
  type ExportFiles,
  type ExportInput,
  exportability,
  type GanExportInput,
  WEB_VERSION,
} from './write';
