import { defineConfig } from 'vitest/config';

/**
 * The report's browser test (`npm run test:browser` runs it after the demo's): a tiny study through
 * the built `tsvae-compare`, its report.html opened in Debian's Chromium (playwright-core). Kept
 * out of `npm test` (its files are `e2e/*.e2e.ts`).
 */
export default defineConfig({
  root: import.meta.dirname,
  test: {
    include: ['e2e/**/*.e2e.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
