/**
 * The `flow` second stage: a RealNVP normalising flow on the stage-1 codes, trained by maximum
 * likelihood through the ordinary gradient loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  definePlugin,
  deriveSeed,
  type LossOptions,
  type LossTerms,
  type NamedWeight,
  type PluginDefinition,
  type SecondStage,
  z,
} from '@tsvae/core';

/** The resolved config of the `flow` second stage. */
export interface FlowConfig {
  /** Dimension of the stage-1 code `z` (at least 2). */
  readonly latentDim: number;
  /** Affine coupling layers (8). */
  readonly couplings: number;
  /** Hidden width of each coupling's network (256). */
  readonly width: number;
  /** Hidden layers of each coupling's network (2). */
  readonly depth: number;
}

/**
 * Config schema of `flow`: `latentDim` (64, at least 2), `couplings` (8), `width` (256),
 * `depth` (2).
 */
export const flowConfigSchema = z.object({
  latentDim: z.number().int().min(2, 'a coupling flow needs latentDim >= 2').default(64),
  couplings: z.number().int().positive().default(8),
  width: z.number().int().positive().default(256),
  depth: z.number().int().positive().default(2),
});

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * The mask of coupling `i` (1: passed through and conditioned on; 0: transformed), cycling through
 * even dimensions, odd dimensions, the first half, the second half, so every dimension is
 * transformed conditioned on every other one within four layers. Fixed by the config alone.
 */
export function couplingMask(i: number, d: number): Float32Array {
  const half = Math.floor(d / 2);
  return Float32Array.from({ length: d }, (_, j) => {
    switch (i % 4) {
      case 0:
        return j % 2 === 0 ? 1 : 0;
      case 1:
        return j % 2 === 1 ? 1 : 0;
      case 2:
        return j < half ? 1 : 0;
      default:
        return j >= half ? 1 : 0;
    }
  });
}

interface Dense {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;
}

interface Coupling {
  readonly mask: tf.Tensor1D;
  /** 1 - mask. */
  readonly free: tf.Tensor1D;
  readonly hidden: Dense[];
  /** Outputs `[log-scale pre-activation, shift]`, `2d` wide; zero-initialised (the identity). */
  readonly out: Dense;
  /** Per-dimension bound of the log-scale: `s = scale * tanh(raw)`. */
  readonly scale: tf.Variable;
}

/**
 * RealNVP (Dinh et al., 2017) on `z`: a learned elementwise affine map, then `couplings` affine
 * coupling layers `y = m * x + (1 - m) * (x * exp(s(m * x)) + t(m * x))` with `s = scale *
 * tanh(.)`, `s` and `t` from one MLP per layer (ReLU, `depth` x `width`), and a standard normal
 * base. Both directions are one pass, so the likelihood (training) and sampling (generation) cost
 * the same; the log-determinant is the sum of the `s`. Initially the identity (zero output layers),
 * so training starts from `p(z) = N(0, I)`; hidden layers are Glorot-uniform from seeds derived
 * from the plugin seed.
 *
 * `loss(z)` = `-mean log p(z)` (`reconstruction` the same, `kl` 0); `sample(n, { seed })` draws
 * the base noise with `deriveSeed(seed, 'flow-u')` and inverts the flow.
 */
export class RealNvpFlow implements SecondStage {
  readonly latentDim: number;
  readonly config: FlowConfig;
  private readonly loc: tf.Variable;
  private readonly logScale: tf.Variable;
  private readonly layers: Coupling[];

  /** `seed`: of the initial weights (see `PluginContext.seed`); unseeded without one. */
  constructor(config: FlowConfig, seed?: number) {
    this.config = config;
    const d = config.latentDim;
    this.latentDim = d;
    const s = (...purpose: (string | number)[]) =>
      seed === undefined ? undefined : deriveSeed(seed, ...purpose);
    const dense = (
      inDim: number,
      outDim: number,
      init: 'glorot' | 'zeros',
      ...purpose: (string | number)[]
    ) =>
      tf.tidy(() => {
        const limit = Math.sqrt(6 / (inDim + outDim));
        return {
          kernel: tf.variable(
            init === 'zeros'
              ? tf.zeros([inDim, outDim])
              : tf.randomUniform([inDim, outDim], -limit, limit, 'float32', s(...purpose)),
            true,
          ),
          bias: tf.variable(tf.zeros([outDim]), true),
        };
      });
    this.loc = tf.variable(tf.zeros([d]), true);
    this.logScale = tf.variable(tf.zeros([d]), true);
    this.layers = Array.from({ length: config.couplings }, (_, i) => {
      const m = couplingMask(i, d);
      const hidden: Dense[] = [];
      for (let j = 0; j < config.depth; j++) {
        hidden.push(dense(j === 0 ? d : config.width, config.width, 'glorot', 'coupling', i, 'fc', j));
      }
      return {
        mask: tf.tensor1d(m),
        free: tf.tensor1d(m.map((v) => 1 - v)),
        hidden,
        out: dense(config.width, 2 * d, 'zeros'),
        scale: tf.variable(tf.ones([d]), true),
      };
    });
  }

  /** `s` (masked) and `t` (masked) of coupling `c` for the conditioning part `xm = mask * x`. */
  private shiftScale(c: Coupling, xm: tf.Tensor2D): { s: tf.Tensor2D; t: tf.Tensor2D } {
    let h: tf.Tensor2D = xm;
    for (const l of c.hidden) h = tf.relu(tf.add(tf.matMul(h, l.kernel), l.bias)) as tf.Tensor2D;
    const out = tf.add(tf.matMul(h, c.out.kernel), c.out.bias) as tf.Tensor2D;
    const [raw, shift] = tf.split(out, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    return {
      s: tf.mul(tf.mul(c.scale, tf.tanh(raw)), c.free) as tf.Tensor2D,
      t: tf.mul(shift, c.free) as tf.Tensor2D,
    };
  }

  /** The normalising direction: `u = f(z)` and `log |det df/dz|` per row. */
  forward(zIn: tf.Tensor2D): { u: tf.Tensor2D; logDet: tf.Tensor1D } {
    return tf.tidy(() => {
      let x = tf.mul(tf.sub(zIn, this.loc), tf.exp(tf.neg(this.logScale))) as tf.Tensor2D;
      let logDet: tf.Tensor = tf.mul(tf.ones([zIn.shape[0]]), tf.neg(tf.sum(this.logScale)));
      for (const c of this.layers) {
        const xm = tf.mul(x, c.mask) as tf.Tensor2D;
        const { s, t } = this.shiftScale(c, xm);
        x = tf.add(xm, tf.mul(c.free, tf.add(tf.mul(x, tf.exp(s)), t))) as tf.Tensor2D;
        logDet = tf.add(logDet, tf.sum(s, 1));
      }
      return { u: x, logDet: logDet as tf.Tensor1D };
    });
  }

  /** The generating direction: `z = f^{-1}(u)`. */
  inverse(u: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let y = u;
      for (let i = this.layers.length - 1; i >= 0; i--) {
        const c = this.layers[i] as Coupling;
        const ym = tf.mul(y, c.mask) as tf.Tensor2D;
        const { s, t } = this.shiftScale(c, ym);
        y = tf.add(ym, tf.mul(c.free, tf.mul(tf.sub(y, t), tf.exp(tf.neg(s))))) as tf.Tensor2D;
      }
      return tf.add(tf.mul(y, tf.exp(this.logScale)), this.loc) as tf.Tensor2D;
    });
  }

  /** `log p(z)` per row, `[B]`: `log N(f(z); 0, I) + log |det df/dz|`, exact ({@link SecondStage.logProb}). */
  logProb(zIn: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const { u, logDet } = this.forward(zIn);
      const base = tf.sub(tf.mul(tf.sum(tf.square(u), 1), -0.5), this.latentDim * HALF_LOG_2PI);
      return tf.add(base, logDet) as tf.Tensor1D;
    });
  }

  loss(zIn: tf.Tensor2D, _options?: LossOptions): LossTerms {
    return tf.tidy(() => {
      const nll = tf.neg(tf.mean(this.logProb(zIn))) as tf.Scalar;
      return { loss: nll, reconstruction: tf.clone(nll), kl: tf.scalar(0) };
    });
  }

  sample(n: number, options: { readonly seed?: number } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const seed = options.seed === undefined ? undefined : deriveSeed(options.seed, 'flow-u');
      return this.inverse(tf.randomNormal([n, this.latentDim], 0, 1, 'float32', seed) as tf.Tensor2D);
    });
  }

  private named(): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [
      ['affine/loc', this.loc],
      ['affine/logScale', this.logScale],
    ];
    this.layers.forEach((c, i) => {
      c.hidden.forEach((l, j) => {
        out.push([`coupling${i}/fc${j}/kernel`, l.kernel], [`coupling${i}/fc${j}/bias`, l.bias]);
      });
      out.push(
        [`coupling${i}/out/kernel`, c.out.kernel],
        [`coupling${i}/out/bias`, c.out.bias],
        [`coupling${i}/scale`, c.scale],
      );
    });
    return out;
  }

  trainableVariables(): tf.Variable[] {
    return this.named().map(([, v]) => v);
  }

  getWeights(): NamedWeight[] {
    return this.named().map(([name, tensor]) => ({ name, tensor }));
  }

  setWeights(weights: readonly NamedWeight[]): void {
    const byName = new Map(weights.map((w) => [w.name, w.tensor]));
    const named = this.named();
    for (const [name, v] of named) {
      const t = byName.get(name);
      if (!t) throw new Error(`setWeights: missing weight "${name}"`);
      if (!tf.util.arraysEqual(t.shape, v.shape)) {
        throw new Error(`setWeights: "${name}" has shape [${t.shape}], expected [${v.shape}]`);
      }
    }
    for (const [name, v] of named) {
      const t = byName.get(name) as tf.Tensor;
      if (t !== v) v.assign(t);
    }
  }

  countParams(): number {
    return this.trainableVariables().reduce((n, v) => n + v.size, 0);
  }

  dispose(): void {
    tf.dispose(this.trainableVariables());
    tf.dispose(this.layers.flatMap((c) => [c.mask, c.free]));
  }
}

/** The `flow` second-stage plugin (kind `second-stage`). */
export const flowSecondStagePlugin: PluginDefinition<'second-stage', typeof flowConfigSchema> = definePlugin({
  kind: 'second-stage',
  name: 'flow',
  description: 'A RealNVP normalising flow on the codes, trained by maximum likelihood.',
  configSchema: flowConfigSchema,
  create: (config, context): SecondStage => new RealNvpFlow(config, context.seed),
});
