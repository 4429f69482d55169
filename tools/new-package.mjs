#!/usr/bin/env node
// Scaffolds a workspace package that shares the repo's build, test and typecheck setup.
// Usage: node tools/new-package.mjs <dir> <name> "<description>"
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, name, description = ''] = process.argv.slice(2);
if (!dir || !name) {
  console.error('usage: node tools/new-package.mjs <dir> <short-name> "<description>"');
  process.exit(2);
}
const root = join(dir, name);
if (existsSync(join(root, 'package.json'))) {
  console.error(`${root}/package.json exists`);
  process.exit(1);
}
mkdirSync(join(root, 'src'), { recursive: true });
const pkg = {
  name: `@tsvae/${name}`,
  version: '0.0.0',
  description,
  license: 'MIT',
  type: 'module',
  sideEffects: false,
  main: './dist/index.cjs',
  module: './dist/index.js',
  types: './dist/index.d.ts',
  exports: {
    '.': {
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    },
    './package.json': './package.json',
  },
  files: ['dist', 'README.md'],
  engines: { node: '>=20.19' },
  scripts: {
    build: 'tsup',
    typecheck: 'tsc -p tsconfig.json',
    test: `vitest run --project ${name}`,
    publint: 'publint --strict',
  },
  dependencies: {},
};
const write = (f, s) => writeFileSync(join(root, f), s);
write('package.json', `${JSON.stringify(pkg, null, 2)}\n`);
write(
  'tsconfig.json',
  `${JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src', '*.ts'] }, null, 2)}\n`,
);
write(
  'tsconfig.build.json',
  `${JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { paths: {} }, include: ['src'], exclude: ['src/**/*.test.ts'] }, null, 2)}\n`,
);
write(
  'tsup.config.ts',
  `import { defineConfig } from 'tsup';\nimport { packageConfig } from '../../tsup.base';\n\nexport default defineConfig(packageConfig());\n`,
);
if (!existsSync(join(root, 'src/index.ts'))) write('src/index.ts', `export {};\n`);
if (!existsSync(join(root, 'README.md'))) write('README.md', `# @tsvae/${name}\n\n${description}\n`);
console.log(`created ${root}`);
