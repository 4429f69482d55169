import type { TrainingCallback, TrainingLogs } from '@tsvae/core';

/** Where the CLI writes. */
export interface OutputStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

const fmt = (v: number | undefined, digits = 4): string =>
  v === undefined
    ? '-'
    : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(2)
      : v.toFixed(digits);

/**
 * A progress bar on a terminal: one line per stage epoch, redrawn per batch (at most every
 * 100 ms), with the loss and gamma; a summary line at each epoch end.
 */
export function ttyProgress(out: OutputStream, now: () => number = () => Date.now()): TrainingCallback {
  let epochs = 0;
  let steps = 0;
  let last = 0;
  let epochStart = 0;
  const width = 24;
  return {
    onTrainBegin(info) {
      epochs = info.epochs;
      steps = info.stepsPerEpoch;
      out.write(`${info.stage}: ${info.epochs} epochs of ${info.stepsPerEpoch} steps\n`);
    },
    onEpochBegin() {
      epochStart = now();
    },
    onBatchEnd(step, logs, info) {
      const t = now();
      if (t - last < 100 && step + 1 < steps) return;
      last = t;
      const done = Math.round(((step + 1) / Math.max(1, steps)) * width);
      const rate = (step + 1) / Math.max(1e-3, (t - epochStart) / 1000);
      out.write(
        `\r${info.stage} epoch ${info.epoch + 1}/${epochs} [${'#'.repeat(done)}${'-'.repeat(width - done)}] ${step + 1}/${steps} loss ${fmt(logs['loss'], 2)} gamma ${fmt(logs['gamma'])} ${rate.toFixed(1)} it/s\x1b[K`,
      );
    },
    onEpochEnd(epoch, logs: TrainingLogs, info) {
      const parts = [
        `\r${info.stage} epoch ${epoch + 1}/${epochs}`,
        `loss ${fmt(logs['loss'], 2)}`,
        `recon ${fmt(logs['reconstruction'], 2)}`,
        `kl ${fmt(logs['kl'], 2)}`,
        logs['gamma'] === undefined ? null : `gamma ${fmt(logs['gamma'])}`,
        logs['activeDims'] === undefined ? null : `active ${logs['activeDims']}`,
        logs['reconMse'] === undefined ? null : `mse ${fmt(logs['reconMse'])}`,
        `lr ${fmt(logs['lr'])}`,
        `${fmt(logs['seconds'], 1)} s`,
      ].filter((p): p is string => p !== null);
      out.write(`${parts.join('  ')}\x1b[K\n`);
    },
    onCheckpoint() {},
  };
}

/** JSON lines (one object per epoch and per checkpoint) for pipes and log files. */
export function jsonProgress(out: OutputStream): TrainingCallback {
  return {
    onTrainBegin(info) {
      out.write(`${JSON.stringify({ event: 'stage-begin', ...info })}\n`);
    },
    onEpochEnd(epoch, logs, info) {
      out.write(`${JSON.stringify({ event: 'epoch', stage: info.stage, epoch: epoch + 1, ...logs })}\n`);
    },
    onCheckpoint(path, info) {
      out.write(
        `${JSON.stringify({ event: 'checkpoint', stage: info.stage, epoch: info.epoch + 1, path })}\n`,
      );
    },
  };
}
