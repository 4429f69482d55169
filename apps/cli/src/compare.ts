/**
 * `tsvae compare`: the comparison app of `@tsvae/compare` (`tsvae-compare`: studies of models x
 * seeds on one protocol, results.json and a report), run in this process with the same code. The
 * app is loaded when the command runs: `@tsvae/compare` builds on this package's public API, so
 * this package does not depend on it.
 */
import type { Command } from 'commander';
import { CliError, type CliIO } from './common';

/** What `@tsvae/compare` exports that this command calls. */
interface CompareModule {
  main(argv: readonly string[], io: CliIO): Promise<number>;
}

/** The package of the comparison app (a variable, so that bundlers leave the import to run time). */
const COMPARE_PACKAGE: string = '@tsvae/compare';

/** Runs `tsvae-compare` with `argv` (after `compare`) in this process; resolves to its exit code. */
export async function runCompare(argv: readonly string[], io: CliIO): Promise<number> {
  let mod: CompareModule;
  try {
    mod = (await import(COMPARE_PACKAGE)) as CompareModule;
  } catch (e) {
    throw new CliError(
      `tsvae compare needs the ${COMPARE_PACKAGE} package (npm install ${COMPARE_PACKAGE}): ${e instanceof Error ? e.message : String(e)}`,
      1,
      { cause: e },
    );
  }
  return mod.main(argv, io);
}

/** Adds `compare` to the program: every argument goes to `tsvae-compare` (its own --help included). */
export function addCompareCommand(program: Command, io: CliIO, result: { code: number }): void {
  program
    .command('compare')
    .description(
      'comparison studies (models x seeds on one protocol, mean ± std, results.json and an HTML report): tsvae-compare; tsvae compare --help',
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'tsvae-compare arguments: run <study> | plan <study> | report <study> ...')
    .action(async (args: string[]) => {
      result.code = await runCompare(args, io);
    });
}
