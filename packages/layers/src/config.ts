/** Shared zod pieces of the network configs. */
import type { ImageShape } from '@tsvae/core';
import { z } from '@tsvae/core';

/** `[height, width, channels]`, positive integers. */
export const imageShapeSchema = z.tuple([
  z.number().int().positive(),
  z.number().int().positive(),
  z.number().int().positive(),
]);

/** Stage-1 latent dimension κ; default 64. */
export const latentDimSchema = z.number().int().positive().default(64);

/** Kernel initialiser choice of the stage-1 networks. */
export const stage1InitSchema = z.enum(['recipe', 'glorot-uniform']).default('recipe');

/** Fields every image network config accepts: the image shape under any of three names. */
export const shapeFields = {
  /** Image shape `[H, W, C]` (the name `@tsvae/stages` passes). */
  imageShape: imageShapeSchema.optional(),
  /** Encoder alias of `imageShape`. */
  inputShape: imageShapeSchema.optional(),
  /** Decoder alias of `imageShape`. */
  outputShape: imageShapeSchema.optional(),
};

/** Resolves the image shape from `imageShape` / `inputShape` / `outputShape`; reports a missing or conflicting one. */
export function resolveImageShape(
  c: {
    readonly imageShape?: readonly number[] | undefined;
    readonly inputShape?: readonly number[] | undefined;
    readonly outputShape?: readonly number[] | undefined;
  },
  ctx: z.RefinementCtx,
): ImageShape | undefined {
  const given = (['imageShape', 'inputShape', 'outputShape'] as const).filter((k) => c[k] !== undefined);
  if (given.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['imageShape'],
      message: 'imageShape [height, width, channels] is required',
    });
    return undefined;
  }
  const first = c[given[0] as 'imageShape'] as readonly number[];
  for (const k of given.slice(1)) {
    const other = c[k] as readonly number[];
    if (other.some((v, i) => v !== first[i])) {
      ctx.addIssue({
        code: 'custom',
        path: [k],
        message: `${k} [${other}] differs from ${given[0]} [${first}]`,
      });
      return undefined;
    }
  }
  return [first[0] as number, first[1] as number, first[2] as number];
}

/** Adds an issue at `field` unless `ok`. */
export function check(ok: boolean, ctx: z.RefinementCtx, field: string, message: string): boolean {
  if (!ok) ctx.addIssue({ code: 'custom', path: [field], message });
  return ok;
}
