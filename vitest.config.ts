import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Tests import `@tsvae/*` from source so the suite never needs a build first: every entry of a
 * package's `exports` map (`.` and subpaths such as `./node`, `./testing`) resolves to its source
 * file, `src/index.ts` or `src/<subpath>/index.ts` / `src/<subpath>.ts`; so does an app's with a
 * `src/index.ts` (`@tsvae/cli`, which `@tsvae/compare` builds on).
 */
const alias = ['packages', 'apps'].flatMap((group) =>
  readdirSync(`${root}${group}`)
    .filter((d) => existsSync(`${root}${group}/${d}/src/index.ts`))
    .flatMap((d) => {
      const pkg = JSON.parse(readFileSync(`${root}${group}/${d}/package.json`, 'utf8')) as {
        exports?: Record<string, unknown>;
      };
      return Object.keys(pkg.exports ?? { '.': null })
        .filter((key) => key === '.' || !key.endsWith('.json'))
        .map((key) => {
          const sub = key === '.' ? '' : key.slice(1);
          const dir = `${root}${group}/${d}/src${sub}`;
          const file =
            sub === '' ? `${dir}/index.ts` : existsSync(`${dir}/index.ts`) ? `${dir}/index.ts` : `${dir}.ts`;
          return { find: new RegExp(`^@tsvae/${d}${sub.replace(/[/]/g, '\\/')}$`), replacement: file };
        });
    }),
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
