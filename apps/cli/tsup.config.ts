import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Two entries: the library (`main(argv)`) and the executable `tsvae` (dist/cli.js) with a shebang.
export default defineConfig(
  packageConfig({ entry: ['src/index.ts', 'src/cli.ts'], banner: { js: '#!/usr/bin/env node' } }),
);
