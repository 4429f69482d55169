import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Two entries: the library and `@tsvae/baselines/testing` (the 2-D toy plugins for tests).
export default defineConfig(packageConfig({ entry: { index: 'src/index.ts', testing: 'src/testing.ts' } }));
