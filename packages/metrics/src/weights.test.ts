import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRealData } from '../../../test/real-data';
import { paramsFromStateDict } from './inception';
import { seededWeightsPath, seededWeightsRequirement } from './testing';
import { readTorchCheckpoint } from './torch-checkpoint';
import { downloadVerified, loadInceptionParams, sha256File, WeightsDownloadError } from './weights';

let server: Server;
let base = '';
const dir = mkdtempSync(join(tmpdir(), 'tsvae-weights-'));
const payload = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
const payloadSha = createHash('sha256').update(payload).digest('hex');
const seeded = seededWeightsPath();

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/small.bin') {
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

describe('downloadVerified', () => {
  it('downloads with progress and a sha256 prefix check', async () => {
    const seen: number[] = [];
    const dest = join(dir, 'a', 'small.bin');
    const digest = await downloadVerified(`${base}/small.bin`, dest, {
      sha256: payloadSha.slice(0, 8),
      onProgress: (p) => seen.push(p.loaded),
    });
    expect(digest).toBe(payloadSha);
    expect(seen.at(-1)).toBe(payload.length);
    expect(new Uint8Array(readFileSync(dest))).toEqual(payload);
    expect(await sha256File(dest)).toBe(payloadSha);
  });

  it('rejects a checksum mismatch and leaves no file', async () => {
    const dest = join(dir, 'bad.bin');
    await expect(downloadVerified(`${base}/small.bin`, dest, { sha256: '6726825d' })).rejects.toThrow(
      /checksum mismatch.*6726825d/,
    );
    expect(existsSync(dest)).toBe(false);
  });

  it('reports HTTP errors', async () => {
    await expect(downloadVerified(`${base}/missing.bin`, join(dir, 'm.bin'))).rejects.toThrow(
      WeightsDownloadError,
    );
  });

  it('checks a local .pth against an expected hash', async () => {
    const p = join(dir, 'x.pth');
    writeFileSync(p, payload);
    await expect(loadInceptionParams({ path: p, sha256: '00000000', cacheDir: dir })).rejects.toThrow(
      /checksum/,
    );
  });
});

describeRealData('loadInceptionParams with the seeded .pth', seededWeightsRequirement(), () => {
  it('downloads, converts, caches, and reloads the converted copy identically', async () => {
    const cacheDir = join(dir, 'cache');
    const sha = await sha256File(seeded as string);
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
