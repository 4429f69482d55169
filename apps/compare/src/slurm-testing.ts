/**
 * A real single-node Slurm cluster for tests (not part of the public API): munged, slurmctld and
 * slurmd of Debian's `slurm-wlm` / `munge` packages, started as root with the steps of
 * shared/notes/slurm.md, and stopped by their pids.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * A started cluster: its partition and a `stop()` that, when this helper started slurmctld,
 * cancels every job still known to it, waits until none is left, and ends the daemons it started
 * (by pid).
 */
export interface TestCluster {
  readonly partition: string;
  readonly node: string;
  stop(): Promise<void>;
}

const BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'srun', 'squeue', 'scontrol', 'scancel'];

function which(bin: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Why a cluster cannot be started here (null: it can). */
export function slurmUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root';
  const missing = BINARIES.filter((b) => !which(b));
  return missing.length ? `missing ${missing.join(', ')} (apt-get install slurm-wlm munge)` : null;
}

function pidOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts munged, slurmctld and slurmd (each only if not already running: then it is left alone),
 * writes /etc/slurm/slurm.conf for one node with partition `main`, and waits until the node is
 * idle. Daemons already running (another test's cluster) are reused and not stopped.
 */
export async function startTestCluster(): Promise<TestCluster> {
  const node = hostname();
  const started: { name: string; pidFile: string }[] = [];
  for (const d of ['/run/munge', '/var/spool/slurmctld', '/var/spool/slurmd', '/var/log/slurm']) {
    mkdirSync(d, { recursive: true });
  }
  execFileSync('sh', [
    '-c',
    'chown munge: /run/munge && chown -R munge: /var/log/munge /var/lib/munge /etc/munge',
  ]);
  const mungePid = '/run/munge/munged.pid';
  if (!alive(pidOf(mungePid))) {
    execFileSync('su', ['-s', '/bin/sh', 'munge', '-c', 'munged']);
    started.push({ name: 'munged', pidFile: mungePid });
  }
  const ctldPid = '/run/slurmctld.pid';
  const dPid = '/run/slurmd.pid';
  if (!alive(pidOf(ctldPid))) {
    mkdirSync('/etc/slurm', { recursive: true });
    writeFileSync(
      '/etc/slurm/slurm.conf',
      [
        'ClusterName=local',
        `SlurmctldHost=${node}`,
        'SlurmUser=root',
        'AuthType=auth/munge',
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'MpiDefault=none',
        'SchedulerType=sched/backfill',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_CPU',
        'ReturnToService=2',
        'StateSaveLocation=/var/spool/slurmctld',
        'SlurmdSpoolDir=/var/spool/slurmd',
        'SlurmctldLogFile=/var/log/slurm/slurmctld.log',
        'SlurmdLogFile=/var/log/slurm/slurmd.log',
        `SlurmctldPidFile=${ctldPid}`,
        `SlurmdPidFile=${dPid}`,
        // finished jobs stay visible to scontrol (there is no accounting database here)
        'MinJobAge=3600',
        'KillWait=10',
        'JobRequeue=1',
        `NodeName=${node} CPUs=2 RealMemory=20000 State=UNKNOWN`,
        `PartitionName=main Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
        '',
      ].join('\n'),
    );
    chownSync('/var/spool/slurmctld', 0, 0);
    // -c: no state of an earlier cluster (jobs it still thought running would hold the node)
    execFileSync('slurmctld', ['-c']);
    started.push({ name: 'slurmctld', pidFile: ctldPid });
  }
  if (!alive(pidOf(dPid))) {
    execFileSync('slurmd', []);
    started.push({ name: 'slurmd', pidFile: dPid });
  }
  const stop = async () => {
    if (started.some((d) => d.name === 'slurmctld')) {
      // a task still ending (its step completion on the way) must not outlive the daemons: its
      // slurmstepd would retry munge for minutes and the next cluster would recover the job
      spawnSync('scancel', ['--partition', 'main']);
      for (let i = 0; i < 60; i++) {
        const q = spawnSync('squeue', ['-h', '-o', '%i'], { encoding: 'utf8' });
        if (q.status !== 0 || q.stdout.trim() === '') break;
        await sleep(500);
      }
    }
    for (const d of [...started].reverse()) {
      const pid = pidOf(d.pidFile);
      if (alive(pid)) process.kill(pid as number, 'SIGTERM');
    }
  };
  for (let i = 0; i < 60; i++) {
    const r = spawnSync('sinfo', ['-h', '-o', '%t'], { encoding: 'utf8' });
    if (r.status === 0 && /^(idle|mix|alloc)/m.test(r.stdout)) return { partition: 'main', node, stop };
    if (r.status === 0 && /^(down|drain)/m.test(r.stdout)) {
      spawnSync('scontrol', ['update', `nodename=${node}`, 'state=resume']);
    }
    await sleep(500);
  }
  const log = existsSync('/var/log/slurm/slurmctld.log')
    ? readFileSync('/var/log/slurm/slurmctld.log', 'utf8').split('\n').slice(-10).join('\n')
    : '';
  await stop();
  throw new Error(`the test Slurm cluster did not come up (sinfo never showed the node idle)\n${log}`);
}
