/**
 * @packageDocumentation
 * `@tsvae/baselines/browser`: the browser-safe part of `@tsvae/baselines`, what a page needs to
 * rebuild and sample an exported GAN generator: the `gan-generator` kind and compare_gan's
 * `infogan` generator ({@link registerGanGeneratorPlugins}; its custom layers come with
 * `@tsvae/layers`), and GAN sampling ({@link sampleGan}, {@link sampleGanCodes}), the same
 * functions `@tsvae/baselines` samples runs with in Node. No trainers, no run directories, nothing
 * of `@tsvae/stages` or `@tsvae/backend`, no Node built-ins; importing it registers nothing.
 */
export { ganGeneratorPlugins, registerGanGeneratorPlugins } from './generator-plugins';
export { GAN_KINDS, type GanGenerator, registerGanKinds } from './kinds';
export {
  buildInfoganGenerator,
  type InfoganGeneratorConfig,
  infoganGeneratorConfigSchema,
  infoganGeneratorPlugin,
  LayersGenerator,
} from './networks';
export {
  DEFAULT_GAN_BATCH_SIZE,
  drawCodes,
  GAN_PRIORS,
  type GanPrior,
  type GanSampleOptions,
  GanSampler,
  sampleGan,
  sampleGanCodes,
} from './sample';
