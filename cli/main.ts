/** The gaplab command line: one entry point for people and scripts. */
import { Command } from 'commander';
import { registerApiCommands } from './commands.js';
import { registerDemoCommand } from './demo-command.js';
import { registerInitCommand } from './init.js';
import { registerRunCommands } from './run.js';
import { registerStackCommands } from './stack.js';

// Output piped into a command that stops reading (`gaplab list | head`) ends the command quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const program = new Command()
  .name('gaplab')
  .description('Research campaigns that report the performance gap recovered (PGR).')
  .showHelpAfterError();

registerStackCommands(program);
registerRunCommands(program);
registerApiCommands(program);
registerInitCommand(program);
registerDemoCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`gaplab: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
