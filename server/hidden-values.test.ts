import { describe, expect, it } from 'vitest';
import { ValueMatcher } from './hidden-match.js';
import { HiddenValueBook, problemRedactor, redactProblem } from './hidden-values.js';

const H = 'heldout_acc';

/** A trial record as the book reads it (the fields it uses). */
function record(
  id: string,
  kind: string,
  metrics: Record<string, number>,
): Record<string, unknown> {
  return { id, kind, metrics, hiddenMetrics: [H], mlflowRunId: `run-${id}`, status: 'succeeded' };
}

/**
 * A problem with one finished campaign read from MLflow: a baseline reference (score 0.70,
 * held-out 0.6512) and one search trial (score 0.88, held-out 0.7043), optimum 0.915.
 */
function fixture() {
  const calls = { artifacts: 0, reads: 0, problems: 0 };
  const records = [
    record('ref', 'reference', { score: 0.7, [H]: 0.6512 }),
    record('t1', 'search', { score: 0.88, [H]: 0.7043 }),
  ];
  const seeds: Record<string, number[]> = { ref: [0.6498, 0.6526], t1: [0.7011, 0.7075] };
  const campaigns = [{ campaignId: 'c1', criteriaVersion: 1 }];
  const cached = {
    location: { campaignId: 'c1', problemId: 'p' },
    parent: { data: { tags: { 'gaplab.criteriaVersion': '1' } } },
    finished: true,
    records,
    byId: new Map(records.map((r) => [r.id, r])),
    nodes: [],
  };
  const ctx = {
    service: {
      getProblem: async () => {
        calls.problems++;
        return {
          campaigns,
          criteria: [
            {
              version: 1,
              criteria: { metric: 'score', hiddenMetrics: [H], hiddenMetricsVisibility: undefined },
            },
          ],
        };
      },
    },
    live: { has: () => false },
    lineage: {
      cached: (id: string) => {
        calls.reads++;
        return id === 'c1' ? cached : null;
      },
      report: async () => ({
        baselineScore: 0.7,
        optimumScore: 0.915,
        verifiedPgr: 0.6124,
        verification: [
          {
            hiddenPgr: { [H]: { mean: 0.2468, stderr: 0.01, n: 5, ciLow: 0.2135, ciHigh: 0.2801 } },
          },
        ],
        verdict: { hiddenPgr: {} },
      }),
      trialArtifact: async (runId: string) => {
        calls.artifacts++;
        const id = runId.replace('run-', '');
        return {
          summary: { metrics: {} },
          seeds: (seeds[id] ?? []).map((v, i) => ({ seed: i, metrics: { score: 0.7, [H]: v } })),
        };
      },
    },
  };
  return { ctx, calls, records, seeds };
}

const hits = (matchers: readonly ValueMatcher[], text: string) =>
  ValueMatcher.scrub(text, matchers, '#');

describe('HiddenValueBook', () => {
  it('knows every seed, mean and derived hidden value of the problem, in any format', async () => {
    const { ctx } = fixture();
    const book = new HiddenValueBook(ctx as never);
    const m = await book.matchers('p');
    const gap = 0.915 - 0.7;
    const derived = {
      // (held-out mean - baseline) / gap
      hiddenPgr: (0.7043 - 0.7) / gap,
      // (visible - hidden - (baseline visible - baseline hidden)) / gap, as the hidden_gap flag says it
      shortfall: (0.88 - 0.7043 - (0.7 - 0.6512)) / gap,
    };
    expect(
      hits(
        m,
        [
          'seed 0.6498',
          'seed 70.75%',
          'mean 7.043e-01',
          `hidden PGR ${derived.hiddenPgr.toFixed(3)}`,
          `shortfall ${Number(derived.shortfall.toPrecision(4))}`,
          'verification 0.2468 [0.2135, 0.2801]',
          'verified 0.6124',
        ].join('; '),
      ),
    ).toBe('seed #; seed #; mean #; hidden PGR #; shortfall #; verification # [#, #]; verified #');
    // Visible numbers of the same campaign that no hidden value rounds to stay.
    expect(hits(m, 'score 0.88, optimum 0.915, seeds 5')).toBe(
      'score 0.88, optimum 0.915, seeds 5',
    );
  });

  it('reads a finished campaign once, and each recorded trial once', async () => {
    const { ctx, calls } = fixture();
    let now = 0;
    const book = new HiddenValueBook(ctx as never, { refreshMs: 10, now: () => now });
    const first = await book.matchers('p');
    expect(calls.artifacts).toBe(2);
    expect(calls.reads).toBe(1);
    now += 5;
    expect(await book.matchers('p')).toBe(first); // within refreshMs: no read at all
    expect(calls.problems).toBe(1);
    now += 20;
    // Complete: the campaign is not read again; the matchers stay the same object.
    expect(await book.matchers('p')).toBe(first);
    expect(calls.problems).toBe(2);
    expect(calls.reads).toBe(1);
    expect(calls.artifacts).toBe(2);
  });

  it('learns the trials a running campaign adds, reading only theirs', async () => {
    const { ctx, calls, records, seeds } = fixture();
    let now = 0;
    const running = ctx.lineage.cached('c1') as { finished: boolean; byId: Map<string, unknown> };
    running.finished = false;
    const book = new HiddenValueBook(ctx as never, { refreshMs: 10, now: () => now });
    expect(hits(await book.matchers('p'), '0.8123')).toBe('0.8123');
    records.push(record('t2', 'search', { score: 0.9, [H]: 0.8123 }));
    seeds.t2 = [0.8101, 0.8145];
    now += 20;
    const m = await book.matchers('p');
    expect(hits(m, '0.8123 0.8145 0.6498')).toBe('# # #');
    // Two artifacts first, then only the new trial's.
    expect(calls.artifacts).toBe(3);
  });

  it('fails closed when the problem cannot be read', async () => {
    const { ctx } = fixture();
    ctx.service.getProblem = async () => {
      throw new Error('no worker');
    };
    await expect(new HiddenValueBook(ctx as never).matchers('p')).rejects.toThrow(
      /cannot be listed now/,
    );
  });

  it('does not hold reads up on a slow refresh when it has recent values, and fails closed without', async () => {
    const { ctx } = fixture();
    let now = 0;
    const opts = { refreshMs: 10, waitMs: 20, staleMs: 1_000, timeoutMs: 50, now: () => now };
    const book = new HiddenValueBook(ctx as never, opts);
    const first = await book.matchers('p');
    const answer = ctx.service.getProblem;
    ctx.service.getProblem = () => new Promise(() => {}); // no worker answers
    now += 100;
    expect(await book.matchers('p')).toBe(first);
    // Too old to go on with: the read fails rather than guess.
    now += 2_000;
    await expect(book.matchers('p')).rejects.toThrow(/cannot be withheld yet/);
    // A fresh book has nothing to go on with.
    await expect(new HiddenValueBook(ctx as never, opts).matchers('p')).rejects.toThrow(
      /cannot be withheld yet/,
    );
    ctx.service.getProblem = answer;
  });

  it("redacts a problem's own text while one of its campaigns runs, and asks no more once it has closed", async () => {
    const { ctx } = fixture();
    let running = true;
    let describes = 0;
    const withRunning = {
      ...ctx,
      service: {
        ...ctx.service,
        isRunning: async () => {
          describes++;
          return running;
        },
      },
    };
    const problem = {
      spec: { id: 'p', title: 'bowl', question: 'where is 0.6512?' },
      campaigns: [{ campaignId: 'c1', criteriaVersion: 1, label: 'after 65.12%' }],
      criteria: [
        {
          version: 1,
          criteria: { metric: 'score', hiddenMetrics: [H], hiddenOptima: { [H]: 0.922 } },
          reason: 'held-out 0.7043',
        },
      ],
      audit: [{ at: '2026-01-01T00:00:00Z', action: 'set criteria', detail: 'was 7.043e-01' }],
    };
    const r = await problemRedactor(withRunning as never, 'viewer', problem as never);
    expect(r).not.toBeNull();
    const shown = redactProblem(r!, problem as never) as unknown as typeof problem;
    expect(shown.spec.question).toBe('where is hidden?');
    expect(shown.campaigns[0]!.label).toBe('after hidden');
    expect(shown.criteria[0]!.reason).toBe('held-out hidden');
    // The stated ceiling of a hidden metric goes with it; the rest of the criteria stay.
    expect(shown.criteria[0]!.criteria).toEqual({ metric: 'score', hiddenMetrics: [H] });
    expect(shown.audit[0]!.detail).toBe('was hidden');
    expect(shown.audit[0]!.at).toBe(problem.audit[0]!.at);
    expect(await problemRedactor(withRunning as never, 'pi', problem as never)).toBeNull();

    running = false;
    const closedCtx = { ...withRunning, service: { ...withRunning.service } };
    expect(await problemRedactor(closedCtx as never, 'viewer', problem as never)).toBeNull();
    const asked = describes;
    expect(await problemRedactor(closedCtx as never, 'viewer', problem as never)).toBeNull();
    expect(describes).toBe(asked);
  });

  it('tries a missing trial.json of a finished campaign three times, with pauses, then no more', async () => {
    const { ctx } = fixture();
    let t1Reads = 0;
    const read = ctx.lineage.trialArtifact;
    ctx.lineage.trialArtifact = async (runId: string) => {
      if (runId !== 'run-t1') return read(runId);
      t1Reads++;
      return { summary: null, seeds: [] } as never;
    };
    let now = 0;
    const book = new HiddenValueBook(ctx as never, { refreshMs: 10, now: () => now });
    const readsAt = async (t: number) => {
      now = t;
      await book.matchers('p');
      return t1Reads;
    };
    expect(await readsAt(0)).toBe(1);
    expect(await readsAt(1_000)).toBe(1); // paused for 2 s
    expect(await readsAt(2_500)).toBe(2);
    expect(await readsAt(5_000)).toBe(2); // then 4 s
    expect(await readsAt(7_000)).toBe(3);
    expect(await readsAt(100_000)).toBe(3); // given up: the record no longer changes
  });
});
