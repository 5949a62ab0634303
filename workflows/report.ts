/** The campaign report as markdown. Pure: used by the workflow's recorder, the CLI and the API. */
import type { CampaignReport } from './types.js';
import type { FailureSummary } from '../domain/failures.js';

const f = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
const ci = (e: { ciLow: number; ciHigh: number } | null | undefined) =>
  e && Math.abs(e.ciLow) < 1e100 && Math.abs(e.ciHigh) < 1e100
    ? `[${f(e.ciLow)}, ${f(e.ciHigh)}]`
    : '—';

export function renderReportMarkdown(r: CampaignReport): string {
  const lines: string[] = [];
  lines.push(`# Campaign ${r.campaignId}`, '');
  lines.push(`**Problem:** ${r.problem.title} (\`${r.problem.id}\`)  `);
  lines.push(`**Question:** ${r.problem.question}  `);
  lines.push(
    `**Strategy:** ${r.strategy.name} · **criteria version:** ${r.criteriaVersion} · **stop reason:** ${r.stopReason}  `,
  );
  lines.push(`**Started:** ${r.startedAt} · **finished:** ${r.finishedAt}`, '');
  lines.push('## Result', '');
  lines.push('| | value |', '|---|---|');
  lines.push(`| baseline score | ${f(r.baselineScore, 4)} |`);
  lines.push(`| optimum score | ${f(r.optimumScore, 4)} |`);
  lines.push(`| target PGR | ${f(r.targetPgr)} |`);
  lines.push(`| best PGR (mean, CI) | ${f(r.best?.pgr?.mean)} ${ci(r.best?.pgr)} |`);
  lines.push(`| verified PGR | ${f(r.verifiedPgr)} |`);
  lines.push(
    `| trials | ${r.trials.total} (${r.trials.succeeded} ok, ${r.trials.failed} failed, ${r.trials.cancelled} cancelled, ${r.trials.flagged} flagged) |`,
  );
  lines.push(`| compute | ${f(r.ledger.computeSeconds, 1)} s |`);
  lines.push(`| LLM spend | $${f(r.ledger.dollars, 4)} |`, '');
  if (r.best) {
    lines.push('## Best trial', '');
    lines.push(
      `**${r.best.id}: ${r.best.title}** by ${r.best.author.kind} ${r.best.author.name}`,
      '',
    );
    lines.push('```json', JSON.stringify(r.best.params, null, 2), '```', '');
    lines.push('Lineage from the baseline:', '');
    for (const step of r.best.lineage)
      lines.push(`1. ${step.id}: ${step.title} (PGR ${f(step.pgr)})`);
    lines.push('');
  }
  if (r.verification.length > 0) {
    lines.push('## Verification on fresh seeds and hidden metrics', '');
    const hidden = [...new Set(r.verification.flatMap((v) => Object.keys(v.hiddenPgr)))];
    lines.push(
      `| trial | visible PGR | fresh-seed PGR | ${hidden.map((h) => `${h} PGR`).join(' | ')}${hidden.length ? ' | ' : ''}flag |`,
    );
    lines.push(`|---|---|---|${hidden.map(() => '---|').join('')}---|`);
    for (const v of r.verification) {
      lines.push(
        `| ${v.trialId} | ${f(v.visiblePgr?.mean)} | ${f(v.freshPgr?.mean)} | ${hidden.map((h) => f(v.hiddenPgr[h]?.mean)).join(' | ')}${hidden.length ? ' | ' : ''}${v.gapFlag ? 'gap' : ''} |`,
      );
    }
    lines.push('');
  }
  if (r.failures) lines.push(...renderFailures(r.failures));
  if (r.notebook.length > 0) {
    lines.push('## Notebook', '');
    for (const n of r.notebook.slice(-30))
      lines.push(`- *${n.kind}* (${n.author}): ${n.text.replace(/\n/g, ' ')}`);
    lines.push('');
  }
  if (r.proposals) lines.push(...renderProposals(r.proposals));
  if (r.dropped.length > 0) {
    lines.push(`## Dropped proposals (${r.dropped.length})`, '');
    for (const d of r.dropped.slice(-20)) lines.push(`- ${d.title}: ${d.reason}`);
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
        `| ${g.kind} | ${g.trials} | ${f(g.computeSeconds, 1)} | ${cell(ranges, 500)} | ${cell(g.reason)} |`,
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
