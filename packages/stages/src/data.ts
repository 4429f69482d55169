/** Steps per epoch: `floor(n / batchSize)` (the remainder is dropped, as in the recipe). */
export function stepsPerEpoch(n: number, batchSize: number): number {
  return Math.floor(n / batchSize);
}
