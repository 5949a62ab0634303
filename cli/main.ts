/** The gaplab command line: one entry point for people and scripts. */
import { buildProgram } from './program.js';

// Output piped into a command that stops reading (`gaplab list | head`) ends the command quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    console.error(`gaplab: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
