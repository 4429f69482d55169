/**
 * @packageDocumentation
 * Datasets for tsvae: MNIST, Fashion-MNIST, CIFAR-10, CelebA, image folders / tar archives and
 * synthetic manifolds with known ground truth, stored as uint8 and iterated as float32 batches in
 * [0, 1]. Importing the package registers every dataset plugin (kind `dataset`).
 */
export { type CachedSplit, loadSplit, type SplitMeta, saveSplit } from './cache';
export {
  CELEBA_CROPS,
  CELEBA_PARTITIONS,
  type CelebaCrop,
  type CelebaOptions,
  celebaCropBox,
  loadCeleba,
  parseCelebaPartition,
  preprocessCeleba,
} from './celeba';
export {
  CIFAR10_BINARY_MD5,
  CIFAR10_BINARY_SHA256,
  CIFAR10_BINARY_URL,
  CIFAR10_CLASSES,
  type Cifar10BatchSource,
  type Cifar10LoadOptions,
  cifar10Candidates,
  loadCifar10,
  loadCifar10Jpeg,
  parseCifar10Batches,
} from './cifar10';
export { resolvePackageDir } from './discovery';
export { DatasetFormatError, DatasetNotFoundError } from './errors';
export { type IdxArray, isGzip, loadIdxSplit, parseIdx, readIdx, readMaybeGzip } from './idx';
export {
  type CropBox,
  centerCropBox,
  crop,
  decodeImage,
  type ImageFormat,
  isGrayscale,
  isImageFileName,
  type RawImage,
  RESIZE_FILTERS,
  type ResizeFilter,
  resize,
  sniffImageFormat,
  toChannels,
} from './image';
export {
  type ImageFolderOptions,
  type ImageFolderSplit,
  isTarPath,
  type LabelMode,
  loadImageFolder,
} from './image-folder';
export {
  type BatchOptions,
  batches,
  batchesPerEpoch,
  type LabelledBatch,
  labelledBatches,
} from './iterate';
export {
  FASHION_MNIST_SPEC,
  type IdxDatasetName,
  type IdxDatasetSpec,
  type IdxFileSpec,
  type IdxLoadOptions,
  idxCandidateDirs,
  loadFashionMnist,
  loadMnist,
  loadMnistLike,
  MNIST_SPEC,
  type SourcedSplit,
} from './mnist';
export { datasetPlugins, type ImageDataset, loadDataset, registerDatasetPlugins } from './plugins';
export {
  type GaussianBlobOptions,
  gaussianBlob,
  linearSubspace,
  type Manifold,
  type ManifoldDataset,
  type ManifoldDatasetOptions,
  manifoldDataset,
  randomOrthonormal,
  type SyntheticSplit,
  sphere,
  swissRoll,
  type VectorManifoldOptions,
} from './synthetic';
export { createTar, openTar, parseTar, type TarArchive, type TarEntry } from './tar';
export { type BumpyTorusOptions, besselI0, bumpyTorus, type DensityManifold, vonMises } from './torus';

import { registerDatasetPlugins } from './plugins';

registerDatasetPlugins();
