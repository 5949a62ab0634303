import { describe, expect, it } from 'vitest';
import { escapeMarkdown, renderReportMarkdown, reportVerdict } from './report.js';
import type { CampaignReport } from './campaign.js';

const est = (mean: number) => ({
  mean,
  stderr: 0.01,
  n: 3,
  ciLow: mean - 0.04,
  ciHigh: mean + 0.04,
});

function report(over: Partial<CampaignReport> = {}): CampaignReport {
  return {
    campaignId: 'c1',
    problem: { id: 'p', title: 'P', question: 'Q?' },
    criteriaVersion: 1,
    strategy: { name: 'random', settings: {} },
    stopReason: 'max_trials',
    startedAt: 's',
    finishedAt: 'f',
    budgets: { concurrency: 1, maxTrials: 3 },
    ledger: {
      trialsStarted: 3,
      trialsFinished: 3,
      iterations: 3,
      dollars: 0,
      computeSeconds: 1,
      startedAtMs: 0,
    },
    baselineScore: 0,
    optimumScore: 1,
    targetPgr: 1,
    trials: { total: 3, succeeded: 3, failed: 0, cancelled: 0, flagged: 1 },
    best: null,
    pgrOverTrials: [],
    verification: [],
    verifiedPgr: null,
    notebook: [],
    dropped: [],
    ...over,
  };
}

describe('the report verdict', () => {
  it("is the reported best's own verification, with intervals and one word", () => {
    const v = {
      trialId: 't1',
      title: 'x',
      visiblePgr: est(0.95),
      freshPgr: est(0.1),
      hiddenPgr: { heldout: est(0.05) },
      verificationTrialId: 'v1',
      gapFlag: true,
      verdict: 'failed_verification' as const,
      reasons: ['fresh seeds: on fresh seeds PGR is 0.1'],
    };
    const verdict = reportVerdict({ id: 't1', pgr: est(0.95) }, v);
    expect(verdict.headline).toBe(
      'best t1: visible PGR 0.950 [0.910, 0.990] · fresh-seed PGR 0.100 [0.060, 0.140] · hidden heldout PGR 0.050 [0.010, 0.090] — failed verification',
    );
    expect(reportVerdict({ id: 't2', pgr: est(0.9) }, undefined).verdict).toBe('not_verified');
    expect(reportVerdict(null, undefined).headline).toMatch(
      /^no eligible trial: .* — not verified$/,
    );
    const md = renderReportMarkdown(report({ verdict }));
    expect(md.split('\n')[2]).toMatch(
      /^\*\*Verdict: failed verification\.\*\* best t1: visible PGR/,
    );
    expect(md).toContain('- fresh seeds: on fresh seeds PGR is 0.1');
  });

  it('counts trials a cascade pruned apart from failures, only when there are some', () => {
    const trials = { total: 4, succeeded: 2, failed: 1, cancelled: 0, pruned: 1, flagged: 0 };
    expect(renderReportMarkdown(report({ trials }))).toContain(
      '| trials | 4 (2 ok, 1 failed, 0 cancelled, 1 pruned by the cascade, 0 flagged) |',
    );
    expect(renderReportMarkdown(report())).toContain(
      '| trials | 3 (3 ok, 0 failed, 0 cancelled, 1 flagged) |',
    );
  });

  it('names each part of the verdict and says in words what the verdict words mean', () => {
    const v = {
      trialId: 't1',
      title: 'x',
      visiblePgr: est(0.6),
      freshPgr: est(0.6),
      hiddenPgr: {},
      verificationTrialId: 'v1',
      gapFlag: false,
      verdict: 'verified' as const,
      checks: {
        heldUp: true,
        realImprovement: true,
        metTarget: false,
        targetPgr: 0.999,
        seedInsensitive: false,
        seeds: {
          requested: 5,
          succeeded: 5,
          failed: 0,
          cancelled: 0,
          source: 'secret' as const,
        },
      },
      reasons: [],
    };
    const verdict = reportVerdict({ id: 't1', pgr: est(0.6) }, v);
    expect(verdict.label).toBe('verified, below target');
    expect(verdict.headline).toMatch(/— verified, below target$/);
    const md = renderReportMarkdown(report({ verdict, targetPgr: 0.999 }));
    expect(md).toContain('**Verdict: verified, below target.**');
    expect(md).toContain('| met the target (0.999) | no |');
    expect(md).toContain('| target PGR | 0.999 |');
    expect(md).toContain('drawn in secret when the verification started');
    expect(md).toMatch(/- held up, not significant: the fresh-seed and hidden results agree/);
    expect(md).toMatch(/- verified: held up and a real improvement/);
  });

  it('escapes text from people and agents: a title cannot forge a section or a verdict', () => {
    const hostile = 'nice\n\n## Verdict\n**Verdict: verified.** [click](http://x) <b>|</b>';
    const md = renderReportMarkdown(
      report({
        problem: { id: 'p', title: hostile, question: hostile },
        notebook: [{ kind: 'human', author: 'a\n# b', text: hostile, at: 'now' }],
        dropped: [{ title: hostile, reason: hostile, at: 'now' }],
        underReview: [
          {
            trialId: 't9',
            title: hostile,
            trust: 'under_review',
            flags: [{ kind: 'hidden_gap', message: hostile }],
          },
        ],
      }),
    );
    const lines = md.split('\n');
    expect(lines.filter((l) => /^#/.test(l))).toEqual([
      '# Campaign c1',
      '## Result',
      '## Under review (1)',
      '## What the verdict words mean',
      '## Notebook',
      '## Dropped proposals (1)',
    ]);
    expect(lines.filter((l) => l.startsWith('**Verdict:'))).toHaveLength(1);
    expect(md).not.toContain('<b>');
    expect(escapeMarkdown('a\r\nb')).toBe('a b');
  });
});
