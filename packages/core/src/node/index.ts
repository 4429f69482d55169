/**
 * @packageDocumentation
 * tsvae's Node infrastructure, shared by every package that touches the disk or the network:
 * atomic writes (fsynced), the cache-directory rule, the downloader (sha256, resume), file
 * hashing, and filesystem errors that name the path and the real cause. Import it as
 * `@tsvae/core/node` (it needs Node's `fs`; `@tsvae/core` itself does not).
 */
export {
  assertWritable,
  BEFORE_RENAME_HOOK,
  type BeforeRenameHook,
  ensureDir,
  type FileData,
  fsyncDirectory,
  removeStaleTemps,
  tempNameFor,
  writeDirectoryAtomic,
  writeFileAtomic,
  writeJsonAtomic,
} from './atomic';
export { cacheDir } from './cache';
export { DownloadError, type DownloadOptions, download } from './download';
export { errnoCode, FsError, fsError, realCause } from './errors';
export { digestMatches, type HashAlgorithm, hashBytes, hashFile, hashFileSync } from './hash';
export { FileFormatError, parseJsonText, readJsonFile, readJsonLines } from './json';
