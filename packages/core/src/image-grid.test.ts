import { describe, expect, it } from 'vitest';
import { gridCellAt, gridLayout, imageGrid, toByte } from './image-grid';

const pixel = (img: { width: number; data: Uint8ClampedArray }, x: number, y: number): number[] =>
  Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

describe('imageGrid', () => {
  it('tiles gray images with a 1-pixel white gap, repeating the value over RGB', () => {
    // 3 images of 1x2, 2 columns: width 2 * (2 + 1) + 1 = 7, height 2 * (1 + 1) + 1 = 5
    const img = imageGrid([0, 1, 0.5, 0.2, 1.2, -0.1], [3, 1, 2, 1]);
    expect([img.width, img.height]).toEqual([7, 5]);
    expect(pixel(img, 1, 1)).toEqual([0, 0, 0, 255]);
    expect(pixel(img, 2, 1)).toEqual([255, 255, 255, 255]);
    expect(pixel(img, 4, 1)).toEqual([128, 128, 128, 255]);
    expect(pixel(img, 5, 1)).toEqual([51, 51, 51, 255]);
    expect(pixel(img, 1, 3)).toEqual([255, 255, 255, 255]); // clamped 1.2
    expect(pixel(img, 2, 3)).toEqual([0, 0, 0, 255]); // clamped -0.1
    for (const [x, y] of [
      [0, 0],
      [3, 1],
      [6, 1],
      [1, 2],
      [4, 3],
    ] as const) {
      expect(pixel(img, x, y)).toEqual([255, 255, 255, 255]);
    }
  });

  it('keeps the channels of colour images', () => {
    const img = imageGrid([1, 0, 0.5], [1, 1, 1, 3]);
    expect(pixel(img, 1, 1)).toEqual([255, 0, 128, 255]);
  });

  it('rejects other channel counts and values that do not fit the shape', () => {
    expect(() => imageGrid([0, 0], [1, 1, 1, 2])).toThrow(/channels/);
    expect(() => imageGrid([0, 0], [1, 1, 1, 1])).toThrow(/2 values/);
  });

  it('toByte rounds and clamps', () => {
    expect([toByte(0), toByte(1), toByte(0.5), toByte(-3), toByte(7)]).toEqual([0, 255, 128, 0, 255]);
  });
});

describe('gridCellAt', () => {
  it('maps every pixel of a cell to its image and every gap pixel to -1', () => {
    const [n, h, w] = [5, 3, 2];
    const options = { columns: 3 };
    const layout = gridLayout(n, h, w, options);
    expect(layout).toEqual({ columns: 3, rows: 2, width: 10, height: 9 });
    // mark each image's pixels with its index + 1, then read the grid back
    const values = Array.from({ length: n * h * w }, (_, k) => (Math.floor(k / (h * w)) + 1) / 10);
    const img = imageGrid(values, [n, h, w, 1], options);
    for (let y = -1; y <= layout.height; y++) {
      for (let x = -1; x <= layout.width; x++) {
        const inside = x >= 0 && y >= 0 && x < layout.width && y < layout.height;
        const v = inside ? (pixel(img, x, y)[0] as number) : 255;
        const expected = v === 255 ? -1 : Math.round(v / 25.5) - 1;
        expect(gridCellAt(x, y, n, h, w, options), `pixel ${x},${y}`).toBe(expected);
      }
    }
  });
});
