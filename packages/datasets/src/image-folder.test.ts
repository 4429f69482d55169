import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetFormatError } from './errors';
import { loadImageFolder } from './image-folder';
import { createTar } from './tar';
import { encodeJpeg, encodePng, patternRgb, tempDir } from './test-helpers';

const tmp = tempDir();
afterAll(tmp.cleanup);

function put(path: string, bytes: Uint8Array): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
}

describe('image folders', () => {
  it('class per subfolder: sorted classes, numeric file order, exact PNG pixels', () => {
    const root = join(tmp.dir, 'classes');
    put(join(root, 'dog', '10.png'), encodePng(patternRgb(4, 6, 3), 4, 6));
    put(join(root, 'dog', '2.png'), encodePng(patternRgb(4, 6, 2), 4, 6));
    put(join(root, 'cat', '1.png'), encodePng(patternRgb(4, 6, 1), 4, 6));
    put(join(root, 'cat', 'notes.txt'), new TextEncoder().encode('ignored'));
    const s = loadImageFolder(root);
    expect(s.classNames).toEqual(['cat', 'dog']);
    expect(s.size).toBe(3);
    expect(s.shape).toEqual([4, 6, 3]);
    expect([...s.labels!]).toEqual([0, 1, 1]);
    expect(s.files.map((f) => f.slice(root.length + 1))).toEqual(['cat/1.png', 'dog/2.png', 'dog/10.png']);
    expect([...s.data.subarray(72, 144)]).toEqual([...patternRgb(4, 6, 2)]);
  });

  it('flat folder: no labels; grey images give one channel', () => {
    const root = join(tmp.dir, 'flat');
    const grey = new Uint8Array(5 * 5 * 3);
    for (let i = 0; i < 25; i++) grey[3 * i] = grey[3 * i + 1] = grey[3 * i + 2] = i * 10;
    put(join(root, 'a.png'), encodePng(grey, 5, 5));
    put(join(root, 'b.png'), encodePng(grey, 5, 5));
    const s = loadImageFolder(root);
    expect(s.labels).toBeUndefined();
    expect(s.classNames).toEqual([]);
    expect(s.shape).toEqual([5, 5, 1]);
    expect([...s.data.subarray(0, 25)]).toEqual(Array.from({ length: 25 }, (_, i) => i * 10));
  });

  it('tar archive with a top folder (the CIFAR-10 JPEG layout) and a limit', () => {
    const files = ['b/0001.jpg', 'a/0000.jpg', 'a/0001.jpg'].map((n, i) => ({
      name: `train/${n}`,
      data: encodeJpeg(patternRgb(8, 8, i * 50), 8, 8),
    }));
    const p = join(tmp.dir, 'train.tar');
    writeFileSync(p, createTar(files));
    const s = loadImageFolder(p, { channels: 3 });
    expect(s.classNames).toEqual(['a', 'b']);
    expect([...s.labels!]).toEqual([0, 0, 1]);
    expect(s.files[0]).toBe(`${p}:train/a/0000.jpg`);
    const two = loadImageFolder(p, { limit: 2, channels: 3 });
    expect(two.size).toBe(2);
    expect(two.classNames).toEqual(['a', 'b']);
  });

  it('resizeTo resizes images of other sizes instead of rejecting them', () => {
    const root = join(tmp.dir, 'resize');
    put(join(root, 'a.png'), encodePng(patternRgb(8, 8), 8, 8));
    put(join(root, 'b.png'), encodePng(patternRgb(4, 4), 4, 4));
    const s = loadImageFolder(root, { resizeTo: [4, 4], channels: 3 });
    expect(s.shape).toEqual([4, 4, 3]);
  });
});

describe('image folders: bad input', () => {
  it('an empty folder', () => {
    const root = join(tmp.dir, 'empty');
    mkdirSync(root, { recursive: true });
    expect(() => loadImageFolder(root)).toThrow(DatasetFormatError);
    expect(() => loadImageFolder(root)).toThrow(`${root}: no JPEG or PNG images found`);
    const tarPath = join(tmp.dir, 'empty.tar');
    writeFileSync(tarPath, createTar([]));
    expect(() => loadImageFolder(tarPath)).toThrow(`${tarPath}: no JPEG or PNG images found`);
  });

  it('an image of the wrong size, naming it and the expected size', () => {
    const root = join(tmp.dir, 'sizes');
    put(join(root, 'x', 'a.png'), encodePng(patternRgb(4, 4), 4, 4));
    put(join(root, 'x', 'b.png'), encodePng(patternRgb(4, 5), 4, 5));
    const bad = join(root, 'x', 'b.png');
    expect(() => loadImageFolder(root)).toThrow(
      `${bad}: wrong image size 4x5 (height x width), expected 4x4`,
    );
  });

  it('a corrupt JPEG, naming it', () => {
    const root = join(tmp.dir, 'corrupt');
    put(join(root, 'c', 'ok.jpg'), encodeJpeg(patternRgb(8, 8), 8, 8));
    const broken = encodeJpeg(patternRgb(8, 8), 8, 8);
    put(join(root, 'c', 'zz.jpg'), broken.subarray(0, broken.length >> 1));
    expect(() => loadImageFolder(root)).toThrow(new RegExp(`${join(root, 'c', 'zz.jpg')}: corrupt JPEG`));
  });

  it('images at the root and in subfolders', () => {
    const root = join(tmp.dir, 'mixed');
    put(join(root, 'a.png'), encodePng(patternRgb(4, 4), 4, 4));
    put(join(root, 'k', 'b.png'), encodePng(patternRgb(4, 4), 4, 4));
    expect(() => loadImageFolder(root)).toThrow(/images both at the root/);
    expect(loadImageFolder(root, { labels: 'none' }).size).toBe(2);
  });

  it('a folder that does not exist, and a class outside classNames', () => {
    expect(() => loadImageFolder(join(tmp.dir, 'nope'))).toThrow(/nope: does not exist/);
    const root = join(tmp.dir, 'cls');
    put(join(root, 'q', 'a.png'), encodePng(patternRgb(4, 4), 4, 4));
    expect(() => loadImageFolder(root, { classNames: ['p'] })).toThrow(
      /a\.png: class folder "q" is not one of p/,
    );
  });
});
