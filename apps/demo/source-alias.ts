import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packages = fileURLToPath(new URL('../../packages/', import.meta.url));

/**
 * `@tsvae/*` (and subpaths such as `@tsvae/core/node`) resolved to the packages' sources, as the
 * root vitest config does: the page and its browser test need no package build, and a bundle shows
 * exactly what the sources import.
 */
export const tsvaeSourceAlias: { find: RegExp; replacement: string }[] = readdirSync(packages)
  .filter((d) => existsSync(`${packages}${d}/src/index.ts`))
  .flatMap((d) => {
    const pkg = JSON.parse(readFileSync(`${packages}${d}/package.json`, 'utf8')) as {
      exports?: Record<string, unknown>;
    };
    return Object.keys(pkg.exports ?? { '.': null })
      .filter((key) => key === '.' || !key.endsWith('.json'))
      .map((key) => {
        const sub = key === '.' ? '' : key.slice(1);
        const dir = `${packages}${d}/src${sub}`;
        const file =
          sub === '' ? `${dir}/index.ts` : existsSync(`${dir}/index.ts`) ? `${dir}/index.ts` : `${dir}.ts`;
        return { find: new RegExp(`^@tsvae/${d}${sub.replace(/[/]/g, '\\/')}$`), replacement: file };
      });
  });
