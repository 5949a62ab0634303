/** The gaplab command tree, without running it (cli/main.ts parses the command line with it). */
import { Command } from 'commander';
import { registerApiCommands } from './commands.js';
import { registerDemoCommand } from './demo-command.js';
import { registerInitCommand } from './init.js';
import { registerRunCommands } from './run.js';
import { registerStackCommands } from './stack.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('gaplab')
    .description('Research campaigns that report the performance gap recovered (PGR).')
    .showHelpAfterError();
  registerStackCommands(program);
  registerRunCommands(program);
  registerApiCommands(program);
  registerInitCommand(program);
  registerDemoCommand(program);
  return program;
}
