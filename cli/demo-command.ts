/** The `demo` command's declaration; its work (cli/demo.ts) loads only when it runs. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { defaultStrategy } from './commands.js';
import type { DemoOptions } from './demo.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the whole loop on the built-in weak-to-strong problem with the embedded stack.',
    )
    .option('--trials <n>', 'search trials', (v) => Number(v), 30)
    .addOption(
      new Option(
        '--strategy <name>',
        'claude, optuna or random: claude when ANTHROPIC_API_KEY is set, else optuna',
      ).default(defaultStrategy()),
    )
    .option('--seed <n>', 'base seed', (v) => Number(v))
    .option(
      '--patience <n>',
      'stop after this many trials in a row without a better best; unset, as the criteria file says',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1)
          throw new InvalidArgumentError('It takes a whole number of trials, 1 or more.');
        return n;
      },
    )
    .option('--port <port>', 'API/UI port: 8700, or a free one when 8700 is taken', (v) =>
      Number(v),
    )
    .addOption(
      new Option('--exit', 'exit after the report instead of keeping the UI up').default(
        !process.stdout.isTTY,
        'on when not on a terminal',
      ),
    )
    .option('--no-exit', 'keep the UI up after the report even when not on a terminal')
    .action(
      async (o: {
        trials: number;
        strategy?: DemoOptions['strategy'];
        seed?: number;
        patience?: number;
        port?: number;
        exit?: boolean;
      }) => {
        // Loaded on use: the demo brings the whole stack, worker and server with it.
        const { runDemo } = await import('./demo.js');
        await runDemo({
          trials: o.trials,
          exit: o.exit ?? !process.stdout.isTTY,
          ...(o.strategy ? { strategy: o.strategy } : {}),
          ...(o.seed !== undefined ? { seed: o.seed } : {}),
          ...(o.patience !== undefined ? { patience: o.patience } : {}),
          ...(o.port !== undefined ? { port: o.port } : {}),
        });
        process.exit(0);
      },
    );
}
