import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// tfjs-layers is loaded lazily (only to register gradients for classifier training), never bundled.
export default defineConfig(packageConfig({ external: ['@tensorflow/tfjs-layers'] }));
