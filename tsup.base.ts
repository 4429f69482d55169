/**
 * One build configuration shared by every package (ESM + CJS + d.ts).
 * Each package's `tsup.config.ts` calls {@link packageConfig}.
 */
import type { Options } from 'tsup';

export function packageConfig(overrides: Options = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: { compilerOptions: { paths: {} } },
    tsconfig: 'tsconfig.build.json',
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    treeshake: true,
    ...overrides,
  };
}
