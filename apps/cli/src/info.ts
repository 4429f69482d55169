/** `tsvae info`: the backend and why, threads, versions, registered plugins. */
import { availableParallelism } from 'node:os';
import { describeBackend } from '@tsvae/backend';
import { getRegistry, PLUGIN_KINDS } from '@tsvae/core';
import type { Command } from 'commander';
import {
  backendOption,
  type CliIO,
  loadPluginModules,
  packageVersions,
  pluginsOption,
  setupBackend,
} from './common';
import { MODELS } from './models';
import { backendSuggestion } from './setup';

interface InfoOpts {
  backend?: string;
  json?: boolean;
  plugins?: string[];
  verbose?: boolean;
}

async function runInfo(o: InfoOpts, io: CliIO): Promise<number> {
  await loadPluginModules(o.plugins, io.cwd ?? process.cwd());
  const info = await setupBackend(o.backend, io, o.verbose ?? false);
  const reg = getRegistry();
  const plugins = Object.fromEntries(PLUGIN_KINDS.map((k) => [k, reg.list(k)]));
  const versions = packageVersions();
  const models = MODELS.map((m) => ({ name: m.name, table1: m.table1, trainer: m.trainer }));
  const suggestion = backendSuggestion(info);
  const report = {
    backend: info,
    summary: describeBackend(info),
    ...(suggestion ? { suggestion } : {}),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: availableParallelism(),
    versions,
    models,
    plugins,
  };
  if (o.json || !io.stdout.isTTY) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const lines = [
    `backend:  ${describeBackend(info)}`,
    `          requested ${info.requested} (from ${info.requestSource})`,
    ...info.rejected.map((r) => `          not ${r.backend} (${r.module}): ${r.reason}`),
    ...info.notes.map((n) => `          note: ${n}`),
    ...(suggestion ? [`          ${suggestion}`] : []),
    `threads:  ${info.threads} (of ${availableParallelism()} CPUs)`,
    `node:     ${process.version} ${process.platform}-${process.arch}`,
    'versions:',
    ...Object.entries(versions).map(([k, v]) => `  ${k} ${v}`),
    'models (tsvae train --model):',
    ...models.map((m) => `  ${m.name.padEnd(18)} ${m.table1} (${m.trainer})`),
    'plugins:',
    ...Object.entries(plugins).map(([k, v]) => `  ${k}: ${v.length ? v.join(', ') : '(none)'}`),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Adds `info` to the program. */
export function addInfoCommand(program: Command, io: CliIO, result: { code: number }): void {
  program
    .command('info')
    .description('Show the backend and why it was chosen, threads, versions and registered plugins.')
    .addOption(backendOption())
    .addOption(pluginsOption())
    .option('--json', 'one JSON object')
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (o: InfoOpts) => {
      result.code = await runInfo(o, io);
    });
}
