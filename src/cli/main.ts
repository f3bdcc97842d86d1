// The `muon` command line: `muon server`, `muon client` and `muon keygen`. Exit codes: 0 done,
// 1 runtime failure, 2 bad configuration or usage. Errors are one line each, without stacks.

import { Command, CommanderError } from 'commander';
import { muonVersion } from '../version.ts';
import { registerClientCommand } from './client-command.ts';
import { registerKeygenCommand } from './keygen-command.ts';
import { EXIT_OK, EXIT_USAGE, fail } from './lifecycle.ts';
import { registerServerCommand } from './server-command.ts';

export function createProgram(): Command {
  const program = new Command('muon')
    .description(
      'Muon: a self-hosted reverse tunnel. Expose services inside a private network through a public server.',
    )
    .version(muonVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand(false)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`muon: ${text.replace(/^error: /, '')}`) });
  // Subcommands are created with program.command(), so they inherit exitOverride and output.
  registerServerCommand(program);
  registerClientCommand(program);
  registerKeygenCommand(program);
  return program;
}

async function main(argv: readonly string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (error) {
    // Commander has already printed its own message (or the help).
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
    fail(error);
  }
}

await main(process.argv);
