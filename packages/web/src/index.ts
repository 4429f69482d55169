/**
 * @packageDocumentation
 * A trained tsvae run in the browser. `tsvae export` writes a folder (the stage-1 decoder and the
 * second stage in the tfjs model format, a manifest, reference samples); {@link loadExport} loads
 * it in a page (or in Node), rebuilding each component through the registry from its recorded
 * `{ plugin, config }` with `@tsvae/layers`' plugins and custom layers, and samples with
 * `@tsvae/core`'s sampling code, so a seed gives the same images as in Node.
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
  type ExportEvalResult,
  type ExportedComponent,
  type ExportedModel,
  ExportFormatError,
  type ExportManifest,
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
  type ComponentToExport,
  checkExport,
  type ExportCheck,
  type ExportFiles,
  type ExportInput,
  exportability,
  WEB_VERSION,
} from './write';
