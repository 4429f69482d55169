import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@tsvae/core';
import { DownloadError, hashFile } from '@tsvae/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRealData } from '../../../test/real-data';
import {
  type InceptionParams,
  inceptionConvSpecs,
  LOGITS_DIM,
  POOL3_DIM,
  paramsFromStateDict,
} from './inception';
import { seededWeightsPath, seededWeightsRequirement } from './testing';
import { readTorchCheckpoint, TorchCheckpointError } from './torch-checkpoint';
import {
  FID_WEIGHTS_FILE,
  loadConvertedParams,
  loadInceptionParams,
  localInceptionWeights,
  saveConvertedParams,
  WeightsDownloadError,
} from './weights';

let server: Server;
let base = '';
/** Requests the server answered, by path (a reused file makes none). */
const requests: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tsvae-weights-'));
const payload = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
const payloadSha = createHash('sha256').update(payload).digest('hex');
const seeded = seededWeightsPath();

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/small.bin' || req.url === '/weights/not-a-checkpoint.pth') {
      res.writeHead(200, { 'content-length': String(payload.length) });
      res.end(payload);
    } else if (req.url === '/pt_inception-seeded.pth' && seeded) {
      res.writeHead(200);
      res.end(readFileSync(seeded));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  base = `http://127.0.0.1:${addr.port}`;
});

afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('loadInceptionParams downloads with @tsvae/core/node over loopback', () => {
  const url = () => `${base}/weights/not-a-checkpoint.pth`;

  it('downloads into the cache with progress and a sha256 prefix check, then reads the .pth', async () => {
    const cacheDir = join(dir, 'dl');
    const seen: [number, number][] = [];
    // The payload is no checkpoint: the download succeeds, the parse after it fails.
    await expect(
      loadInceptionParams({
        url: url(),
        sha256: payloadSha.slice(0, 8),
        cacheDir,
        onProgress: (done, total) => seen.push([done, total]),
      }),
    ).rejects.toThrow(TorchCheckpointError);
    const dest = join(cacheDir, 'not-a-checkpoint.pth');
    expect(new Uint8Array(readFileSync(dest))).toEqual(payload);
    expect(await hashFile(dest)).toBe(payloadSha);
    expect(seen.at(-1)).toEqual([payload.length, payload.length]);
    expect(existsSync(`${dest}.part`)).toBe(false);

    // A copy that verifies is reused without a request; a corrupt one is downloaded again.
    const before = requests.length;
    await expect(loadInceptionParams({ url: url(), sha256: payloadSha, cacheDir })).rejects.toThrow(
      TorchCheckpointError,
    );
    expect(requests.length).toBe(before);
    writeFileSync(dest, 'garbage');
    await expect(loadInceptionParams({ url: url(), sha256: payloadSha, cacheDir })).rejects.toThrow(
      TorchCheckpointError,
    );
    expect(requests.length).toBe(before + 1);
    expect(await hashFile(dest)).toBe(payloadSha);
  });

  it('rejects a checksum mismatch with a DownloadError naming both digests and leaves no file', async () => {
    const cacheDir = join(dir, 'bad');
    const err = await loadInceptionParams({ url: url(), sha256: '6726825d', cacheDir }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toMatch(
      new RegExp(`sha256 mismatch: expected 6726825d, got ${payloadSha}`),
    );
    expect(existsSync(join(cacheDir, 'not-a-checkpoint.pth'))).toBe(false);
    expect(existsSync(join(cacheDir, 'not-a-checkpoint.pth.part'))).toBe(false);
  });

  it('reports HTTP errors with the URL', async () => {
    await expect(
      loadInceptionParams({ url: `${base}/missing.pth`, sha256: payloadSha, cacheDir: join(dir, 'm') }),
    ).rejects.toThrow(new RegExp(`Download of ${base}/missing.pth failed: HTTP 404`));
  });

  it('checks a local .pth against an expected hash', async () => {
    const p = join(dir, 'x.pth');
    writeFileSync(p, payload);
    await expect(loadInceptionParams({ path: p, sha256: '00000000', cacheDir: dir })).rejects.toThrow(
      WeightsDownloadError,
    );
  });
});

/** Parameters of the right shapes with seeded values (no weights file needed). */
function fakeParams(seed: number): InceptionParams {
  const rng = createRng(seed);
  const fill = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.next() - 0.5;
    return a;
  };
  const convs = new Map<string, { filter: Float32Array; bias: Float32Array }>();
  for (const s of inceptionConvSpecs()) {
    convs.set(s.name, { filter: fill(s.kh * s.kw * s.inC * s.outC), bias: fill(s.outC) });
  }
  return { convs, fcWeight: fill(POOL3_DIM * LOGITS_DIM), fcBias: fill(LOGITS_DIM) };
}

/** Bit-identical float arrays (a byte comparison: element-wise matchers are slow at 24M values). */
const same = (x: Float32Array | undefined, y: Float32Array): boolean =>
  x !== undefined &&
  Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));

describe('converted copy', () => {
  it('is written atomically as a directory and reads back exactly; a second save replaces it', async () => {
    const parent = join(dir, 'converted');
    const target = join(parent, 'fid-inception-0123456789abcdef');
    const a = fakeParams(1);
    await saveConvertedParams(target, a, 'a'.repeat(64));
    expect(readdirSync(parent)).toEqual(['fid-inception-0123456789abcdef']);
    expect(readdirSync(target).sort()).toEqual(['manifest.json', 'weights.bin']);
    const back = await loadConvertedParams(target);
    expect(back.convs.size).toBe(a.convs.size);
    for (const [k, v] of a.convs) {
      expect(same(back.convs.get(k)?.filter, v.filter), k).toBe(true);
      expect(same(back.convs.get(k)?.bias, v.bias), k).toBe(true);
    }
    expect(same(back.fcWeight, a.fcWeight)).toBe(true);
    expect(same(back.fcBias, a.fcBias)).toBe(true);
    const b = fakeParams(2);
    await saveConvertedParams(target, b, 'b'.repeat(64));
    const again = await loadConvertedParams(target);
    expect(same(again.fcWeight, b.fcWeight)).toBe(true);
    expect(same(again.fcWeight, a.fcWeight)).toBe(false);
    // No temporary directory is left beside it.
    expect(readdirSync(parent)).toEqual(['fid-inception-0123456789abcdef']);
  });
});

describe('localInceptionWeights', () => {
  it('takes the explicit file, then TSVAE_FID_WEIGHTS, then the cache; never downloads', () => {
    const cache = join(dir, 'local');
    mkdirSync(cache, { recursive: true });
    const saved = process.env['TSVAE_FID_WEIGHTS'];
    delete process.env['TSVAE_FID_WEIGHTS'];
    try {
      expect(localInceptionWeights({ cacheDir: cache })).toBeUndefined();
      writeFileSync(join(cache, FID_WEIGHTS_FILE), 'x');
      expect(localInceptionWeights({ cacheDir: cache })).toBe(join(cache, FID_WEIGHTS_FILE));
      const env = join(dir, 'env.pth');
      writeFileSync(env, 'y');
      process.env['TSVAE_FID_WEIGHTS'] = env;
      expect(localInceptionWeights({ cacheDir: cache })).toBe(env);
      const explicit = join(dir, 'explicit.pth');
      writeFileSync(explicit, 'z');
      expect(localInceptionWeights({ path: explicit, cacheDir: cache })).toBe(explicit);
      expect(() => localInceptionWeights({ path: join(dir, 'none.pth') })).toThrow(
        `inceptionWeights ${join(dir, 'none.pth')}: no such file`,
      );
      process.env['TSVAE_FID_WEIGHTS'] = join(dir, 'gone.pth');
      expect(() => localInceptionWeights({ cacheDir: cache })).toThrow(
        `TSVAE_FID_WEIGHTS=${join(dir, 'gone.pth')}: no such file`,
      );
    } finally {
      if (saved === undefined) delete process.env['TSVAE_FID_WEIGHTS'];
      else process.env['TSVAE_FID_WEIGHTS'] = saved;
    }
  });
});

describeRealData('loadInceptionParams with the seeded .pth', seededWeightsRequirement(), () => {
  it('downloads, converts, caches, and reloads the converted copy identically', async () => {
    const cacheDir = join(dir, 'cache');
    const sha = await hashFile(seeded as string);
    const p1 = await loadInceptionParams({
      url: `${base}/pt_inception-seeded.pth`,
      sha256: sha.slice(0, 8),
      cacheDir,
    });
    expect(existsSync(join(cacheDir, 'pt_inception-seeded.pth'))).toBe(true);
    expect(existsSync(join(cacheDir, `fid-inception-${sha.slice(0, 16)}`, 'manifest.json'))).toBe(true);
    const p2 = await loadInceptionParams({ path: seeded as string, cacheDir });
    const direct = paramsFromStateDict(readTorchCheckpoint(new Uint8Array(readFileSync(seeded as string))));
    for (const p of [p1, p2]) {
      expect(p.convs.size).toBe(94);
      let diff = 0;
      for (const [k, v] of direct.convs) {
        const q = p.convs.get(k);
        if (!q) throw new Error(k);
        for (let i = 0; i < v.filter.length; i++) if (q.filter[i] !== v.filter[i]) diff++;
        for (let i = 0; i < v.bias.length; i++) if (q.bias[i] !== v.bias[i]) diff++;
      }
      for (let i = 0; i < direct.fcWeight.length; i++) if (p.fcWeight[i] !== direct.fcWeight[i]) diff++;
      expect(diff).toBe(0);
    }
  }, 120_000);
});
