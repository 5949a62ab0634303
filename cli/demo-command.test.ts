import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerDemoCommand } from './demo-command.js';

/** Parses a demo command line; returns what commander wrote to stderr (nothing runs). */
async function parseError(args: string[]): Promise<string> {
  let err = '';
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeErr: (s) => (err += s), writeOut: () => {} });
  registerDemoCommand(program);
  program.commands.forEach((c) =>
    c.exitOverride().configureOutput({ writeErr: (s) => (err += s), writeOut: () => {} }),
  );
  await expect(program.parseAsync(['node', 'gaplab', 'demo', ...args])).rejects.toThrow();
  return err;
}

describe('demo --patience', () => {
  it.each(['0', '2.5', 'many'])('names the option and what it takes for %s', async (v) => {
    expect(await parseError(['--patience', v])).toBe(
      `error: option '--patience <n>' argument '${v}' is invalid. It takes a whole number of trials, 1 or more.\n`,
    );
  });
});
