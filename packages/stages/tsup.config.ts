import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Two entries: the library and `@tsvae/stages/testing` (small plugins and configs for tests).
export default defineConfig(packageConfig({ entry: { index: 'src/index.ts', testing: 'src/testing.ts' } }));
