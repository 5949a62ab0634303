import { describe, expect, it, vi } from 'vitest';
import { recordOfSummary, type TrialDetail } from '../api/schemas.js';
import { ServiceError } from './errors.js';
import { ValueMatcher } from './hidden-match.js';
import {
  CRITERIA_LOOKUP_MS,
  CRITERIA_RETRY_MS,
  HIDDEN_MARK,
  HiddenRedactor,
  redactForRole,
  WITHHELD_FLAG_MESSAGE,
  VisibilityResolver,
  withholds,
  type CampaignVisibility,
} from './hidden.js';

const running: CampaignVisibility = {
  hiddenMetrics: ['heldout_acc'],
  visibility: 'pi-until-finished',
  finished: false,
};

const summary = {
  id: 't0003',
  index: 3,
  kind: 'search' as const,
  parentTrialId: null,
  title: 'lower lr',
  rationale: '',
  author: { kind: 'human' as const, name: 'ann' },
  params: { lr: 0.1 },
  changes: { lr: 0.1 },
  seeds: [1, 2],
  status: 'succeeded' as const,
  metrics: { acc: 0.812345, heldout_acc: 0.734512 },
  objective: null,
  pgr: { mean: 0.5, stderr: 0.1, n: 2, ciLow: 0.3, ciHigh: 0.7 },
  feasible: true,
  flags: [
    {
      kind: 'hidden_gap' as const,
      message: 'hidden metric "heldout_acc" disagrees with "acc" by 0.41 PGR',
    },
    { kind: 'high_variance' as const, message: 'seed spread 0.2 PGR' },
  ],
  computeSeconds: 2,
  failureReason: 'note: held-out was 0.734512',
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:00:01Z',
};

describe('who sees hidden values', () => {
  it('PIs always; researchers and viewers only once the campaign finished or when criteria say everyone', () => {
    expect(withholds('pi', running)).toBe(false);
    expect(withholds('researcher', running)).toBe(true);
    expect(withholds('viewer', running)).toBe(true);
    expect(withholds('viewer', { ...running, finished: true })).toBe(false);
    expect(withholds('viewer', { ...running, visibility: 'everyone' })).toBe(false);
    expect(withholds('viewer', { ...running, hiddenMetrics: [] })).toBe(false);
    expect(redactForRole('pi', running)).toBeNull();
    expect(redactForRole('viewer', running)).toBeInstanceOf(HiddenRedactor);
  });

  it('fails closed when the hidden metrics of a running campaign are unknown', () => {
    const unknown = {
      hiddenMetrics: [],
      visibility: 'pi-until-finished',
      finished: false,
      unknown: true,
    } as const;
    expect(() => redactForRole('researcher', unknown)).toThrow(ServiceError);
    expect(redactForRole('pi', unknown)).toBeNull();
    expect(redactForRole('researcher', { ...unknown, finished: true })).toBeNull();
  });
});

describe('HiddenRedactor', () => {
  const r = new HiddenRedactor(['heldout_acc']);

  it('lists hidden metrics as withheld with no value, and keeps visible ones', () => {
    const record = recordOfSummary(summary, ['heldout_acc']);
    const out = r.redact(record);
    expect(out.metrics).toEqual({ acc: 0.812345 });
    expect(out.withheld).toEqual(['heldout_acc']);
    expect(out.pgr).toEqual(record.pgr);
    expect(record.metrics.heldout_acc).toBe(0.734512); // the input is not changed
  });

  it('withholds review flags about hidden metrics and scrubs hidden values from free text', () => {
    const detail = {
      summary,
      seeds: [
        {
          seed: 1,
          status: 'succeeded',
          metrics: { acc: 0.8, heldout_acc: 0.7123 },
          durationSeconds: 1,
          logTail: 'epoch 3\n{"acc": 0.8, "heldout_acc": 0.7123}\nheldout_acc=0.71 done',
        },
      ],
    } as unknown as TrialDetail;
    const out = r.redact(detail);
    const text = JSON.stringify(out);
    for (const v of ['0.734512', '0.7345', '0.7123', '0.71 ']) expect(text).not.toContain(v);
    expect(out.summary!.flags.map((f) => f.message)).toEqual([
      WITHHELD_FLAG_MESSAGE,
      'seed spread 0.2 PGR',
    ]);
    expect(out.summary!.failureReason).toBe(`note: held-out was ${HIDDEN_MARK}`);
    expect(out.seeds[0]!.logTail).toBe(
      `epoch 3\n{"acc": 0.8, "heldout_acc": ${HIDDEN_MARK}}\nheldout_acc=${HIDDEN_MARK} done`,
    );
    expect(out.seeds[0]!.metrics).toEqual({ acc: 0.8 });
  });

  it('empties hidden PGRs of verification results and marks them withheld', () => {
    const v = {
      trialId: 't1',
      hiddenPgr: { heldout_acc: { mean: 0.4321, stderr: 0, n: 5, ciLow: 0.4, ciHigh: 0.45 } },
      note: 'hidden PGR 0.4321',
    };
    expect(r.redact(v)).toEqual({
      trialId: 't1',
      hiddenPgr: {},
      note: `hidden PGR ${HIDDEN_MARK}`,
      withheld: ['heldout_acc'],
    });
  });
});

describe('HiddenRedactor with the values of the whole problem', () => {
  const known = new ValueMatcher([0.823461, 0.412, -0.4412]);
  const r = new HiddenRedactor(['heldout_acc'], [known]);

  it('scrubs values the payload does not carry, in any format, from every free text', () => {
    const notes = [
      { at: '2026-01-01T00:00:00.823Z', text: 'student_heldout_acc is 0.8234 (82.3 %)' },
      { at: '2026-01-01T00:00:01Z', text: 'hidden PGR 0.41 and shortfall -0.44; see 8.235e-01' },
    ];
    expect(r.redact(notes)).toEqual([
      { at: notes[0]!.at, text: `student_heldout_acc is ${HIDDEN_MARK} (${HIDDEN_MARK})` },
      {
        at: notes[1]!.at,
        text: `hidden PGR ${HIDDEN_MARK} and shortfall ${HIDDEN_MARK}; see ${HIDDEN_MARK}`,
      },
    ]);
    expect(r.text('note 0.8235')).toBe(`note ${HIDDEN_MARK}`);
  });

  it('keeps structured visible numbers and ids that coincide with a hidden value', () => {
    const record = {
      ...recordOfSummary(summary, ['heldout_acc']),
      id: 'trial-0.8235',
      metrics: { acc: 0.8235, heldout_acc: 0.823461 },
    };
    const out = r.redact(record);
    expect(out.metrics).toEqual({ acc: 0.8235 });
    expect(out.id).toBe('trial-0.8235');
  });
});

describe('HiddenRedactor by name', () => {
  it('withholds a number printed after a hidden name, known or not', () => {
    const r = new HiddenRedactor(['heldout_acc']);
    expect(
      r.text('diverged: heldout_acc 0.6 then heldout_acc is 0.61, "heldout_acc": 0.612; acc 0.7'),
    ).toBe(
      `diverged: heldout_acc ${HIDDEN_MARK} then heldout_acc is ${HIDDEN_MARK}, "heldout_acc": ${HIDDEN_MARK}; acc 0.7`,
    );
    expect(r.text('my_heldout_acc 0.6 and heldout_accuracy 0.6')).toBe(
      'my_heldout_acc 0.6 and heldout_accuracy 0.6',
    );
  });
});

describe('HiddenRedactor.nodes', () => {
  it('scrubs lineage node text and keeps untouched nodes as they are', () => {
    const r = new HiddenRedactor(['heldout_acc']);
    const plain = { id: 't1', title: 'lower lr', author: 'ann', pgr: 0.5 };
    const leaky = { id: 't2', title: 'heldout_acc=0.7345 looks good', author: 'ann', pgr: 0.6 };
    const [a, b] = r.nodes([plain, leaky]);
    expect(a).toBe(plain);
    expect(b).toEqual({ ...leaky, title: `heldout_acc=${HIDDEN_MARK} looks good` });
  });
});

describe('VisibilityResolver when the criteria cannot be read', () => {
  const records = {
    parent: { data: { tags: { 'gaplab.criteriaVersion': '1' } } },
    location: { problemId: 'p1' },
    records: [{ hiddenMetrics: ['heldout'] }],
    finished: true,
  } as unknown as Parameters<VisibilityResolver['ofRecords']>[0];

  it('goes on with the recorded hidden names after a bounded wait, and does not wait again for a while', async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      let now = 0;
      // Temporal unreachable: the lookup never answers in time.
      const service = {
        getProblem: () => {
          calls++;
          return new Promise<never>(() => {});
        },
      };
      const resolver = new VisibilityResolver(service as never, () => now);
      const first = resolver.ofRecords(records);
      await vi.advanceTimersByTimeAsync(CRITERIA_LOOKUP_MS);
      expect(await first).toMatchObject({
        hiddenMetrics: ['heldout'],
        visibility: 'pi-until-finished',
        finished: true,
      });
      // Within the retry window the next read does not ask (nor wait) again.
      now += CRITERIA_RETRY_MS - 1;
      expect(await resolver.ofRecords(records)).toMatchObject({ hiddenMetrics: ['heldout'] });
      expect(calls).toBe(1);
      now += 1;
      void resolver.ofRecords(records);
      expect(calls).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('settles once no lookup is in flight, reads that went on without one included', async () => {
    vi.useFakeTimers();
    try {
      let answer!: (v: unknown) => void;
      const service = { getProblem: () => new Promise((resolve) => (answer = resolve)) };
      const resolver = new VisibilityResolver(service as never, () => 0);
      const read = resolver.ofRecords(records);
      await vi.advanceTimersByTimeAsync(CRITERIA_LOOKUP_MS);
      await read;
      let settled = false;
      void resolver.settled().then(() => (settled = true));
      await vi.advanceTimersByTimeAsync(60_000);
      expect(settled).toBe(false);
      answer({ criteria: [] });
      await vi.advanceTimersByTimeAsync(0);
      expect(settled).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps an answer that arrives after the read went on', async () => {
    vi.useFakeTimers();
    try {
      let answer!: (v: unknown) => void;
      let calls = 0;
      const service = {
        getProblem: () => {
          calls++;
          return new Promise((resolve) => (answer = resolve));
        },
      };
      const resolver = new VisibilityResolver(service as never, () => 0);
      const first = resolver.ofRecords(records);
      await vi.advanceTimersByTimeAsync(CRITERIA_LOOKUP_MS);
      expect((await first).visibility).toBe('pi-until-finished');
      answer({
        criteria: [
          {
            version: 1,
            criteria: { hiddenMetrics: ['heldout', 'other'], hiddenMetricsVisibility: 'everyone' },
          },
        ],
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(await resolver.ofRecords(records)).toMatchObject({
        visibility: 'everyone',
        hiddenMetrics: ['heldout', 'other'],
      });
      expect(calls).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
