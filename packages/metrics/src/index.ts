/**
 * @packageDocumentation
 * FID and KID for tsvae: float64 statistics, a float64 symmetric eigensolver, pytorch-fid's
 * `.npz` statistics layout, and an exact tfjs port of the FID Inception network.
 */
export { type FidResult, fidFromFeatures, frechetDistance } from './fid';
export { type KidOptions, type KidResult, kernelInceptionDistance, polynomialMmd2 } from './kid';
export { EigenError, type SymmetricEigen, symmetricEigen, traceSqrtProduct } from './linalg';
export {
  type NpyArray,
  type NpyData,
  type NpyDtype,
  NpyError,
  readNpy,
  readNpz,
  writeNpy,
  writeNpz,
} from './npy';
export {
  computeStatistics,
  type FeatureRows,
  type FeatureStatistics,
  StatisticsAccumulator,
  statisticsFromNpz,
  statisticsToNpz,
} from './stats';
