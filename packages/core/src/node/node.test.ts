import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setBeforeRenameHook } from '../testing';
import {
  cacheDir,
  digestMatches,
  FileFormatError,
  FsError,
  fsError,
  hashBytes,
  hashFile,
  hashFileSync,
  parseJsonText,
  readJsonFile,
  readJsonLines,
  removeStaleTemps,
  tempNameFor,
  writeDirectoryAtomic,
  writeFileAtomic,
  writeJsonAtomic,
} from './index';

const root = mkdtempSync(join(tmpdir(), 'tsvae-core-node-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('write text, bytes and chunks, creating parents; JSON ends with a newline', () => {
    const dir = join(root, 'a', 'b');
    writeFileAtomic(join(dir, 't.txt'), 'hello');
    writeFileAtomic(join(dir, 'b.bin'), Uint8Array.of(1, 2, 3));
    writeFileAtomic(join(dir, 'c.bin'), [Uint8Array.of(1), Uint8Array.of(2, 3)]);
    writeJsonAtomic(join(dir, 'j.json'), { x: 1 });
    expect(readFileSync(join(dir, 't.txt'), 'utf8')).toBe('hello');
    expect([...readFileSync(join(dir, 'b.bin'))]).toEqual([1, 2, 3]);
    expect([...readFileSync(join(dir, 'c.bin'))]).toEqual([1, 2, 3]);
    expect(readFileSync(join(dir, 'j.json'), 'utf8')).toBe('{\n  "x": 1\n}\n');
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a crash before the rename leaves the old file and no temporary file', () => {
    const file = join(root, 'keep.txt');
    writeFileAtomic(file, 'old');
    setBeforeRenameHook(() => {
      throw new Error('simulated crash');
    });
    try {
      expect(() => writeFileAtomic(file, 'new')).toThrow('simulated crash');
      expect(() => writeDirectoryAtomic(join(root, 'dir1'), { a: 'x' })).toThrow('simulated crash');
    } finally {
      setBeforeRenameHook(undefined);
    }
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(existsSync(join(root, 'dir1'))).toBe(false);
    expect(readdirSync(root).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a directory appears whole', () => {
    writeDirectoryAtomic(join(root, 'ckpt'), { 'a.bin': Uint8Array.of(9), 'm.json': '{}' });
    expect(readdirSync(join(root, 'ckpt')).sort()).toEqual(['a.bin', 'm.json']);
    // the final directory must not exist yet
    expect(() => writeDirectoryAtomic(join(root, 'ckpt'), { 'a.bin': 'x' })).toThrow(FsError);
  });

  it('errors name the path and the real cause', () => {
    const file = join(root, 'plain');
    writeFileSync(file, 'x');
    // a parent that is a file: ENOTDIR / EEXIST, never a bare errno without the path
    const err = (() => {
      try {
        writeFileAtomic(join(file, 'sub', 'x.json'), '{}');
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(FsError);
    expect((err as FsError).message).toContain(join(file, 'sub'));
    expect((err as FsError).message).toMatch(/\((ENOTDIR|EEXIST)\)/);
    const enospc = fsError(
      'write',
      '/x/y',
      Object.assign(new Error('raw'), { code: 'ENOSPC' }),
      'keep ckpt-1',
    );
    expect(enospc.message).toBe('cannot write /x/y: no space left on device (ENOSPC); keep ckpt-1');
  });

  it('stale temporaries of dead processes are removed, live ones kept', () => {
    const dir = join(root, 'stale');
    mkdirSync(dir);
    // a pid that has exited
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const deadTmp = join(dir, `.ckpt-000001.${dead}-0123abcd.tmp`);
    mkdirSync(deadTmp);
    writeFileSync(join(deadTmp, 'weights.bin'), 'partial');
    const mine = tempNameFor(join(dir, 'x.json'));
    writeFileSync(mine, 'in progress');
    const alive = join(dir, `.y.json.${process.ppid}-0123abcd.tmp`);
    writeFileSync(alive, 'another live process');
    expect(removeStaleTemps(dir)).toEqual([deadTmp]);
    expect(existsSync(mine) && existsSync(alive)).toBe(true);
    expect(removeStaleTemps(dir, { all: true })).toEqual([alive]);
    expect(existsSync(mine)).toBe(true);
  });
});

describe('cacheDir', () => {
  it('override, then TSVAE_CACHE, then XDG_CACHE_HOME/tsvae, then ~/.cache/tsvae', () => {
    const saved = { t: process.env['TSVAE_CACHE'], x: process.env['XDG_CACHE_HOME'] };
    try {
      process.env['TSVAE_CACHE'] = '/t';
      process.env['XDG_CACHE_HOME'] = '/x';
      expect(cacheDir('/o')).toBe('/o');
      expect(cacheDir()).toBe('/t');
      delete process.env['TSVAE_CACHE'];
      expect(cacheDir()).toBe(join('/x', 'tsvae'));
      delete process.env['XDG_CACHE_HOME'];
      expect(cacheDir()).toBe(join(homedir(), '.cache', 'tsvae'));
    } finally {
      for (const [k, v] of [
        ['TSVAE_CACHE', saved.t],
        ['XDG_CACHE_HOME', saved.x],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('hashing', () => {
  it('file digests equal the byte digests (sha256 of "abc" is the FIPS 180-2 vector)', async () => {
    const file = join(root, 'abc.txt');
    writeFileSync(file, 'abc');
    const want = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(hashBytes('abc')).toBe(want);
    expect(await hashFile(file)).toBe(want);
    expect(hashFileSync(file)).toBe(want);
    expect(await hashFile(file, 'md5')).toBe('900150983cd24fb0d6963f7d28e17f72');
    await expect(hashFile(join(root, 'missing'))).rejects.toThrow(/cannot read .*missing: no such file/);
  });

  it('digestMatches takes the full digest or a prefix of >= 8 hex digits', () => {
    const d = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(digestMatches(d, d.toUpperCase())).toBe(true);
    expect(digestMatches(d, 'ba7816bf')).toBe(true);
    expect(digestMatches(d, 'ba7816be')).toBe(false);
    expect(() => digestMatches(d, 'ba78')).toThrow(RangeError);
  });
});

describe('JSON files', () => {
  it('bad JSON names the file, the line and the column; truncation is called so', () => {
    const file = join(root, 'bad.json');
    writeFileSync(file, '{\n  "a": 1,\n  "b" 2\n}\n');
    expect(() => readJsonFile(file)).toThrow(`${file}: line 3, column 7: invalid JSON (Unexpected number)`);
    writeFileSync(file, '{"stage": "stage1", "loss": 1.2');
    expect(() => readJsonFile(file)).toThrow(/bad\.json: line 1, column \d+: truncated JSON/);
    writeFileSync(file, '');
    expect(() => readJsonFile(file)).toThrow(/bad\.json: line 1: empty/);
    expect(() => readJsonFile(join(root, 'nope.json'))).toThrow(
      /cannot read .*nope\.json: no such file or directory \(ENOENT\)/,
    );
    expect(() => parseJsonText('{}', 'x')).not.toThrow();
  });

  it('JSON lines: each line parsed, blank lines skipped, a bad line named', () => {
    const file = join(root, 'm.jsonl');
    writeFileSync(file, '{"a":1}\n\n{"a":2}\n{"a":3, "b": "tru\n');
    const err = (() => {
      try {
        readJsonLines(file);
      } catch (e) {
        return e as FileFormatError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/m\.jsonl: line 4, column \d+: truncated JSON \(Unterminated string\)/);
    writeFileSync(file, '{"a":1}\n\n{"a":2}\n');
    expect(readJsonLines(file)).toEqual([{ a: 1 }, { a: 2 }]);
  });
});
