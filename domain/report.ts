/**
 * The campaign report as markdown, and the report's one verdict. Pure: used by the workflow (the
 * verdict), its recorder, the CLI, the demo and the API.
 */
import type { CampaignReport, ReportVerdict, VerificationResult } from './campaign.js';
import type { FailureSummary } from './failures.js';
import { formatEstimate, formatExact, formatInterval, formatMean } from './format.js';
import type { Estimate, Trial } from './schemas.js';
import { verdictLabel, verdictLegend } from './verdict.js';

const f = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
/** `0.95 [0.91, 0.99]`, or `0.95 [unbounded]` for a single seed, or `—` (domain/format.ts). */
export const withInterval = (e: Estimate | null | undefined): string => formatEstimate(e);

/**
 * The verdict on the reported best: its own verification (never another trial's), each PGR with
 * its interval, the checks (held up, real improvement, met the target) and its words.
 * `not_verified` when there is no best or it was never verified; `unverifiedBecause` then says
 * why, in the reasons (a PI's stop, say).
 */
export function reportVerdict(
  best: Pick<Trial, 'id' | 'pgr'> | null,
  v: VerificationResult | undefined,
  unverifiedBecause?: string,
): ReportVerdict {
  const verdict =
    !best || !v ? 'not_verified' : (v.verdict ?? (v.gapFlag ? 'failed_verification' : 'verified'));
  const checks = best && v ? (v.checks ?? null) : null;
  const label = verdictLabel({ verdict, checks });
  const hiddenPgr = v?.hiddenPgr ?? {};
  const parts = [
    `visible PGR ${withInterval(best?.pgr)}`,
    `fresh-seed PGR ${withInterval(v?.freshPgr)}`,
    ...Object.entries(hiddenPgr).map(([h, e]) => `hidden ${h} PGR ${withInterval(e)}`),
  ];
  const who = best ? `best ${best.id}` : 'no eligible trial';
  return {
    trialId: best?.id ?? null,
    verdict,
    checks,
    label: label.text,
    meaning: label.meaning,
    visiblePgr: best?.pgr ?? null,
    freshPgr: v?.freshPgr ?? null,
    hiddenPgr,
    reasons: [
      ...(best && v ? (v.reasons ?? []) : []),
      ...(best && !v && unverifiedBecause ? [unverifiedBecause] : []),
      ...label.notes,
    ],
    headline: `${who}: ${parts.join(' · ')} — ${label.text}`,
  };
}

/** The verdict of a report, also for reports written before it was stored. */
export function verdictOfReport(r: CampaignReport): ReportVerdict {
  if (r.verdict) return r.verdict;
  const v = r.best ? r.verification.find((x) => x.trialId === r.best!.id) : undefined;
  return reportVerdict(r.best, v);
}

/**
 * People's and agents' text in markdown: one line, and the characters that make structure or
 * emphasis escaped (headings, tables, links, HTML, code, emphasis), so a title with newlines or
 * `#` headings cannot forge sections of the report. Every escaped text sits mid-line after a
 * prefix, so line-start syntax (lists, `1.`) cannot arise.
 */
export function escapeMarkdown(text: string, max = 2000): string {
  const oneLine = text.replace(/[\r\n\u2028\u2029]+/g, ' ').slice(0, max);
  return oneLine.replace(/[\\`*_[\]<>#|~&]/g, (c) => `\\${c}`);
}

/** The verdict in one plain line (CLI, demo): `Verdict: verified. best t0012: visible PGR ...`. */
export function verdictLine(r: CampaignReport): string {
  const v = verdictOfReport(r);
  const label = verdictLabel(v);
  return `Verdict: ${label.text}. ${v.headline}. (${label.text}: ${label.meaning})`;
}

/** Held up / real improvement / met the target, in words ("—" where it could not be judged). */
function checkWords(v: ReportVerdict): string[] {
  const c = v.checks;
  if (!c) return [];
  const yn = (x: boolean | null) => (x === null ? 'not judged' : x ? 'yes' : 'no');
  const seeds = c.seeds
    ? `${c.seeds.succeeded} of ${c.seeds.requested} verification seeds succeeded (${c.seeds.failed} failed, ${c.seeds.pruned ? `${c.seeds.pruned} pruned by the cascade, ` : ''}${c.seeds.cancelled} cancelled); seeds ${c.seeds.source === 'secret' ? 'drawn in secret when the verification started' : 'derived from the campaign seed'}`
    : 'no verification seeds ran';
  return [
    `| held up | ${yn(c.heldUp)} |`,
    `| real improvement | ${yn(c.realImprovement)} |`,
    `| met the target${c.targetPgr === null ? '' : ` (${formatExact(c.targetPgr)})`} | ${yn(c.metTarget)} |`,
    `| fresh seeds could test it | ${c.seedInsensitive ? 'no: every fresh seed gave the same result' : 'yes'} |`,
    `| verification seeds | ${seeds} |`,
    '| search seeds | derived from the campaign seed: reproducible with the same seed |',
  ];
}

export function renderReportMarkdown(r: CampaignReport): string {
  const e = escapeMarkdown;
  const verdict = verdictOfReport(r);
  const lines: string[] = [];
  lines.push(`# Campaign ${e(r.campaignId)}`, '');
  // The headline is built from trial ids, numbers and metric names (letters, digits, `_.-`):
  // nothing in it can make markdown structure.
  const label = verdictLabel(verdict);
  lines.push(`**Verdict: ${label.text}.** ${verdict.headline}  `);
  lines.push(`_${e(label.text)}: ${e(label.meaning)}_`, '');
  for (const reason of verdict.reasons) lines.push(`- ${e(reason)}`);
  if (verdict.reasons.length > 0) lines.push('');
  lines.push(`**Problem:** ${e(r.problem.title)} (\`${e(r.problem.id)}\`)  `);
  lines.push(`**Question:** ${e(r.problem.question)}  `);
  lines.push(
    `**Strategy:** ${r.strategy.name} · **criteria version:** ${r.criteriaVersion} · **stop reason:** ${r.stopReason}  `,
  );
  if (r.stopDetail) lines.push(`**Why it stopped:** ${e(r.stopDetail)}  `);
  lines.push(`**Started:** ${r.startedAt} · **finished:** ${r.finishedAt}`, '');
  lines.push('## Result', '');
  lines.push('| | value |', '|---|---|');
  lines.push(`| verdict | ${label.text} |`);
  lines.push(...checkWords(verdict));
  lines.push(`| baseline score | ${f(r.baselineScore, 4)} |`);
  lines.push(`| optimum score | ${f(r.optimumScore, 4)} |`);
  lines.push(`| target PGR | ${formatExact(r.targetPgr)} |`);
  lines.push(`| best PGR (mean, CI) | ${formatMean(r.best?.pgr)} ${formatInterval(r.best?.pgr)} |`);
  lines.push(`| best's fresh-seed PGR | ${withInterval(verdict.freshPgr)} |`);
  for (const [h, est] of Object.entries(verdict.hiddenPgr))
    lines.push(`| best's hidden ${e(h)} PGR | ${withInterval(est)} |`);
  lines.push(
    `| trials | ${r.trials.total} (${r.trials.succeeded} ok, ${r.trials.failed} failed, ${r.trials.cancelled} cancelled, ${r.trials.pruned ? `${r.trials.pruned} pruned by the cascade, ` : ''}${r.trials.flagged} flagged) |`,
  );
  lines.push(`| compute | ${f(r.ledger.computeSeconds, 1)} s |`);
  lines.push(`| LLM spend | $${f(r.ledger.dollars, 4)} |`, '');
  const review = r.underReview ?? [];
  if (review.length > 0) {
    lines.push(`## Under review (${review.length})`, '');
    lines.push('Never best, never the reason for a target stop, until a PI clears the flag.', '');
    for (const t of review)
      lines.push(
        `- ${e(t.trialId)} (${t.trust.replace('_', ' ')}): ${e(t.title, 200)} — ${t.flags.map((x) => `${x.kind}: ${e(x.message, 500)}`).join('; ')}`,
      );
    lines.push('');
  }
  if (r.best) {
    lines.push('## Best trial', '');
    lines.push(
      `**${e(r.best.id)}: ${e(r.best.title)}** by ${r.best.author.kind} ${e(r.best.author.name)}`,
      '',
    );
    // A fenced block cannot be closed early by JSON: stringify escapes nothing that forms ```.
    lines.push(
      '```json',
      JSON.stringify(r.best.params, null, 2).replace(/`/g, '\\u0060'),
      '```',
      '',
    );
    lines.push('Lineage from the baseline:', '');
    for (const step of r.best.lineage)
      lines.push(`1. ${e(step.id)}: ${e(step.title)} (PGR ${f(step.pgr)})`);
    lines.push('');
  }
  if (r.verification.length > 0) {
    lines.push('## Verification on fresh seeds and hidden metrics', '');
    const hidden = [...new Set(r.verification.flatMap((v) => Object.keys(v.hiddenPgr)))];
    lines.push(
      `| trial | visible PGR | fresh-seed PGR | ${hidden.map((h) => `${e(h)} PGR`).join(' | ')}${hidden.length ? ' | ' : ''}verdict |`,
    );
    lines.push(`|---|---|---|${hidden.map(() => '---|').join('')}---|`);
    for (const v of r.verification) {
      const word = verdictLabel({
        verdict: v.verdict ?? (v.gapFlag ? 'failed_verification' : 'verified'),
        checks: v.checks ?? null,
      }).text;
      lines.push(
        `| ${e(v.trialId)} | ${withInterval(v.visiblePgr)} | ${withInterval(v.freshPgr)} | ${hidden.map((h) => withInterval(v.hiddenPgr[h])).join(' | ')}${hidden.length ? ' | ' : ''}${word}${v.trigger === 'target' ? ' (at target)' : ''} |`,
      );
    }
    lines.push('');
  }
  lines.push('## What the verdict words mean', '');
  for (const line of verdictLegend()) lines.push(`- ${e(line)}`);
  lines.push('');
  if (r.failures) lines.push(...renderFailures(r.failures));
  if (r.notebook.length > 0) {
    lines.push('## Notebook', '');
    for (const n of r.notebook.slice(-30))
      lines.push(`- *${n.kind}* (${e(n.author, 128)}): ${e(n.text)}`);
    lines.push('');
  }
  if (r.proposals) lines.push(...renderProposals(r.proposals));
  if (r.dropped.length > 0) {
    lines.push(`## Dropped proposals (${r.dropped.length})`, '');
    for (const d of r.dropped.slice(-20)) lines.push(`- ${e(d.title, 200)}: ${e(d.reason)}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Text from experiments (failure reasons) in a table cell: one line, nothing that makes markup. */
const cell = (text: string, max = 200): string =>
  text
    .replace(/[\r\n\u2028\u2029]+/g, ' ')
    .slice(0, max)
    .replace(/[\\`*_{}[\]()<>#|~&]/g, (c) => `\\${c}`);

/** The report's failure section: what failures cost, and where they repeat. */
export function renderFailures(x: FailureSummary): string[] {
  if (x.failedTrials === 0) return [];
  const share = x.totalComputeSeconds > 0 ? x.computeSeconds / x.totalComputeSeconds : 0;
  const lines = [
    '## Failures',
    '',
    `${x.failedTrials} of ${x.trials} search trials failed (${x.timedOutTrials} timed out); ` +
      `${f(x.computeSeconds, 1)} of ${f(x.totalComputeSeconds, 1)} compute-seconds (${f(100 * share, 1)}%) went to failed trials.`,
    '',
  ];
  if (x.regions.length > 0) {
    lines.push('Regions of repeated failures (parameter ranges of the failed trials in each):', '');
    lines.push('| kind | trials | compute s | parameters | reason |', '|---|---|---|---|---|');
    for (const g of x.regions) {
      const ranges = Object.entries(g.ranges)
        .map(([k, v]) =>
          'values' in v
            ? `${k} in {${v.values.map(String).join(', ')}}`
            : `${k} in [${v.low.toPrecision(3)}, ${v.high.toPrecision(3)}]`,
        )
        .join('; ');
      lines.push(
        `| ${g.kind} | ${g.trials} | ${f(g.computeSeconds, 1)} | ${ranges.replace(/[\r\n]+/g, ' ').replace(/\|/g, '\\|')} | ${cell(g.reason)} |`,
      );
    }
    lines.push('');
  }
  return lines;
}

/** Proposal accounting: what strategies sent and what became of it, with the causes counted. */
function renderProposals(p: NonNullable<CampaignReport['proposals']>): string[] {
  const c = p.counts;
  if (c.sent === 0) return [];
  const causes = Object.entries(c.byCause)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${v} ${k.replace(/_/g, ' ')}`)
    .join(', ');
  return [
    '## Proposals',
    '',
    `${c.sent} sent by the strategy: ${c.run} run, ${c.duplicate} duplicate, ${c.repaired} sent back for repair, ${c.dropped} dropped${c.queued > 0 ? `, ${c.queued} still queued` : ''}.${causes ? ` Causes: ${causes}.` : ''} The most recent ${p.recent.length} with their reasons are in the JSON report and the proposals query.`,
    '',
  ];
}
