import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBrowserBackend, initBrowserBackend, probeWebgl } from './backend';

// In Node there is no DOM: WebGL is rejected with the reason, wasm (which Node can run) is next.
describe('initBrowserBackend', () => {
  it('auto passes over an absent WebGL with the reason and takes wasm', async () => {
    expect(probeWebgl()).toEqual({ error: 'no DOM (not a browser page)' });
    const info = await initBrowserBackend();
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.rejected).toEqual([{ backend: 'webgl', reason: 'no DOM (not a browser page)' }]);
    expect(describeBrowserBackend(info)).toBe('wasm (webgl: no DOM (not a browser page))');
  });

  it('a named backend is used or is an error, never a silent fallback', async () => {
    expect((await initBrowserBackend({ backend: 'cpu' })).backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    await expect(initBrowserBackend({ backend: 'webgl' })).rejects.toThrow(
      'no TensorFlow.js backend works here: webgl: no DOM (not a browser page)',
    );
  });
});
