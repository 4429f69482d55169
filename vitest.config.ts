import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Tests import `@tsvae/*` from source so the suite never needs a build first. */
const alias = Object.fromEntries(
  readdirSync(`${root}packages`)
    .filter((d) => existsSync(`${root}packages/${d}/src/index.ts`))
    .map((d) => [`@tsvae/${d}`, `${root}packages/${d}/src/index.ts`]),
);

const projects = ['packages', 'apps'].flatMap((group) =>
  readdirSync(`${root}${group}`)
    .filter((d) => existsSync(`${root}${group}/${d}/package.json`))
    .map((d) => ({
      extends: true as const,
      test: { name: d, root: `${root}${group}/${d}`, include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
    })),
);

export default defineConfig({
  resolve: { alias },
  test: {
    projects,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    passWithNoTests: false,
  },
});
