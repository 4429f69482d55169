import { describe, expect, it } from 'vitest';
import { celebaCropBox } from './celeba';
import { DatasetFormatError } from './errors';
import { centerCropBox, crop, decodeImage, resize, toChannels } from './image';
import { encodeJpeg, encodePng, patternRgb } from './test-helpers';

describe('image decoding', () => {
  it('decodes PNG exactly and JPEG closely', () => {
    const rgb = patternRgb(8, 12);
    const png = decodeImage(encodePng(rgb, 8, 12), 'a.png');
    expect([png.height, png.width, png.channels]).toEqual([8, 12, 4]);
    expect([...toChannels(png, 3).data]).toEqual([...rgb]);
    const jpg = decodeImage(encodeJpeg(rgb, 8, 12, 100), 'a.jpg');
    expect([jpg.height, jpg.width, jpg.channels]).toEqual([8, 12, 3]);
    let err = 0;
    for (let i = 0; i < rgb.length; i++) err = Math.max(err, Math.abs(rgb[i]! - jpg.data[i]!));
    expect(err).toBeLessThan(12);
  });

  it('rejects a corrupt JPEG, an unknown format and a corrupt PNG, naming the file', () => {
    const jpg = encodeJpeg(patternRgb(16, 16), 16, 16);
    const cut = jpg.slice(0, Math.floor(jpg.length / 2));
    expect(() => decodeImage(cut, 'dir/cut.jpg')).toThrow(DatasetFormatError);
    expect(() => decodeImage(cut, 'dir/cut.jpg')).toThrow(/^dir\/cut\.jpg: corrupt JPEG/);
    const garbage = jpg.slice();
    for (let i = 200; i < garbage.length - 2; i++) garbage[i] = 0xff;
    expect(() => decodeImage(garbage, 'g.jpg')).toThrow(/g\.jpg: corrupt JPEG/);
    expect(() => decodeImage(new TextEncoder().encode('hello'), 'x.jpg')).toThrow(
      /x\.jpg: not a JPEG or PNG/,
    );
    const png = encodePng(patternRgb(4, 4), 4, 4).slice(0, 40);
    expect(() => decodeImage(png, 'p.png')).toThrow(/p\.png: corrupt PNG/);
  });

  it('converts to grey with BT.601 weights', () => {
    const img = { width: 1, height: 1, channels: 3, data: Uint8Array.from([100, 200, 50]) };
    expect(toChannels(img, 1).data[0]).toBe(Math.round(0.299 * 100 + 0.587 * 200 + 0.114 * 50));
  });
});

describe('crop and resize', () => {
  const img = { width: 12, height: 8, channels: 3, data: patternRgb(8, 12) };

  it('crops the requested rows and columns, and refuses a box that does not fit', () => {
    const c = crop(img, { top: 2, left: 3, height: 4, width: 5 });
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 5; x++)
        for (let ch = 0; ch < 3; ch++)
          expect(c.data[(y * 5 + x) * 3 + ch]).toBe(img.data[((y + 2) * 12 + x + 3) * 3 + ch]);
    expect(() => crop(img, { top: 5, left: 0, height: 4, width: 4 }, 'f.jpg')).toThrow(
      /f\.jpg: crop rows 5:9/,
    );
  });

  it('area filter: the exact mean of each 2x2 block for a 2x downsample', () => {
    const r = resize(img, 4, 6, 'area');
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 6; x++)
        for (let ch = 0; ch < 3; ch++) {
          const at = (yy: number, xx: number): number => img.data[(yy * 12 + xx) * 3 + ch]!;
          const m =
            (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
          expect(r.data[(y * 6 + x) * 3 + ch]).toBe(Math.round(m));
        }
  });

  it('area filter with a fractional factor keeps a constant image constant and preserves the mean', () => {
    const flat = { width: 7, height: 7, channels: 1, data: new Uint8Array(49).fill(77) };
    expect([...resize(flat, 3, 3, 'area').data]).toEqual(new Array(9).fill(77));
    // A horizontal ramp 0..6 -> 3 pixels: exact area means of [0,7/3), [7/3,14/3), [14/3,7).
    const ramp = { width: 7, height: 1, channels: 1, data: Uint8Array.from([0, 30, 60, 90, 120, 150, 180]) };
    const r = resize(ramp, 1, 3, 'area');
    const mean = (a: number, b: number): number => {
      let s = 0;
      for (let j = Math.floor(a); j < Math.ceil(b); j++)
        s += ramp.data[j]! * (Math.min(b, j + 1) - Math.max(a, j));
      return s / (b - a);
    };
    expect([...r.data]).toEqual([mean(0, 7 / 3), mean(7 / 3, 14 / 3), mean(14 / 3, 7)].map(Math.round));
  });

  it('bilinear (half-pixel centres) interpolates a linear ramp exactly inside', () => {
    const ramp = { width: 4, height: 1, channels: 1, data: Uint8Array.from([0, 40, 80, 120]) };
    // Upsample x2: sample points (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, ... clamped at the edges.
    const r = resize(ramp, 1, 8, 'bilinear');
    expect([...r.data]).toEqual([0, 10, 30, 50, 70, 90, 110, 120]);
    const n = resize(ramp, 1, 2, 'nearest');
    expect([...n.data]).toEqual([40, 120]);
    const aa = resize(ramp, 1, 2, 'bilinear-antialias');
    expect(aa.data[0]).toBeGreaterThan(0);
    expect(aa.data[0]).toBeLessThan(60);
  });

  it('CelebA crop boxes follow the recipe', () => {
    expect(celebaCropBox('celeba64')).toEqual({ top: 45, left: 25, height: 128, width: 128 });
    expect(celebaCropBox('celeba140')).toEqual({ top: 39, left: 19, height: 140, width: 140 });
    expect(celebaCropBox('center160', 218, 178)).toEqual({ top: 29, left: 9, height: 160, width: 160 });
    expect(centerCropBox(218, 178, 160)).toEqual(celebaCropBox('center160'));
  });
});
