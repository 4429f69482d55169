/**
 * {@link LayersModule}: core's `Module` over one or more tfjs-layers models.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel, LayerVariable } from '@tensorflow/tfjs-layers';
import type { Module, NamedWeight } from '@tsvae/core';

/** The stable name of a layer weight: `<prefix><layer>/<weight>` (e.g. `conv1/kernel`). */
function weightName(prefix: string, layerName: string, variable: LayerVariable): string {
  const short = variable.originalName.split('/').pop() ?? variable.originalName;
  return `${prefix}${layerName}/${short}`;
}

/**
 * Implements core's `Module` for a set of tfjs-layers models, each under a name prefix. Weight
 * names are `<prefix><layer name>/<weight name>`: stable across instances (layer names are fixed by
 * the network builders) and covering every weight, trainable or not (BatchNorm moving statistics
 * and step, spectral-norm `u` vectors).
 */
export class LayersModule implements Module {
  /** The wrapped models, by name prefix (`''` for a single model). */
  readonly models: ReadonlyMap<string, LayersModel>;
  private disposed = false;

  constructor(models: Readonly<Record<string, LayersModel>>) {
    this.models = new Map(Object.entries(models));
  }

  /** Every weight variable with its stable name. */
  protected namedVariables(): { name: string; variable: LayerVariable; trainable: boolean }[] {
    const out: { name: string; variable: LayerVariable; trainable: boolean }[] = [];
    for (const [prefix, model] of this.models) {
      for (const layer of model.layers) {
        const trainable = new Set(layer.trainableWeights.map((w) => w.id));
        for (const v of layer.weights) {
          out.push({ name: weightName(prefix, layer.name, v), variable: v, trainable: trainable.has(v.id) });
        }
      }
    }
    return out;
  }

  trainableVariables(): tf.Variable[] {
    return this.namedVariables()
      .filter((w) => w.trainable)
      .map((w) => w.variable.read() as tf.Variable);
  }

  getWeights(): NamedWeight[] {
    return this.namedVariables().map((w) => ({ name: w.name, tensor: w.variable.read() }));
  }

  setWeights(weights: readonly NamedWeight[]): void {
    const byName = new Map(weights.map((w) => [w.name, w.tensor]));
    const vars = this.namedVariables();
    for (const { name, variable } of vars) {
      const t = byName.get(name);
      if (!t) throw new Error(`setWeights: missing weight "${name}"`);
      if (!tf.util.arraysEqual(t.shape, variable.shape as number[])) {
        throw new Error(`setWeights: weight "${name}" has shape [${t.shape}], expected [${variable.shape}]`);
      }
    }
    for (const { name, variable } of vars) variable.write(byName.get(name) as tf.Tensor);
  }

  countParams(): number {
    return this.namedVariables()
      .filter((w) => w.trainable)
      .reduce((s, w) => s + (w.variable.shape as number[]).reduce((a, b) => a * b, 1), 0);
  }

  /** The tfjs-layers topology JSON of each model, by prefix. */
  topology(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [prefix, model] of this.models) out[prefix] = model.toJSON(undefined, false);
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const model of this.models.values()) model.dispose();
  }
}

/** Runs a model in the given mode; returns its outputs as a list. */
export function runModel(model: LayersModel, x: tf.Tensor, trainingMode: boolean): tf.Tensor[] {
  const out = model.apply(x, { training: trainingMode }) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}
