/**
 * @tsvae/web must bundle for a browser: nothing in its import graph (our packages and their
 * dependencies) may need a Node built-in. esbuild bundles it for `platform: 'browser'`, the way a
 * page's bundler does; a built-in that a dependency maps away with its package.json `browser`
 * field (tfjs' optional Node paths) shows as `(disabled)` and is fine. The same holds for
 * `@tsvae/baselines/browser` (the GAN generator and sampling @tsvae/web loads GAN exports with).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

const packages = fileURLToPath(new URL('../../', import.meta.url));
const entry = fileURLToPath(new URL('./index.ts', import.meta.url));

/** `@tsvae/<name>[/<sub>]` from source, as vitest and the demo's Vite config resolve it. */
const fromSource: Plugin = {
  name: 'tsvae-source',
  setup(b) {
    b.onResolve({ filter: /^@tsvae\// }, (args) => {
      const [, name, ...sub] = args.path.split('/');
      const s = sub.join('/');
      const candidates = s
        ? [
            join(packages, name as string, 'src', `${s}.ts`),
            join(packages, name as string, 'src', s, 'index.ts'),
          ]
        : [join(packages, name as string, 'src', 'index.ts')];
      const path = candidates.find((c) => existsSync(c));
      return path ? { path } : { errors: [{ text: `no source for ${args.path}` }] };
    });
  },
};

/** Bundles `file` for a browser; returns the inputs of the graph, or the bundler's errors. */
async function browserBundle(file: string): Promise<{ inputs: string[] } | { errors: string[] }> {
  try {
    const result = await build({
      entryPoints: [file],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
      plugins: [fromSource],
    });
    return { inputs: Object.keys(result.metafile.inputs) };
  } catch (e) {
    return { errors: ((e as { errors?: { text: string }[] }).errors ?? []).map((x) => x.text) };
  }
}

describe('@tsvae/web in a browser bundle', () => {
  it('bundles for the browser: no Node built-in in its graph but those dependencies disable for browsers', async () => {
    const result = await browserBundle(entry);
    expect(result).not.toHaveProperty('errors');
    const inputs = 'inputs' in result ? result.inputs : [];
    expect(inputs.some((i) => i.includes('packages/layers/src/custom-layers.ts'))).toBe(true);
    expect(inputs.some((i) => i.includes('packages/core/src/sample.ts'))).toBe(true);
    const builtins = inputs.filter((i) => /^node:|^\(disabled\)/.test(i));
    expect(
      builtins.every((i) => i.startsWith('(disabled)')),
      builtins.join(', '),
    ).toBe(true);
    expect(inputs.filter((i) => /packages\/[^/]+\/src\/node\//.test(i))).toEqual([]);
    // GAN exports: the generator and GAN sampling come from @tsvae/baselines/browser, without the
    // Node half of the baselines (trainers, run directories: @tsvae/stages, @tsvae/backend)
    expect(inputs.some((i) => i.includes('packages/baselines/src/sample.ts'))).toBe(true);
    expect(inputs.some((i) => i.includes('packages/baselines/src/networks.ts'))).toBe(true);
    expect(inputs.filter((i) => /packages\/(stages|backend|metrics|datasets)\//.test(i))).toEqual([]);
    expect(
      inputs.filter((i) => /packages\/baselines\/src\/(index|plugins|load-gan|train-gan)\.ts/.test(i)),
    ).toEqual([]);
  }, 60_000);

  it('@tsvae/baselines/browser bundles alone; the whole @tsvae/baselines (trainers, run directories) does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvae-web-'));
    const browserEntry = join(dir, 'entry-baselines-browser.ts');
    writeFileSync(browserEntry, `export * from '@tsvae/baselines/browser';\n`);
    const result = await browserBundle(browserEntry);
    expect(result).not.toHaveProperty('errors');
    const inputs = 'inputs' in result ? result.inputs : [];
    expect(inputs.filter((i) => /^node:/.test(i) || /packages\/(stages|backend)\//.test(i))).toEqual([]);
    // the main entry imports @tsvae/stages (Node): the bundler must refuse it, which is why the page
    // imports the subpath
    const nodeEntry = join(dir, 'entry-baselines.ts');
    writeFileSync(nodeEntry, `export * from '@tsvae/baselines';\n`);
    const refused = await browserBundle(nodeEntry);
    expect(refused).toHaveProperty('errors');
    expect(('errors' in refused ? refused.errors : []).join('\n')).toMatch(/Could not resolve "node:/);
  }, 60_000);

  it('the check fails when a Node built-in sneaks in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvae-web-'));
    for (const builtin of ['node:fs', 'os']) {
      const file = join(dir, `entry-${builtin.replace(':', '-')}.ts`);
      writeFileSync(file, `import '${builtin}';\nexport * from '@tsvae/core';\n`);
      const result = await browserBundle(file);
      expect(result).toHaveProperty('errors');
      expect(('errors' in result ? result.errors : []).join('\n')).toContain(
        `Could not resolve "${builtin}"`,
      );
    }
    // @tsvae/core/node is the Node half of core: importing it must fail the same way
    const file = join(dir, 'entry-core-node.ts');
    writeFileSync(file, `export * from '@tsvae/core/node';\n`);
    expect(await browserBundle(file)).toHaveProperty('errors');
  }, 60_000);
});
