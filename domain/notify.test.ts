import { describe, expect, it } from 'vitest';
import type { CampaignReport } from './campaign.js';
import {
  endedMessage,
  needsPersonMessage,
  sendsEvent,
  slackEscape,
  webhookOrigin,
  webhookUrlProblem,
  WebhookSettings,
  type WaitingItem,
} from './notify.js';
import { reportVerdict } from './report.js';

const est = (mean: number) => ({
  mean,
  stderr: 0.01,
  n: 3,
  ciLow: mean - 0.04,
  ciHigh: mean + 0.04,
});

/** A finished campaign whose best failed verification on a hidden metric (0.0512) and fresh seeds (0.1234). */
function report(): CampaignReport {
  const v = {
    trialId: 't0007',
    title: 'lr 0.3, the secret idea',
    visiblePgr: est(0.95),
    freshPgr: est(0.1234),
    hiddenPgr: { heldout: est(0.0512) },
    verificationTrialId: 'v1',
    gapFlag: true,
    verdict: 'failed_verification' as const,
  };
  return {
    campaignId: 'quad-random-1',
    problem: { id: 'quad', title: 'Quad', question: 'Q?' },
    criteriaVersion: 1,
    strategy: { name: 'random', settings: {} },
    stopReason: 'stopped_by_pi',
    stopDetail: 'stopped by Pat PI: heldout looks off at 0.0512',
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
    targetPgr: 0.8,
    trials: { total: 3, succeeded: 2, failed: 1, cancelled: 0, flagged: 1 },
    best: {
      id: 't0007',
      title: 'lr 0.3, the secret idea',
      params: { lr: 0.3 },
      pgr: est(0.95),
      objective: est(0.95),
      author: { kind: 'strategy', name: 'random' },
      lineage: [],
    },
    pgrOverTrials: [],
    verification: [v],
    verdict: reportVerdict({ id: 't0007', pgr: est(0.95) }, v),
    verifiedPgr: null,
    notebook: [],
    dropped: [],
  };
}

const ctx = (piOnly: boolean) => ({
  campaignId: 'quad-random-1',
  problemId: 'quad',
  campaignUrl: 'http://127.0.0.1:8700/campaigns/quad-random-1',
  piOnly,
});

const waiting: WaitingItem[] = [
  {
    kind: 'approval',
    hypothesisId: 'h0003',
    title: 'try lr 0.0512',
    deadlineMs: Date.UTC(2026, 11, 7, 9, 30),
  },
  {
    kind: 'review',
    trialId: 't0004',
    title: 'lr 0.9',
    flags: [{ kind: 'hidden_gap', message: 'heldout 0.0512 is below the visible 0.95' }],
  },
  { kind: 'paused', by: 'Pat PI', reason: 'check heldout 0.0512 first' },
];

/** Every string the message carries, blocks included. */
const all = (m: object) => JSON.stringify(m);

describe('webhook URLs', () => {
  it('take https anywhere and http only to this machine unless allowed', () => {
    expect(webhookUrlProblem('https://hooks.slack.com/services/T0/B0/secret', false)).toBeNull();
    expect(webhookUrlProblem('http://127.0.0.1:9999/hook', false)).toBeNull();
    expect(webhookUrlProblem('http://localhost/hook', false)).toBeNull();
    expect(webhookUrlProblem('http://[::1]:80/hook', false)).toBeNull();
    expect(webhookUrlProblem('http://chat.example.org/hook', false)).toBe(
      'http is allowed only to localhost or 127.0.0.1 (got chat.example.org): use https, or start the server with GAPLAB_WEBHOOK_ALLOW_HTTP=1',
    );
    expect(webhookUrlProblem('http://chat.example.org/hook', true)).toBeNull();
    expect(webhookUrlProblem('ftp://example.org/x', true)).toBe('only https (or http) URLs');
    expect(webhookUrlProblem('https://me:pw@example.org/x', false)).toMatch(
      /^no user name or password/,
    );
  });

  it('are shown by their origin only (the path of a Slack webhook is its secret)', () => {
    expect(webhookOrigin('https://hooks.slack.com/services/T0/B0/secret')).toBe(
      'https://hooks.slack.com',
    );
  });

  it('settings refuse unknown keys and events, and name the field', () => {
    const bad = WebhookSettings.safeParse({ url: 'https://x.org', evnts: ['ended'] });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['evnts'] });
    const event = WebhookSettings.safeParse({ url: 'https://x.org', events: ['done'] });
    expect(event.error?.issues[0]?.path).toEqual(['events', 0]);
    const url = WebhookSettings.safeParse({ url: 'hooks.slack.com' });
    expect(url.error?.issues[0]?.path).toEqual(['url']);
    expect(sendsEvent({}, 'needs_person')).toBe(true);
    expect(sendsEvent({ events: ['ended'] }, 'needs_person')).toBe(false);
  });
});

describe('the message when a campaign ended', () => {
  it('says why, the best visible PGR, the verdict and where to look, in Slack format', () => {
    const m = endedMessage(ctx(false), report());
    expect(m.text).toBe(
      'Campaign quad-random-1 ended: stopped by the PI. Verdict: failed verification. Best t0007, PGR 0.950 [0.910, 0.990]. <http://127.0.0.1:8700/campaigns/quad-random-1|Open the campaign>',
    );
    expect(m.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
    const section = m.blocks[1]!;
    expect(section.type === 'section' && section.text.text).toContain(
      '*Trials:* 3 (2 ok, 1 failed, 0 cancelled, 1 flagged)',
    );
  });

  it('carries no hidden value, no PI reason and no title unless the webhook is PI-only', () => {
    const viewer = all(endedMessage(ctx(false), report()));
    for (const secret of ['0.0512', '0.123', 'heldout', 'secret idea', 'looks off', 'fresh-seed'])
      expect(viewer).not.toContain(secret);
    const pi = all(endedMessage(ctx(true), report()));
    expect(pi).toContain('hidden heldout PGR 0.051');
    expect(pi).toContain('fresh-seed PGR 0.123');
    expect(pi).toContain('heldout looks off at 0.0512');
  });
});

describe('the message when a campaign needs a person', () => {
  it('lists what waits by id and flag kind, with counts and the link', () => {
    const m = needsPersonMessage(ctx(false), waiting);
    expect(m.text).toBe(
      'Campaign quad-random-1 needs a person: 1 hypothesis waits for approval; 1 trial is held for review; paused, waiting for a resume <http://127.0.0.1:8700/campaigns/quad-random-1|Open the campaign>',
    );
    const body = all(m);
    expect(body).toContain(
      "hypothesis `h0003` waits for a PI's decision (until 2026-12-07 09:30 UTC)",
    );
    expect(body).toContain('trial `t0004` is held for review (hidden_gap)');
    expect(body).toContain('the campaign is paused by Pat PI and waits for a resume');
  });

  it('keeps titles, flag messages and reasons for a PI-only webhook', () => {
    const viewer = all(needsPersonMessage(ctx(false), waiting));
    for (const secret of ['0.0512', 'try lr', 'check heldout'])
      expect(viewer).not.toContain(secret);
    const pi = all(needsPersonMessage(ctx(true), waiting));
    expect(pi).toContain('heldout 0.0512 is below the visible 0.95');
    expect(pi).toContain('check heldout 0.0512 first');
    expect(pi).toContain('try lr 0.0512');
  });

  it('lists at most ten items and escapes what Slack would read as markup', () => {
    const many: WaitingItem[] = Array.from({ length: 13 }, (_, i) => ({
      kind: 'review',
      trialId: `t${i}<!channel>`,
      title: '',
      flags: [],
    }));
    const body = all(needsPersonMessage(ctx(false), many));
    expect(body).toContain('and 3 more');
    expect(body).not.toContain('<!channel>');
    expect(body).toContain('&lt;!channel&gt;');
    expect(slackEscape('a & <b>')).toBe('a &amp; &lt;b&gt;');
  });
});
