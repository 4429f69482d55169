/**
 * A real single-node Slurm cluster for tests (not part of the public API): munged, slurmctld and
 * slurmd of Debian's `slurm-wlm` / `munge` packages, started as root with the steps of
 * shared/notes/slurm.md, and stopped by their pids; where `mariadb-server` and `slurmdbd` are
 * installed, with accounting (slurmdbd on MariaDB, so `sacct` answers).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * A started cluster: its partition and a `stop()` that, when this helper started slurmctld,
 * cancels every job still known to it, waits until none is left, and ends the daemons it started
 * (by pid).
 */
export interface TestCluster {
  readonly partition: string;
  readonly node: string;
  /** Whether jobs are recorded in an accounting database (slurmdbd on MariaDB; `sacct` answers). */
  readonly accounting: boolean;
  /**
   * Restarts slurmctld without its saved state (`-c`): it forgets every job, as a controller does
   * once a finished job is older than MinJobAge; only the accounting database still knows them.
   */
  restartController(): Promise<void>;
  stop(): Promise<void>;
}

const BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'srun', 'squeue', 'scontrol', 'scancel'];

function which(bin: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

const ACCOUNTING_BINARIES = ['mariadbd', 'mariadb', 'slurmdbd', 'sacctmgr', 'sacct'];

/** Why the test cluster cannot keep accounts (slurmdbd on MariaDB) here (null: it can). */
export function accountingUnavailable(): string | null {
  const missing = ACCOUNTING_BINARIES.filter((b) => !which(b));
  return missing.length ? `missing ${missing.join(', ')} (apt-get install mariadb-server slurmdbd)` : null;
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

async function until(what: string, ok: () => boolean, seconds: number): Promise<void> {
  for (let i = 0; i < seconds * 2; i++) {
    if (ok()) return;
    await sleep(500);
  }
  throw new Error(`the test Slurm cluster: ${what} did not happen within ${seconds} s`);
}

const succeeds = (bin: string, args: string[]) => spawnSync(bin, args, { stdio: 'ignore' }).status === 0;

/**
 * MariaDB (its Debian data directory, on loopback) with a `slurm_acct_db` database and user, and
 * slurmdbd on it, each started only if not already running; registers cluster `local`.
 */
async function startAccounting(started: { name: string; pidFile: string }[]): Promise<void> {
  mkdirSync('/run/mysqld', { recursive: true });
  execFileSync('chown', ['mysql:', '/run/mysqld']);
  const dbPid = '/run/mysqld/mysqld.pid';
  if (!alive(pidOf(dbPid))) {
    const log = openSync('/var/log/slurm/mariadb.log', 'a');
    spawn(
      'mariadbd',
      ['--user=mysql', '--bind-address=127.0.0.1', '--socket=/run/mysqld/mysqld.sock', `--pid-file=${dbPid}`],
      { detached: true, stdio: ['ignore', log, log] },
    ).unref();
    closeSync(log);
    started.push({ name: 'mariadbd', pidFile: dbPid });
    await until('MariaDB accepting connections', () => succeeds('mariadb', ['-e', 'select 1']), 60);
  }
  execFileSync('mariadb', [
    '-e',
    "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'tsvae-test'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;",
  ]);
  const dbdPid = '/run/slurmdbd.pid';
  if (!alive(pidOf(dbdPid))) {
    writeFileSync(
      '/etc/slurm/slurmdbd.conf',
      [
        'AuthType=auth/munge',
        'DbdHost=localhost',
        'SlurmUser=root',
        'StorageType=accounting_storage/mysql',
        'StorageHost=localhost',
        'StorageUser=slurm',
        'StoragePass=tsvae-test',
        'StorageLoc=slurm_acct_db',
        'LogFile=/var/log/slurm/slurmdbd.log',
        `PidFile=${dbdPid}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    execFileSync('slurmdbd', []);
    started.push({ name: 'slurmdbd', pidFile: dbdPid });
  }
  // the cluster must exist in the database before slurmctld registers with it
  await until(
    'slurmdbd answering sacctmgr',
    () =>
      succeeds('sacctmgr', ['-i', 'add', 'cluster', 'local']) ||
      succeeds('sacctmgr', ['-n', 'show', 'cluster', 'local']),
    60,
  );
}

/**
 * Starts munged, MariaDB and slurmdbd (where installed), slurmctld and slurmd (each only if not
 * already running: then it is left alone),
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
  mkdirSync('/etc/slurm', { recursive: true });
  const withAccounting = accountingUnavailable() === null && !alive(pidOf(ctldPid));
  if (withAccounting) await startAccounting(started);
  if (!alive(pidOf(ctldPid))) {
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
        ...(withAccounting
          ? [
              'AccountingStorageType=accounting_storage/slurmdbd',
              'AccountingStorageHost=localhost',
              'JobAcctGatherType=jobacct_gather/none',
            ]
          : []),
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
  const nodeUp = () => {
    const r = spawnSync('sinfo', ['-h', '-o', '%t'], { encoding: 'utf8' });
    if (r.status === 0 && /^(down|drain)/m.test(r.stdout)) {
      spawnSync('scontrol', ['update', `nodename=${node}`, 'state=resume']);
    }
    return r.status === 0 && /^(idle|mix|alloc)/m.test(r.stdout);
  };
  const restartController = async () => {
    if (!started.some((d) => d.name === 'slurmctld')) {
      throw new Error('the test Slurm cluster did not start slurmctld, so it does not restart it');
    }
    const pid = pidOf(ctldPid);
    if (alive(pid)) process.kill(pid as number, 'SIGTERM');
    await until('slurmctld ending', () => !alive(pid), 30);
    execFileSync('slurmctld', ['-c']);
    await until('the node idle again', nodeUp, 60);
  };
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
  // accounting is on where sacct answers (a reused controller may have been set up without it)
  const accounting = () => succeeds('sacct', ['-n', '-X', '-j', '1']);
  for (let i = 0; i < 60; i++) {
    if (nodeUp()) return { partition: 'main', node, accounting: accounting(), restartController, stop };
    await sleep(500);
  }
  const log = existsSync('/var/log/slurm/slurmctld.log')
    ? readFileSync('/var/log/slurm/slurmctld.log', 'utf8').split('\n').slice(-10).join('\n')
    : '';
  await stop();
  throw new Error(`the test Slurm cluster did not come up (sinfo never showed the node idle)\n${log}`);
}
