import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Two entries: the library (`main(argv)`, the study API) and the executable `tsvae-compare` (dist/cli.js).
export default defineConfig(
  packageConfig({ entry: ['src/index.ts', 'src/cli.ts'], banner: { js: '#!/usr/bin/env node' } }),
);
