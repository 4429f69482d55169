import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Two entries: the platform-neutral core and `@tsvae/core/node` (filesystem and network helpers).
export default defineConfig(packageConfig({ entry: { index: 'src/index.ts', node: 'src/node/index.ts' } }));
