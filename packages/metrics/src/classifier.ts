import * as tf from '@tensorflow/tfjs-core';
import { createRng, deriveSeed, type FeatureExtractor } from '@tsvae/core';
import { type NpyArray, readNpz, writeNpz } from './npy';

/**
 * A small MNIST-style classifier whose penultimate layer serves as a feature extractor, so that
 * FID / KID are meaningful where the Inception weights are unavailable (as some papers do for
 * MNIST). Input `[B, 28, 28, 1]` in [0, 1] (other sizes are resized, colour averaged).
 * Architecture (small enough to train on a CPU in seconds): conv5x5 stride 2 (16) ReLU,
 * conv3x3 stride 2 (32) ReLU, dense(128) ReLU (= the features), dense(classes).
 */
export interface ClassifierWeights {
  readonly conv1: tf.Variable;
  readonly b1: tf.Variable;
  readonly conv2: tf.Variable;
  readonly b2: tf.Variable;
  readonly fc1: tf.Variable;
  readonly bf1: tf.Variable;
  readonly fc2: tf.Variable;
  readonly bf2: tf.Variable;
}

/** Feature width of {@link ClassifierFeatureExtractor}. */
export const CLASSIFIER_FEATURE_DIM = 128;

/** Options of {@link trainClassifier}. */
export interface TrainClassifierOptions {
  readonly classes?: number;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  /**
   * Seed of the initial weights and the shuffling (default 0; any seed, 0 included, reproduces):
   * every draw is seeded by `deriveSeed(seed, purpose)`.
   */
  readonly seed?: number;
  /** Called after every step with the batch loss. */
  readonly onProgress?: (p: { readonly step: number; readonly steps: number; readonly loss: number }) => void;
}

const NAMES = ['conv1', 'b1', 'conv2', 'b2', 'fc1', 'bf1', 'fc2', 'bf2'] as const;

/** He-normal weights, each seeded by `deriveSeed(seed, 'classifier-init', <weight name>)`. */
function initWeights(classes: number, seed: number): ClassifierWeights {
  const he = (name: string, shape: number[], fanIn: number): tf.Variable =>
    tf.variable(
      tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', deriveSeed(seed, 'classifier-init', name)),
    );
  const zeros = (n: number): tf.Variable => tf.variable(tf.zeros([n]));
  return {
    conv1: he('conv1', [5, 5, 1, 16], 25),
    b1: zeros(16),
    conv2: he('conv2', [3, 3, 16, 32], 144),
    b2: zeros(32),
    fc1: he('fc1', [7 * 7 * 32, CLASSIFIER_FEATURE_DIM], 7 * 7 * 32),
    bf1: zeros(CLASSIFIER_FEATURE_DIM),
    fc2: he('fc2', [CLASSIFIER_FEATURE_DIM, classes], CLASSIFIER_FEATURE_DIM),
    bf2: zeros(classes),
  };
}

/** Images to `[B, 28, 28, 1]` float in [0, 1]. */
function toInput(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    let x: tf.Tensor4D = images.dtype === 'int32' ? tf.div(tf.cast(images, 'float32'), 255) : images;
    if (x.shape[3] !== 1) x = tf.mean(x, 3, true);
    if (x.shape[1] !== 28 || x.shape[2] !== 28) x = tf.image.resizeBilinear(x, [28, 28], false, true);
    return x;
  });
}

function features(w: ClassifierWeights, x: tf.Tensor4D): tf.Tensor2D {
  let h = tf.relu(tf.add(tf.conv2d(x, w.conv1 as tf.Tensor4D, 2, 'same'), w.b1)) as tf.Tensor4D;
  h = tf.relu(tf.add(tf.conv2d(h, w.conv2 as tf.Tensor4D, 2, 'same'), w.b2)) as tf.Tensor4D;
  const flat = tf.reshape(h, [h.shape[0], 7 * 7 * 32]);
  return tf.relu(tf.add(tf.matMul(flat, w.fc1 as tf.Tensor2D), w.bf1)) as tf.Tensor2D;
}

/** A trained classifier: features, logits, accuracy, save / load. */
export class FeatureClassifier {
  readonly weights: ClassifierWeights;
  readonly classes: number;
  /** Free-form description of what it was trained on (saved with it). */
  readonly trainedOn: string;

  constructor(weights: ClassifierWeights, classes: number, trainedOn = '') {
    this.weights = weights;
    this.classes = classes;
    this.trainedOn = trainedOn;
  }

  /** Penultimate-layer features `[B, 128]`. */
  features(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => features(this.weights, toInput(images)));
  }

  /** Class logits `[B, classes]`. */
  logits(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() =>
      tf.add(
        tf.matMul(features(this.weights, toInput(images)), this.weights.fc2 as tf.Tensor2D),
        this.weights.bf2,
      ),
    );
  }

  /** Fraction of correctly classified images. */
  async accuracy(images: tf.Tensor4D, labels: Int32Array, batchSize = 500): Promise<number> {
    let correct = 0;
    const n = images.shape[0];
    for (let s = 0; s < n; s += batchSize) {
      const size = Math.min(batchSize, n - s);
      const pred = tf.tidy(() =>
        tf.argMax(this.logits(tf.slice(images, [s, 0, 0, 0], [size, -1, -1, -1])), 1),
      );
      const p = await pred.data();
      pred.dispose();
      for (let i = 0; i < size; i++) if (p[i] === labels[s + i]) correct++;
    }
    return correct / n;
  }

  /** Serialises as `.npz` (one float32 array per weight, plus a `meta` JSON byte array). */
  async save(): Promise<Uint8Array> {
    const arrays: Record<string, NpyArray> = {};
    for (const name of NAMES) {
      const v = this.weights[name];
      arrays[name] = { dtype: 'float32', shape: v.shape, data: (await v.data()) as Float32Array };
    }
    const meta = new TextEncoder().encode(
      JSON.stringify({ format: 'tsvae-classifier/1', classes: this.classes, trainedOn: this.trainedOn }),
    );
    arrays.meta = { dtype: 'uint8', shape: [meta.length], data: meta };
    return writeNpz(arrays);
  }

  /** Reads what {@link FeatureClassifier.save} wrote. */
  static load(bytes: Uint8Array): FeatureClassifier {
    const arrays = readNpz(bytes);
    const metaArr = arrays.get('meta');
    if (!metaArr) throw new Error('classifier .npz without meta');
    const meta = JSON.parse(new TextDecoder().decode(metaArr.data as Uint8Array)) as {
      format: string;
      classes: number;
      trainedOn: string;
    };
    if (meta.format !== 'tsvae-classifier/1') throw new Error(`unknown classifier format ${meta.format}`);
    const get = (name: (typeof NAMES)[number]): tf.Variable => {
      const a = arrays.get(name);
      if (!a) throw new Error(`classifier .npz lacks '${name}'`);
      return tf.variable(tf.tensor(a.data as Float32Array, [...a.shape]));
    };
    const w = Object.fromEntries(NAMES.map((n) => [n, get(n)])) as unknown as ClassifierWeights;
    return new FeatureClassifier(w, meta.classes, meta.trainedOn);
  }

  dispose(): void {
    for (const n of NAMES) this.weights[n].dispose();
  }
}

/**
 * Trains a {@link FeatureClassifier} with Adam on cross-entropy. `images`: `[N, H, W, C]` (float
 * in [0, 1], or int32 0-255); `labels`: class per image. Needs a backend with gradient kernels
 * (cpu, tfjs-node).
 */
export async function trainClassifier(
  images: tf.Tensor4D,
  labels: Int32Array,
  options: TrainClassifierOptions & { readonly trainedOn?: string } = {},
): Promise<FeatureClassifier> {
  await ensureGradients();
  const classes = options.classes ?? 10;
  const epochs = options.epochs ?? 2;
  const bs = options.batchSize ?? 128;
  const seed = options.seed ?? 0;
  const w = initWeights(classes, seed);
  const opt = tf.train.adam(options.learningRate ?? 1e-3);
  const rng = createRng(deriveSeed(seed, 'classifier-shuffle'));
  const n = images.shape[0];
  const steps = epochs * Math.ceil(n / bs);
  let step = 0;
  for (let e = 0; e < epochs; e++) {
    const order = Int32Array.from(rng.shuffle(Array.from({ length: n }, (_, i) => i)));
    for (let s = 0; s < n; s += bs) {
      const idx = order.subarray(s, Math.min(n, s + bs));
      const lossT = tf.tidy(() => {
        const ix = tf.tensor1d(idx, 'int32');
        const x = toInput(tf.gather(images, ix) as tf.Tensor4D);
        const y = tf.oneHot(tf.gather(tf.tensor1d(labels, 'int32'), ix), classes);
        return opt.minimize(() => {
          const logits = tf.add(tf.matMul(features(w, x), w.fc2 as tf.Tensor2D), w.bf2);
          return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar;
        }, true) as tf.Scalar;
      });
      const loss = (await lossT.data())[0] as number;
      lossT.dispose();
      options.onProgress?.({ step: ++step, steps, loss });
    }
  }
  opt.dispose();
  return new FeatureClassifier(w, classes, options.trainedOn ?? '');
}

/**
 * tfjs-core's Node build registers no gradients; tfjs-layers' build registers them all. Loaded
 * lazily so that feature extraction alone never needs it.
 */
async function ensureGradients(): Promise<void> {
  if (tf.getGradient('Conv2D') !== undefined) return;
  try {
    await import('@tensorflow/tfjs-layers');
  } catch (e) {
    throw new Error(
      `training the feature classifier needs tfjs gradients: install @tensorflow/tfjs-layers (${(e as Error).message})`,
    );
  }
}

/** A {@link FeatureClassifier} as a core `FeatureExtractor` (128-d penultimate features). */
export class ClassifierFeatureExtractor implements FeatureExtractor {
  readonly name: string;
  readonly featureDim = CLASSIFIER_FEATURE_DIM;
  readonly #model: FeatureClassifier;
  readonly #batchSize: number;

  constructor(
    model: FeatureClassifier,
    options: { readonly name?: string; readonly batchSize?: number } = {},
  ) {
    this.#model = model;
    this.name = options.name ?? 'classifier';
    this.#batchSize = options.batchSize ?? 500;
  }

  async extract(images: tf.Tensor4D): Promise<tf.Tensor2D> {
    const n = images.shape[0];
    const parts: tf.Tensor2D[] = [];
    for (let s = 0; s < n; s += this.#batchSize) {
      const size = Math.min(this.#batchSize, n - s);
      parts.push(tf.tidy(() => this.#model.features(tf.slice(images, [s, 0, 0, 0], [size, -1, -1, -1]))));
      await tf.nextFrame();
    }
    const out = parts.length === 1 ? (parts[0] as tf.Tensor2D) : (tf.concat(parts, 0) as tf.Tensor2D);
    if (parts.length > 1) tf.dispose(parts);
    return out;
  }

  dispose(): void {
    this.#model.dispose();
  }
}
