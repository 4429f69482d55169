import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

describe('one registry per process', () => {
  beforeAll(() => {
    if (!existsSync(`${pkgDir}dist/index.cjs`) || !existsSync(`${pkgDir}dist/index.js`)) {
      execFileSync('npx', ['tsup', '--silent'], { cwd: pkgDir, stdio: 'pipe' });
    }
  }, 120_000);

  it('is shared by the ESM and the CJS builds loaded together', () => {
    const script = `
      import { createRequire } from 'node:module';
      const esm = await import(${JSON.stringify(`${pkgDir}dist/index.js`)});
      const cjs = createRequire(import.meta.url)(${JSON.stringify(`${pkgDir}dist/index.cjs`)});
      if (esm.getRegistry === cjs.getRegistry) throw new Error('expected two distinct builds');
      esm.register({ kind: 'dataset', name: 'esm-one', configSchema: esm.z.object({}), create: () => ({}) });
      let dup = 'none';
      try { cjs.register({ kind: 'dataset', name: 'esm-one', configSchema: cjs.z.object({}), create: () => ({}) }); }
      catch (e) { dup = e.name; }
      console.log(JSON.stringify({ same: esm.getRegistry() === cjs.getRegistry(), list: cjs.getRegistry().list('dataset'), dup }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out.trim())).toEqual({ same: true, list: ['esm-one'], dup: 'DuplicatePluginError' });
  });
});
