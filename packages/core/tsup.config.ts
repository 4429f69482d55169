import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Entries: the platform-neutral core, `@tsvae/core/node` (filesystem and network helpers) and
// `@tsvae/core/testing` (fault injection for tests).
export default defineConfig(
  packageConfig({ entry: { index: 'src/index.ts', node: 'src/node/index.ts', testing: 'src/testing.ts' } }),
);
