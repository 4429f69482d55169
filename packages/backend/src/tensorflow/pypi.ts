/**
 * The few PyPI facts `tsvae setup tensorflow` needs: a release's files with their sha256 (PyPI's
 * JSON API, `/pypi/<name>/<version>/json`) and the wheel that fits this machine.
 */

/** One file of a PyPI release. */
export interface WheelFile {
  readonly filename: string;
  /** Absolute download URL (PyPI's, resolved against the JSON URL: mirrors give relative ones). */
  readonly url: string;
  readonly sha256: string;
  readonly size: number;
}

/** PyPI could not be asked, or had no such release. */
export class PypiError extends Error {
  override readonly name = 'PypiError';
  constructor(
    message: string,
    /** `unreachable`: no answer; `missing`: no such project or release; `bad-answer`: anything else. */
    readonly kind: 'unreachable' | 'missing' | 'bad-answer' = 'bad-answer',
  ) {
    super(message);
  }
}

/** Compares dotted numeric versions (`2.9.1` < `2.10.0`). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The index used when neither an option nor `TSVAE_PYPI_URL` names one. */
export const DEFAULT_PYPI_URL = 'https://pypi.org';

async function getJson(url: string, base: string, fetchImpl: typeof fetch): Promise<unknown | null> {
  let res: Response;
  try {
    res = await fetchImpl(url, {
      signal: AbortSignal.timeout(120_000),
      headers: { accept: 'application/json' },
    });
  } catch (e) {
    const cause = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new PypiError(
      `cannot reach PyPI at ${base} (${cause}); check the network, or name a mirror with --index-url / TSVAE_PYPI_URL`,
      'unreachable',
    );
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) throw new PypiError(`PyPI answered HTTP ${res.status} for ${url}`);
  try {
    return await res.json();
  } catch (e) {
    throw new PypiError(`PyPI's answer for ${url} is not JSON (${(e as Error).message})`);
  }
}

function parseFiles(list: unknown, url: string): WheelFile[] {
  if (!Array.isArray(list)) throw new PypiError(`PyPI's answer for ${url} has no file list`);
  return list.flatMap((f: Record<string, unknown>) => {
    const sha256 = (f['digests'] as Record<string, unknown> | undefined)?.['sha256'];
    if (typeof f['filename'] !== 'string' || typeof f['url'] !== 'string' || typeof sha256 !== 'string')
      return [];
    return [
      {
        filename: f['filename'],
        url: new URL(f['url'], url).toString(),
        sha256,
        size: typeof f['size'] === 'number' ? f['size'] : 0,
      },
    ];
  });
}

/**
 * Fetches the files of `name==version` from the PyPI JSON API at `indexUrl`: the release's own
 * document (`/pypi/<name>/<version>/json`), or, where an index serves only the project document
 * (some mirrors), that one's `releases[version]`.
 *
 * @throws PypiError when the index cannot be reached or has no such release (message says which).
 */
export async function releaseFiles(
  name: string,
  version: string,
  indexUrl: string = DEFAULT_PYPI_URL,
  fetchImpl: typeof fetch = fetch,
): Promise<WheelFile[]> {
  const base = indexUrl.replace(/\/+$/, '');
  const releaseUrl = `${base}/pypi/${encodeURIComponent(name)}/${encodeURIComponent(version)}/json`;
  const release = await getJson(releaseUrl, base, fetchImpl);
  if (release !== null) return parseFiles((release as { urls?: unknown }).urls, releaseUrl);
  const projectUrl = `${base}/pypi/${encodeURIComponent(name)}/json`;
  const project = await getJson(projectUrl, base, fetchImpl);
  if (project === null)
    throw new PypiError(`PyPI has no project ${name} (${projectUrl} answered 404)`, 'missing');
  const releases = (project as { releases?: Record<string, unknown> }).releases ?? {};
  const files = releases[version];
  if (files === undefined || (Array.isArray(files) && files.length === 0)) {
    const known = Object.keys(releases)
      .filter((v) => /^\d+(\.\d+)+$/.test(v))
      .sort(compareVersions);
    throw new PypiError(
      `PyPI has no ${name} ${version}${known.length ? ` (newest: ${known.slice(-5).reverse().join(', ')})` : ''}`,
      'missing',
    );
  }
  return parseFiles(files, projectUrl);
}

/** The glibc a manylinux platform tag needs, or null when the tag is not a Linux glibc tag for `arch`. */
export function manylinuxGlibc(tag: string, arch: string): [number, number] | null {
  if (!tag.endsWith(`_${arch}`)) return null;
  const legacy: Record<string, [number, number]> = {
    manylinux1: [2, 5],
    manylinux2010: [2, 12],
    manylinux2014: [2, 17],
  };
  const head = tag.slice(0, -arch.length - 1);
  if (legacy[head]) return legacy[head];
  const m = /^manylinux_(\d+)_(\d+)$/.exec(head);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * The wheel of `files` that runs here: a manylinux wheel for `arch` (`x86_64`, `aarch64`) whose
 * glibc is at most `glibc`; of several, the one for the newest CPython (the C libraries inside do
 * not depend on it), then by name. Undefined when none fits.
 */
export function pickWheel(
  files: readonly WheelFile[],
  arch: string,
  glibc: readonly [number, number],
): WheelFile | undefined {
  const fits = files.filter((f) => {
    if (!f.filename.endsWith('.whl')) return false;
    const parts = f.filename.slice(0, -4).split('-');
    const platforms = (parts.at(-1) ?? '').split('.');
    return platforms.some((p) => {
      const need = manylinuxGlibc(p, arch);
      return need !== null && (need[0] < glibc[0] || (need[0] === glibc[0] && need[1] <= glibc[1]));
    });
  });
  const python = (f: WheelFile): number => {
    const tag = f.filename.split('-').at(-3) ?? '';
    const m = /^cp3(\d+)$/.exec(tag);
    return m ? Number(m[1]) : 0;
  };
  return [...fits].sort((a, b) => python(b) - python(a) || a.filename.localeCompare(b.filename))[0];
}
