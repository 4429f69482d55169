import { defineConfig } from 'vitest/config';
import { tsvaeSourceAlias } from './source-alias.ts';

/**
 * The browser test (`npm run test:browser`): Debian's Chromium, driven by playwright-core, against
 * the built page. Kept out of `npm test` (its files are `e2e/*.e2e.ts`).
 */
export default defineConfig({
  root: import.meta.dirname,
  resolve: { alias: tsvaeSourceAlias },
  test: {
    include: ['e2e/**/*.e2e.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
