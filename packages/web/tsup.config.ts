import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// A browser package (also usable in Node): no Node built-ins, ES2022 for current browsers.
export default defineConfig(packageConfig({ platform: 'browser', target: 'es2022' }));
