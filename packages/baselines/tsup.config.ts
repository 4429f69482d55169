import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Three entries: the library, `@tsvae/baselines/testing` (the 2-D toy plugins for tests) and
// `@tsvae/baselines/browser` (the generator and GAN sampling, browser-safe, for @tsvae/web).
export default defineConfig(
  packageConfig({ entry: { index: 'src/index.ts', testing: 'src/testing.ts', browser: 'src/browser.ts' } }),
);
