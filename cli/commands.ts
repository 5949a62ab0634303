/** Commands that drive problems and campaigns through the HTTP API. */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import type {
  CampaignListItem,
  CampaignReport,
  CampaignStatus,
  PendingApproval,
} from '../api/schemas.js';
import { loadDocument } from '../domain/parse.js';
import { renderReportMarkdown, verdictLine } from '../domain/report.js';
import { ApiClient, defaultApiUrl, type ApiOptions } from './api.js';
import { listRows, renderList } from './list.js';
import { ProgressPrinter, progressLine } from './progress.js';

/** Reads a YAML or JSON file; a parse error names the file and line. */
export function readDocument(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  // One loader for YAML and JSON: a repeated key is an error naming it, in either.
  return loadDocument(text, file);
}

const client = (cmd: Command) => {
  const o = cmd.optsWithGlobals<{ url?: string; token?: string; as?: ApiOptions['as'] }>();
  return new ApiClient({
    ...(o.url ? { url: o.url } : {}),
    ...(o.token ? { token: o.token } : {}),
    ...(o.as ? { as: o.as } : {}),
  });
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Follows a campaign until it finishes, with a live progress line; returns its report. */
export async function watchCampaign(
  status: () => Promise<CampaignStatus>,
  report: () => Promise<CampaignReport | null>,
  opts: { intervalMs?: number; out?: NodeJS.WriteStream } = {},
): Promise<CampaignReport> {
  const printer = new ProgressPrinter(opts.out);
  for (;;) {
    const s = await status();
    printer.update(progressLine(s));
    if (s.phase === 'finished') {
      printer.done();
      const r = await report();
      if (r) return r;
    }
    await sleep(opts.intervalMs ?? 1000);
  }
}

export function registerApiCommands(program: Command): void {
  program
    .addOption(
      new Option(
        '--url <url>',
        'gaplab API: GAPLAB_URL, else the address a running local server recorded, else http://127.0.0.1:8700',
      ).default(defaultApiUrl()),
    )
    .option(
      '--token <token>',
      "bearer token: GAPLAB_TOKEN, else the dev token of --as's role that a local server saved",
    )
    .option('--as <role>', 'which local dev token to use: pi, researcher or viewer', 'pi');

  program
    .command('submit <spec>')
    .description('Submit a problem spec (YAML or JSON).')
    .action(async (file: string, _o, cmd: Command) => {
      const p = await client(cmd).post<{ spec: { id: string } }>('/problems', readDocument(file));
      console.log(`submitted problem ${p.spec.id}`);
    });

  program
    .command('criteria <problem> <criteria>')
    .description("Set a new version of a problem's evaluation criteria (PI).")
    .option('--reason <text>', 'why the criteria change')
    .action(async (problem: string, file: string, o: { reason?: string }, cmd: Command) => {
      const v = await client(cmd).post<{ version: number }>(
        `/problems/${encodeURIComponent(problem)}/criteria`,
        {
          criteria: readDocument(file),
          ...(o.reason ? { reason: o.reason } : {}),
        },
      );
      console.log(`criteria version ${v.version} set for ${problem}`);
    });

  program
    .command('start <problem>')
    .description('Start a campaign on a problem.')
    .addOption(
      new Option(
        '--strategy <name>',
        'claude, optuna or random: claude when ANTHROPIC_API_KEY is set, else optuna',
      ).default(defaultStrategy()),
    )
    .option('--criteria-version <n>', 'criteria version; without it, the latest', (v) => Number(v))
    .option('--seed <n>', 'base seed', (v) => Number(v))
    .option('--label <text>', 'a label to tell campaigns apart')
    .option('--paused', 'start paused: queue ideas (gaplab propose), then gaplab resume')
    .option(
      '--webhook <url>',
      'POST a Slack-format message here when the campaign needs a person and when it ends (https, or http to localhost)',
    )
    .option(
      '--webhook-pi-only',
      'PIs only: the webhook may get what only PIs see while the campaign runs (titles, reasons, hidden PGRs)',
    )
    .option('--watch', 'follow the campaign until it finishes')
    .action(async (problem: string, o: StartOptions & { watch?: boolean }, cmd: Command) => {
      const api = client(cmd);
      const { campaignId } = await api.post<{ campaignId: string }>(
        '/campaigns',
        startBody(problem, o),
      );
      console.log(`started campaign ${campaignId}${o.paused ? ' (paused)' : ''}`);
      if (o.watch) {
        const r = await watchCampaign(
          () => api.get(`/campaigns/${campaignId}`),
          () => api.get(`/campaigns/${campaignId}/report`),
        );
        console.log(renderReportMarkdown(r));
      }
    });

  program
    .command('list')
    .description('List campaigns.')
    .option('--problem <id>', 'only this problem')
    .action(async (o: { problem?: string }, cmd: Command) => {
      const api = client(cmd);
      const items = await api.get<CampaignListItem[]>(
        `/campaigns${o.problem ? `?problemId=${encodeURIComponent(o.problem)}` : ''}`,
      );
      if (items.length === 0) {
        console.log(o.problem ? `no campaigns of problem ${o.problem}` : 'no campaigns');
        return;
      }
      console.log(renderList(await listRows(items, (path) => api.get(path))));
    });

  program
    .command('status <campaign>')
    .description("Show a campaign's status.")
    .action(async (campaign: string, _o, cmd: Command) => {
      console.log(progressLine(await client(cmd).get<CampaignStatus>(`/campaigns/${campaign}`)));
    });

  program
    .command('watch <campaign>')
    .description('Follow a campaign live: trials done, best PGR, dollars and time left.')
    .action(async (campaign: string, _o, cmd: Command) => {
      const api = client(cmd);
      const r = await watchCampaign(
        () => api.get(`/campaigns/${campaign}`),
        () => api.get(`/campaigns/${campaign}/report`),
      );
      console.log(`finished: ${r.stopReason}. ${verdictLine(r)}`);
      // Scripts can tell a campaign that ended on an error from one that ran its course.
      if (r.stopReason === 'error') process.exitCode = 1;
    });

  program
    .command('approve <campaign> [hypothesis]')
    .description('List hypotheses awaiting approval, or approve (or --reject) one (PI).')
    .option('--reject', 'reject instead of approve')
    .option('--reason <text>', 'why')
    .action(
      async (
        campaign: string,
        hypothesis: string | undefined,
        o: { reject?: boolean; reason?: string },
        cmd: Command,
      ) => {
        const api = client(cmd);
        if (!hypothesis) {
          const pending = await api.get<PendingApproval[]>(`/campaigns/${campaign}/approvals`);
          if (pending.length === 0) console.log('nothing awaits approval');
          for (const p of pending)
            console.log(
              `${p.hypothesis.id}  ${p.hypothesis.title}  ${JSON.stringify(p.hypothesis.changes)}`,
            );
          return;
        }
        await api.post(`/campaigns/${campaign}/approvals/${hypothesis}`, {
          decision: o.reject ? 'reject' : 'approve',
          ...(o.reason ? { reason: o.reason } : {}),
        });
        console.log(`${o.reject ? 'rejected' : 'approved'} ${hypothesis}`);
      },
    );

  program
    .command('propose <campaign>')
    .description(
      "Propose an idea to a running campaign: parameter changes (--set) and, on a code experiment, a patch to the parent trial's source (--patch). The campaign's approval rules apply.",
    )
    .requiredOption('--title <text>', 'a short title')
    .option(
      '--patch <file>',
      "a unified diff (git diff, diff -u) against the parent trial's source",
    )
    .option('--parent <trial>', 'the trial the idea builds on; without it, the baseline')
    .option('--rationale <text>', 'why it should work')
    .option('--expected <text>', 'the effect you expect')
    .option(
      '--set <name=value>',
      'a parameter change (repeatable); numbers and true/false are typed',
      (v: string, all: string[] = []) => [...all, v],
    )
    .action(
      async (
        campaign: string,
        o: {
          title: string;
          patch?: string;
          parent?: string;
          rationale?: string;
          expected?: string;
          set?: string[];
        },
        cmd: Command,
      ) => {
        const r = await client(cmd).post<{ hypothesisId: string }>(
          `/campaigns/${encodeURIComponent(campaign)}/hypotheses`,
          proposalOf(o),
        );
        console.log(`proposed ${r.hypothesisId}: ${o.title}`);
      },
    );

  for (const action of ['pause', 'resume', 'stop'] as const) {
    const c = program
      .command(`${action} <campaign>`)
      .description(
        action === 'stop'
          ? 'Stop a campaign (PI), in any phase. What runs is cancelled, unless --let-running-finish; the final verification of the best is skipped unless --verify.'
          : `${action[0]!.toUpperCase()}${action.slice(1)} a campaign.`,
      )
      .option('--reason <text>', 'why');
    if (action === 'stop')
      c.option(
        '--let-running-finish',
        'let running work (reference measurement, trials, the verification in progress) finish and count; nothing new starts, and the deadline still cuts it short',
      ).option(
        '--verify',
        'after the stop, verify the best on fresh seeds and the hidden metrics before the campaign ends (skipped by default: a stop ends the campaign)',
      );
    c.action(async (campaign: string, o: ControlOptions, cmd: Command) => {
      await client(cmd).post(`/campaigns/${campaign}/${action}`, controlBody(o));
      console.log(
        `${action}: ${campaign}${o.letRunningFinish ? ' (running work finishes first)' : ''}${o.verify ? ' (the best is verified before it ends)' : ''}`,
      );
    });
  }

  program
    .command('report <campaign>')
    .description("Print a finished campaign's report (markdown, or --json).")
    .option('--json', 'print JSON')
    .action(async (campaign: string, o: { json?: boolean }, cmd: Command) => {
      const r = await client(cmd).get<CampaignReport | null>(`/campaigns/${campaign}/report`);
      if (!r)
        throw new Error(
          `campaign ${campaign} has not finished yet; \`gaplab watch ${campaign}\` follows it`,
        );
      console.log(o.json ? JSON.stringify(r, null, 2) : renderReportMarkdown(r));
    });
}

interface ControlOptions {
  reason?: string;
  letRunningFinish?: boolean;
  verify?: boolean;
}

/** The options of `gaplab start` that shape its request. */
interface StartOptions {
  strategy?: string;
  criteriaVersion?: number;
  seed?: number;
  label?: string;
  paused?: boolean;
  webhook?: string;
  webhookPiOnly?: boolean;
}

/** The strategy a campaign runs unless told: claude with ANTHROPIC_API_KEY, else optuna. */
export function defaultStrategy(): 'claude' | 'optuna' {
  return process.env.ANTHROPIC_API_KEY ? 'claude' : 'optuna';
}

/** The API body of `gaplab start`: {@link defaultStrategy} unless one is given. */
export function startBody(problem: string, o: StartOptions) {
  if (o.webhookPiOnly && !o.webhook) throw new Error('--webhook-pi-only needs --webhook <url>');
  const strategy = o.strategy ?? defaultStrategy();
  return {
    problemId: problem,
    strategy: { name: strategy },
    ...(o.criteriaVersion !== undefined ? { criteriaVersion: o.criteriaVersion } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.label ? { label: o.label } : {}),
    ...(o.paused ? { paused: true } : {}),
    ...(o.webhook
      ? { notify: { url: o.webhook, ...(o.webhookPiOnly ? { piOnly: true } : {}) } }
      : {}),
  };
}

/** The API body of `gaplab pause|resume|stop`. */
export function controlBody(o: ControlOptions): {
  reason?: string;
  cancelRunning?: boolean;
  verify?: boolean;
} {
  return {
    ...(o.reason ? { reason: o.reason } : {}),
    ...(o.letRunningFinish ? { cancelRunning: false } : {}),
    ...(o.verify ? { verify: true } : {}),
  };
}

/** The API body of `gaplab propose`: the patch file read whole, `--set` values typed. */
export function proposalOf(o: {
  title: string;
  patch?: string;
  parent?: string;
  rationale?: string;
  expected?: string;
  set?: string[];
}): Record<string, unknown> {
  const changes: Record<string, string | number | boolean> = {};
  for (const kv of o.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--set ${kv}: expected name=value`);
    const raw = kv.slice(eq + 1);
    const n = Number(raw);
    changes[kv.slice(0, eq)] =
      raw === 'true'
        ? true
        : raw === 'false'
          ? false
          : raw.trim() !== '' && Number.isFinite(n)
            ? n
            : raw;
  }
  let diff: string | undefined;
  if (o.patch !== undefined) {
    try {
      diff = fs.readFileSync(o.patch, 'utf8');
    } catch (err) {
      throw new Error(
        `--patch: cannot read ${o.patch}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    if (diff.trim() === '') throw new Error(`--patch: ${o.patch} is empty`);
  }
  return {
    title: o.title,
    changes,
    ...(o.parent ? { parentTrialId: o.parent } : {}),
    ...(o.rationale ? { rationale: o.rationale } : {}),
    ...(o.expected ? { expectedEffect: o.expected } : {}),
    ...(diff !== undefined ? { edits: [{ kind: 'diff', diff }] } : {}),
  };
}
