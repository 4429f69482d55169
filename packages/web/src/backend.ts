/**
 * The fastest TensorFlow.js backend a browser offers: WebGL on a real GPU, else WebAssembly (also
 * where WebGL is only a software renderer such as SwiftShader, which wasm outruns), else plain
 * JavaScript. Says which one it picked and why each better one was passed over.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

/** A browser backend. */
export type BrowserBackend = 'webgl' | 'wasm' | 'cpu';

/** What {@link initBrowserBackend} chose. */
export interface BrowserBackendInfo {
  /** The backend now in use. */
  readonly backend: BrowserBackend;
  /** What was asked for. */
  readonly requested: BrowserBackend | 'auto';
  /** The WebGL renderer string (e.g. `ANGLE (Google, Vulkan 1.3.0 (SwiftShader ...))`), when WebGL was probed. */
  readonly renderer: string | null;
  /** Whether that renderer is a software one (SwiftShader, llvmpipe): no GPU behind it. */
  readonly softwareRenderer: boolean | null;
  /** The backends passed over, with the reason. */
  readonly rejected: readonly { readonly backend: BrowserBackend; readonly reason: string }[];
}

/** Options of {@link initBrowserBackend}. */
export interface BrowserBackendOptions {
  /** `auto` (default) or one backend; an unavailable named backend is an error, not a fallback. */
  readonly backend?: BrowserBackend | 'auto';
  /**
   * Where the tfjs wasm binaries are served: a folder URL ending in `/`, or a map from file name
   * (`tfjs-backend-wasm.wasm`, `tfjs-backend-wasm-simd.wasm`, `tfjs-backend-wasm-threaded-simd.wasm`)
   * to URL, e.g. bundler asset URLs. Needed for `wasm` in a page.
   */
  readonly wasmPaths?: string | Readonly<Record<string, string>>;
}

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

/** The part of a WebGL context the probe uses (no DOM typings needed to compile this package). */
interface GlContext {
  readonly RENDERER: number;
  getExtension(name: string): unknown;
  getParameter(p: number): unknown;
}
interface CanvasLike {
  getContext(kind: string): unknown;
}

/** The WebGL renderer of a throwaway canvas, or why there is no WebGL. */
export function probeWebgl(): { renderer: string } | { error: string } {
  const doc = (globalThis as { document?: { createElement(tag: string): unknown } }).document;
  if (!doc) return { error: 'no DOM (not a browser page)' };
  const canvas = doc.createElement('canvas') as CanvasLike;
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as GlContext | null;
  if (!gl) return { error: 'the browser offers no WebGL context (disabled, blocklisted or no GPU process)' };
  const info = gl.getExtension('WEBGL_debug_renderer_info') as { UNMASKED_RENDERER_WEBGL: number } | null;
  const renderer = String(
    (info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : null) ??
      gl.getParameter(gl.RENDERER) ??
      'unknown',
  );
  (gl.getExtension('WEBGL_lose_context') as { loseContext(): void } | null)?.loseContext();
  return { renderer };
}

async function trySet(backend: BrowserBackend): Promise<string | null> {
  try {
    if (await tf.setBackend(backend)) {
      await tf.ready();
      return null;
    }
    return `tf.setBackend('${backend}') failed`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Initialises the fastest available backend (or the one named) and reports the choice. `auto`:
 * WebGL when its renderer is a real GPU; otherwise wasm; otherwise cpu.
 */
export async function initBrowserBackend(options: BrowserBackendOptions = {}): Promise<BrowserBackendInfo> {
  const requested = options.backend ?? 'auto';
  if (options.wasmPaths !== undefined) {
    setWasmPaths(options.wasmPaths as string | { [file: string]: string });
  }
  const rejected: { backend: BrowserBackend; reason: string }[] = [];
  let renderer: string | null = null;
  let softwareRenderer: boolean | null = null;
  const order: BrowserBackend[] = requested === 'auto' ? ['webgl', 'wasm', 'cpu'] : [requested];
  for (const backend of order) {
    if (backend === 'webgl') {
      const probe = probeWebgl();
      if ('error' in probe) {
        rejected.push({ backend, reason: probe.error });
        continue;
      }
      renderer = probe.renderer;
      softwareRenderer = SOFTWARE_RENDERER.test(renderer);
      if (softwareRenderer && requested === 'auto') {
        rejected.push({ backend, reason: `software renderer (${renderer}): wasm is faster` });
        continue;
      }
    }
    const failure = await trySet(backend);
    if (failure === null) return { backend, requested, renderer, softwareRenderer, rejected };
    rejected.push({ backend, reason: failure });
  }
  throw new Error(
    `no TensorFlow.js backend works here: ${rejected.map((r) => `${r.backend}: ${r.reason}`).join('; ')}`,
  );
}

/** One line for people: `wasm (webgl: software renderer (...): wasm is faster)`. */
export function describeBrowserBackend(info: BrowserBackendInfo): string {
  const why = info.rejected.map((r) => `${r.backend}: ${r.reason}`).join('; ');
  const gpu = info.backend === 'webgl' && info.renderer ? ` on ${info.renderer}` : '';
  return `${info.backend}${gpu}${why ? ` (${why})` : ''}`;
}
