import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeRealData } from '../../../test/real-data';
import { seededWeightsPath, seededWeightsRequirement } from './testing';
import { readTorchCheckpoint, TorchCheckpointError } from './torch-checkpoint';

const zipPth = seededWeightsPath();
const legacyPth = zipPth?.replace(/\.pth$/, '-legacy.pth');

describe('readTorchCheckpoint', () => {
  it('rejects non-checkpoints', () => {
    expect(() => readTorchCheckpoint(new Uint8Array([1, 2, 3]))).toThrow(TorchCheckpointError);
    expect(() => readTorchCheckpoint(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]))).toThrow(/zip/);
  });

  describeRealData('seeded FID Inception .pth from tools/fid_oracle.py', seededWeightsRequirement(), () => {
    it('reads the zip and legacy formats identically', () => {
      const a = readTorchCheckpoint(new Uint8Array(readFileSync(zipPth as string)));
      const w = a.get('Conv2d_1a_3x3.conv.weight');
      expect(w?.shape).toEqual([32, 3, 3, 3]);
      expect(a.get('fc.weight')?.shape).toEqual([1008, 2048]);
      expect(a.get('Mixed_7c.branch_pool.bn.running_var')?.shape).toEqual([192]);
      expect(a.get('Conv2d_1a_3x3.bn.num_batches_tracked')?.dtype).toBe('int64');
      if (legacyPth && existsSync(legacyPth)) {
        const b = readTorchCheckpoint(new Uint8Array(readFileSync(legacyPth)));
        expect([...b.keys()]).toEqual([...a.keys()]);
        let mismatches = 0;
        for (const [k, t] of a) {
          const u = b.get(k)?.data;
          if (!u || u.length !== t.data.length) mismatches++;
          else for (let i = 0; i < u.length; i++) if (u[i] !== t.data[i]) mismatches++;
        }
        expect(mismatches).toBe(0);
      }
    });
  });
});
