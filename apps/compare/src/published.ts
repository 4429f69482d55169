/**
 * The published FID of the Two-Stage VAE paper's Table 1 (Dai & Wipf, ICLR 2019; its GAN rows are
 * from Lucic et al. 2018, the best of 100 hyper-parameter settings), for reports that put a
 * study's numbers beside them. Inception features (pool_3, 2048-d), 10,000 samples against 10,000
 * test images, the authors' training budgets, mean ± std over 10 trials.
 */

/** A published FID: mean ± std. */
export interface PublishedFid {
  readonly mean: number;
  readonly std: number;
}

/** The datasets (columns) of Table 1, by tsvae dataset plugin name. */
export const TABLE1_DATASETS: readonly string[] = ['mnist', 'fashion-mnist', 'cifar10', 'celeba'];

/** Where the numbers come from and how they were measured (for captions). */
export const TABLE1_SOURCE =
  'Dai & Wipf, "Diagnosing and Enhancing VAE Models", ICLR 2019, Table 1 (GAN rows from Lucic et al. 2018, best of 100 settings): FID with Inception pool_3 features (2048-d), 10,000 samples vs 10,000 test images, the authors\' training budgets, mean ± std over 10 trials';

const row = (
  name: string,
  mnist: [number, number],
  fashion: [number, number],
  cifar: [number, number],
  celeba: [number, number],
) => ({
  row: name,
  fid: Object.fromEntries(
    TABLE1_DATASETS.map((d, i) => {
      const v = [mnist, fashion, cifar, celeba][i] as [number, number];
      return [d, { mean: v[0], std: v[1] }];
    }),
  ) as Readonly<Record<string, PublishedFid>>,
});

/** Table 1's rows in the paper's order (the `table1` names of tsvae's model catalogue). */
export const TABLE1: readonly {
  readonly row: string;
  readonly fid: Readonly<Record<string, PublishedFid>>;
}[] = [
  row('MM GAN', [9.8, 0.9], [29.6, 1.6], [72.7, 3.6], [65.6, 4.2]),
  row('NS GAN', [6.8, 0.5], [26.5, 1.6], [58.5, 1.9], [55.0, 3.3]),
  row('LSGAN', [7.8, 0.6], [30.7, 2.2], [87.1, 47.5], [53.9, 2.8]),
  row('WGAN', [6.7, 0.4], [21.5, 1.6], [55.2, 2.3], [41.3, 2.0]),
  row('WGAN-GP', [20.3, 5.0], [24.5, 2.1], [55.8, 0.9], [30.3, 1.0]),
  row('DRAGAN', [7.6, 0.4], [27.7, 1.2], [69.8, 2.0], [42.3, 3.0]),
  row('BEGAN', [13.1, 1.0], [22.9, 0.9], [71.4, 1.6], [38.9, 0.9]),
  row('VAE (cross-entropy)', [16.6, 0.4], [43.6, 0.7], [106.0, 1.0], [53.3, 0.6]),
  row('VAE (fixed gamma)', [52.0, 0.6], [84.6, 0.9], [160.5, 1.1], [55.9, 0.6]),
  row('VAE (learned gamma)', [54.5, 1.0], [60.0, 1.1], [76.7, 0.8], [60.5, 0.6]),
  row('VAE + Flow', [54.8, 2.8], [62.1, 1.6], [81.2, 2.0], [65.7, 2.8]),
  row('WAE-MMD', [115.0, 1.1], [101.7, 0.8], [80.9, 0.4], [62.9, 0.8]),
  row('2-Stage VAE', [12.6, 1.5], [29.3, 1.0], [72.9, 0.9], [44.4, 0.7]),
];

/** The published FID of a Table 1 row on a dataset, or null (another row or dataset). */
export function publishedFid(table1Row: string, dataset: string): PublishedFid | null {
  return TABLE1.find((r) => r.row === table1Row)?.fid[dataset] ?? null;
}

/** A row's position in Table 1 (rows not in it sort last). */
export function table1Order(table1Row: string): number {
  const i = TABLE1.findIndex((r) => r.row === table1Row);
  return i < 0 ? TABLE1.length : i;
}
