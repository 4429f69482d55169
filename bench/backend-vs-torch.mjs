#!/usr/bin/env node
/**
 * tsvae's TensorFlow.js backends (as @tsvae/backend sets them up) against PyTorch on the CPU, on
 * the same networks (bench/backend-nets.mjs, tools/torch_bench.py), alternating A B C A B C after
 * warm-up. Every side runs in its own process (a JSON-lines server), so each peak RSS is its own.
 *
 *   node bench/backend-vs-torch.mjs [--backends tensorflow,wasm] [--rounds 5] [--s1-steps 12]
 *                                   [--s2-steps 60] [--gen-n 10000] [--threads N] [--no-torch]
 *                                   [--profile] [--python /usr/bin/python3] [--torch-blas openmp|system]
 *                                   [--tfjs-node path/to/tfjs-node] [--stock-kernels]
 *                                   [--adam-path auto|resource|ops] [--onednn on|off]
 *
 * --backends: comma-separated TSVAE_BACKEND values (default `auto`: what `tsvae info` picks);
 * `tensorflow` needs `tsvae setup tensorflow` (or --tfjs-node). --stock-kernels: without tsvae's
 * kernel registrations; --adam-path: the FusedAdamOptimizer path (`ops` = the elementwise one);
 * --onednn: TF_ENABLE_ONEDNN_OPTS for the tensorflow backend (default on). TSVAE_TORCH_THREADS sets
 * the torch threads (default: all cores). Builds @tsvae/backend first when its dist/ is missing.
 * Prints medians and ratios, a leak check and (--profile) a per-kernel profile.
 *
 * Timings mean something only on a quiet machine: check the load average first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const self = fileURLToPath(import.meta.url);
const root = path.join(path.dirname(self), '..');
const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'auto' },
    rounds: { type: 'string', default: '5' },
    's1-steps': { type: 'string', default: '12' },
    's2-steps': { type: 'string', default: '60' },
    'gen-n': { type: 'string', default: '10000' },
    threads: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    python: { type: 'string', default: '/usr/bin/python3' },
    'tfjs-node': { type: 'string' },
    'torch-blas': { type: 'string', default: 'openmp' },
    'stock-kernels': { type: 'boolean', default: false },
    'adam-path': { type: 'string', default: 'auto' },
    onednn: { type: 'string', default: 'on' },
    serve: { type: 'string' },
  },
});
const rounds = Number(args.rounds);
const s1Steps = Number(args['s1-steps']);
const s2Steps = Number(args['s2-steps']);
const GEN_N = Number(args['gen-n']);
const GEN_BATCH = Math.min(1000, GEN_N);

/** A JSON-lines server in a child process: `ask(msg)` resolves to its answer. */
function server(cmd, argv, env, label) {
  const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // a stray line from a library
    }
    waiting.shift()?.(msg);
  });
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w({ error: `${label} exited with ${code}` });
  });
  return {
    label,
    ask(msg) {
      return new Promise((resolve, reject) => {
        waiting.push((r) => (r.error ? reject(new Error(`${label}: ${r.error}`)) : resolve(r)));
        child.stdin.write(`${JSON.stringify(msg)}\n`);
      });
    },
    quit() {
      child.stdin.write('{"cmd":"quit"}\n');
      child.stdin.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tfjs side: `--serve <backend>` runs one backend as a server
// ---------------------------------------------------------------------------------------------
async function serve(backend) {
  const dist = path.join(root, 'packages/backend/dist/index.js');
  await import('@tensorflow/tfjs-layers'); // gradient registrations for tfjs-core
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend, describeBackend, adam } = await import(dist);
  const { BATCH, countParams, LATENT, makeStage1, makeStage2, trainables } = await import(
    './backend-nets.mjs'
  );
  if (args.onednn === 'off' && process.env.TF_ENABLE_ONEDNN_OPTS === undefined)
    process.env.TF_ENABLE_ONEDNN_OPTS = '0';
  const info = await initBackend({
    ...(backend === 'auto' ? {} : { backend }),
    ...(args.threads === undefined ? {} : { threads: Number(args.threads) }),
    ...(args['tfjs-node'] ? { tfjsNode: path.resolve(args['tfjs-node']) } : {}),
    trainingKernels: !args['stock-kernels'],
  });
  const stage1 = makeStage1();
  const stage2 = makeStage2();
  const opt1 = adam(1e-4);
  const opt2 = adam(1e-4);
  if (args['adam-path'] !== 'auto') {
    opt1.path = args['adam-path'];
    opt2.path = args['adam-path'];
  }
  const x = tf.randomUniform([BATCH, 28, 28, 1]);
  const z = tf.randomNormal([BATCH, LATENT]);
  const vars1 = trainables(stage1.params);
  const vars2 = trainables(stage2.params);
  const counters = { stage1: 0, stage2: 0 };
  const leak = { stage1: {}, stage2: {} };

  function train(stage, steps) {
    const [model, opt, data, vars] = stage === 'stage1' ? [stage1, opt1, x, vars1] : [stage2, opt2, z, vars2];
    const start = performance.now();
    let last = 0;
    for (let i = 0; i < steps; i++) {
      const loss = opt.minimize(() => model.loss(data), true, vars);
      if (i === steps - 1) last = loss.dataSync()[0];
      loss.dispose();
      counters[stage] += 1;
      if (counters[stage] === 10 || counters[stage] === 100)
        leak[stage][counters[stage]] = tf.memory().numTensors;
    }
    if (!Number.isFinite(last)) throw new Error(`${stage}: loss is ${last}`);
    return (performance.now() - start) / 1000;
  }

  function generate(n, batch) {
    const start = performance.now();
    for (let done = 0; done < n; done += batch) {
      const b = Math.min(batch, n - done);
      const images = tf.tidy(() => {
        const zs = tf.add(
          stage2.decode(tf.randomNormal([b, LATENT])),
          tf.mul(tf.exp(stage2.params.logGamma), tf.randomNormal([b, LATENT])),
        );
        return stage1.decode(zs, false);
      });
      images.dataSync();
      images.dispose();
    }
    return (performance.now() - start) / 1000;
  }

  /** Per-kernel times of `steps` training steps (wraps every kernel of the active backend). */
  function profile(stage, steps) {
    const name = tf.getBackend();
    const times = new Map();
    const originals = tf.getKernelsForBackend(name).map((k) => ({ ...k }));
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, name);
      tf.registerKernel({
        ...k,
        setupFunc: undefined,
        kernelFunc: (a) => {
          const t0 = performance.now();
          const out = k.kernelFunc(a);
          const e = times.get(k.kernelName) ?? { ms: 0, calls: 0 };
          e.ms += performance.now() - t0;
          e.calls += 1;
          times.set(k.kernelName, e);
          return out;
        },
      });
    }
    const start = performance.now();
    train(stage, steps);
    const total = performance.now() - start;
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, name);
      tf.registerKernel(k);
    }
    return {
      msPerStep: total / steps,
      rows: [...times.entries()]
        .sort((a, b) => b[1].ms - a[1].ms)
        .slice(0, 15)
        .map(([kernel, e]) => ({ kernel, ms: e.ms / steps, calls: e.calls / steps, share: e.ms / total })),
    };
  }

  const handle = (msg) => {
    switch (msg.cmd) {
      case 'info':
        return {
          summary: describeBackend(info),
          backend: info.backend,
          threads: info.threads,
          native: info.native ?? null,
          kernels: info.trainingKernels,
          adamPath: args['adam-path'],
          params_stage1: countParams(stage1.params),
          params_stage2: countParams(stage2.params),
        };
      case 'stage1':
      case 'stage2':
        return { seconds: train(msg.cmd, msg.steps) };
      case 'generate':
        return { seconds: generate(msg.n, msg.batch) };
      case 'profile':
        return profile(msg.stage, msg.steps);
      case 'leak':
        for (const stage of ['stage1', 'stage2'])
          while (counters[stage] < 100) train(stage, Math.min(10, 100 - counters[stage]));
        return { leak };
      case 'rss':
        return { peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
      default:
        throw new Error(`unknown command ${msg.cmd}`);
    }
  };
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const msg = JSON.parse(line);
    if (msg.cmd === 'quit') break;
    let out;
    try {
      out = handle(msg);
    } catch (e) {
      out = { error: e.message };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  process.exit(0);
}

if (args.serve !== undefined) {
  await serve(args.serve);
} else {
  await runParent();
}

// ---------------------------------------------------------------------------------------------
// The parent: one server per tfjs backend plus PyTorch, interleaved rounds, the table
// ---------------------------------------------------------------------------------------------
async function runParent() {
  const dist = path.join(root, 'packages/backend/dist/index.js');
  if (!existsSync(dist)) {
    const r = spawnSync('npx', ['tsup'], { cwd: path.join(root, 'packages/backend'), stdio: 'inherit' });
    if (r.status !== 0) throw new Error('building @tsvae/backend failed');
  }
  /**
   * Debian's torch links the generic libblas.so.3 alternative. The OpenMP OpenBLAS build is the
   * honest peer (the pthread build fights torch's OpenMP threads); pick it for this process only,
   * without touching the system's alternatives, unless --torch-blas system.
   */
  const torchEnv = () => {
    const dir = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
    if (args['torch-blas'] !== 'openmp') return process.env;
    if (!existsSync(path.join(dir, 'libblas.so.3'))) {
      console.warn(
        'warning: the OpenMP OpenBLAS build is not installed (apt-get install -y libopenblas0-openmp): torch runs on the pthread build, which fights its own OpenMP threads and makes PyTorch several times slower here; the ratios flatter tsvae',
      );
      return process.env;
    }
    return { ...process.env, LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  };
  const passthrough = process.argv
    .slice(2)
    .filter((a, i, all) => a !== '--serve' && all[i - 1] !== '--serve');
  const backends = args.backends
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const tfjs = backends.map((b) =>
    server(
      process.execPath,
      [self, '--serve', b, ...passthrough],
      { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
      b,
    ),
  );
  const torch = args['no-torch']
    ? null
    : server(args.python, [path.join(root, 'tools/torch_bench.py'), '--serve'], torchEnv(), 'torch');

  const infos = await Promise.all(tfjs.map((s) => s.ask({ cmd: 'info' })));
  const tinfo = torch ? await torch.ask({ cmd: 'info' }) : null;
  const loadavg = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(
    `machine: ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} cores, load average ${loadavg}, Node ${process.version}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}`,
  );
  console.log(
    'note: wall-clock timings; other processes on the machine distort them (check the load average).',
  );
  for (const [k, i] of infos.entries()) {
    console.log(
      `tfjs ${backends[k]}: ${i.summary}; kernels: ${i.kernels.join(', ') || 'stock'}; Adam path ${i.adamPath}; params ${i.params_stage1} / ${i.params_stage2}`,
    );
  }
  if (tinfo) {
    console.log(
      `torch ${tinfo.torch}, ${tinfo.threads} threads, BLAS: ${tinfo.blas.join(', ') || '(none mapped)'}; params ${tinfo.params_stage1} / ${tinfo.params_stage2}`,
    );
  }
  const sides = [...tfjs, ...(torch ? [torch] : [])];
  const labels = [
    ...backends.map((b, k) => `${infos[k].backend}${b === 'auto' ? ' (auto)' : ''}`),
    ...(torch ? ['PyTorch'] : []),
  ];

  // warm-up (kernel setup, XNNPACK operator creation, wasm heap growth, TensorFlow's first runs)
  for (const s of sides) {
    await s.ask({ cmd: 'stage1', steps: 3 });
    await s.ask({ cmd: 'stage2', steps: 10 });
    await s.ask({ cmd: 'generate', n: GEN_BATCH, batch: GEN_BATCH });
  }
  if (args.profile) {
    for (const [k, s] of tfjs.entries()) {
      for (const [stage, steps] of [
        ['stage1', 3],
        ['stage2', 10],
      ]) {
        const p = await s.ask({ cmd: 'profile', stage, steps });
        console.log(
          `\nper-kernel profile, ${labels[k]}, ${stage}, ${steps} steps, ${p.msPerStep.toFixed(0)} ms/step (nested kernels counted in both):`,
        );
        for (const r of p.rows)
          console.log(
            `  ${r.kernel.padEnd(24)} ${r.ms.toFixed(1).padStart(7)} ms/step  ${r.calls.toFixed(0).padStart(4)} calls/step  ${(100 * r.share).toFixed(0).padStart(3)}%`,
          );
      }
    }
  }

  const r = sides.map(() => ({ s1: [], s2: [], gen: [] }));
  for (let i = 0; i < rounds; i++) {
    for (const [k, s] of sides.entries())
      r[k].s1.push((s1Steps * 64) / (await s.ask({ cmd: 'stage1', steps: s1Steps })).seconds);
    for (const [k, s] of sides.entries())
      r[k].s2.push((s2Steps * 64) / (await s.ask({ cmd: 'stage2', steps: s2Steps })).seconds);
    for (const [k, s] of sides.entries())
      r[k].gen.push((await s.ask({ cmd: 'generate', n: GEN_N, batch: GEN_BATCH })).seconds);
    console.log(
      `round ${i + 1}/${rounds}: ${sides.map((_, k) => `${labels[k]} ${r[k].s1.at(-1).toFixed(0)} img/s, ${r[k].s2.at(-1).toFixed(0)} samples/s, ${r[k].gen.at(-1).toFixed(2)} s`).join(' | ')}`,
    );
  }
  // leak check: live tensors after training step 10 and step 100 of each stage
  const leaks = await Promise.all(tfjs.map((s) => s.ask({ cmd: 'leak' })));
  const rss = await Promise.all(
    sides.map(
      async (s) => (await s.ask({ cmd: s === torch ? 'generate' : 'rss', n: 1, batch: 1 })).peak_rss_mb,
    ),
  );
  for (const s of sides) s.quit();

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const t = torch ? sides.length - 1 : -1;
  const fmt = (v, unit, digits) => `${v.toFixed(digits)} ${unit}`;
  const table = (title, pick) => {
    console.log(`\n${title}`);
    const ratioHeads = t >= 0 ? tfjs.map((_, k) => `${labels[k]} / PyTorch`) : [];
    console.log(`| figure | ${labels.join(' | ')} |${ratioHeads.map((h) => ` ${h} |`).join('')}`);
    console.log(`|---|${labels.map(() => '---|').join('')}${ratioHeads.map(() => '---|').join('')}`);
    const row = (label, values, unit, higherIsBetter, digits = 0) => {
      const ratios =
        t >= 0
          ? tfjs.map(
              (_, k) => `${(higherIsBetter ? values[k] / values[t] : values[t] / values[k]).toFixed(2)}x`,
            )
          : [];
      console.log(
        `| ${label} | ${values.map((v) => fmt(v, unit, digits)).join(' | ')} |${ratios.map((x) => ` ${x} |`).join('')}`,
      );
    };
    row(
      'stage-1 training, images/s',
      r.map((x) => pick(x.s1, true)),
      'img/s',
      true,
    );
    row(
      'stage-2 training, samples/s',
      r.map((x) => pick(x.s2, true)),
      'samples/s',
      true,
    );
    row(
      `${GEN_N.toLocaleString('en')}-sample generation`,
      r.map((x) => pick(x.gen, false)),
      's',
      false,
      2,
    );
    if (title.startsWith('medians')) row('peak RSS', rss, 'MB', false);
  };
  table(
    `medians of ${rounds} rounds (batch 64; stage 1 ${s1Steps} steps, stage 2 ${s2Steps} steps a round); ratios > 1: tsvae faster / smaller`,
    (xs) => median(xs),
  );
  table('best round of each side (closest to an unloaded machine):', (xs, higher) =>
    higher ? Math.max(...xs) : Math.min(...xs),
  );
  if (t >= 0) {
    // the sides of one round ran back to back, so per-round ratios resist load changes
    for (const [k] of tfjs.entries()) {
      const per = (a, b, inv) => median(a.map((v, i) => (inv ? b[i] / v : v / b[i])));
      console.log(
        `median of per-round ratios, ${labels[k]} / PyTorch: stage 1 ${per(r[k].s1, r[t].s1).toFixed(2)}x, stage 2 ${per(r[k].s2, r[t].s2).toFixed(2)}x, generation ${per(r[k].gen, r[t].gen, true).toFixed(2)}x`,
      );
    }
  }
  let leaked = false;
  for (const [k, { leak }] of leaks.entries()) {
    const ok = (s) => leak[s][10] === leak[s][100];
    leaked ||= !ok('stage1') || !ok('stage2');
    console.log(
      `leak check ${labels[k]}: live tensors after step 10 / step 100: stage 1 ${leak.stage1[10]} / ${leak.stage1[100]} ${ok('stage1') ? 'OK' : 'LEAK'}; stage 2 ${leak.stage2[10]} / ${leak.stage2[100]} ${ok('stage2') ? 'OK' : 'LEAK'}`,
    );
  }
  if (leaked) process.exitCode = 1;
}
