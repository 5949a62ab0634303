import { describe, expect, it } from 'vitest';
import type { CampaignStatus, TrialSummary as ApiTrial } from '../api/schemas.js';
import type { TrialsPage, TrialsPageOptions } from '../workflows/campaign/campaign.js';
import { trialSummary } from '../test/support/fake-service.js';
import { LiveTrials } from './live-trials.js';

/**
 * A campaign's workflow as the trials query answers it (workflows/campaign/state/views.ts): trials in
 * finishing order, and a journal of the listed trials changed since a revision, per run.
 */
type TrialSummary = TrialsPage['trials'][number];

class Workflow {
  trials: TrialSummary[] = [];
  run = 'run-1';
  private revision = 0;
  private changes = new Map<string, number>();
  readonly calls: TrialsPageOptions[] = [];

  add(t: ApiTrial): void {
    // The API's summary of a trial whose metrics are all numbers is the workflow's.
    this.trials.push(t as TrialSummary);
  }
  change(id: string, patch: Partial<TrialSummary>): void {
    const i = this.trials.findIndex((t) => t.id === id);
    this.trials[i] = { ...this.trials[i]!, ...patch };
    this.changes.delete(id);
    this.changes.set(id, ++this.revision);
  }
  /** Continue-as-new: the same trials, a new run with a journal of its own. */
  continueAsNew(): void {
    this.run = `run-${Number(this.run.split('-')[1]) + 1}`;
    this.revision = 0;
    this.changes.clear();
  }

  readonly service = {
    status: async () => ({ phase: 'running' }) as CampaignStatus,
    trials: async (_campaignId: string, opts: TrialsPageOptions = {}): Promise<TrialsPage> => {
      this.calls.push(opts);
      const offset = opts.offset ?? 0;
      const limit = opts.limit ?? 100;
      const page: TrialsPage = {
        total: this.trials.length,
        trials: this.trials.slice(offset, offset + limit),
        revision: this.revision,
        run: this.run,
      };
      if (opts.changedSince === undefined) return page;
      const ids = [...this.changes].filter(([, r]) => r > opts.changedSince!).map(([id]) => id);
      const changed = ids.map((id) => this.trials.find((t) => t.id === id)!);
      return {
        ...page,
        changed: changed.slice(-limit),
        ...(changed.length > limit ? { changedOverflow: true } : {}),
      };
    },
  };
}

const live = (wf: Workflow) => new LiveTrials({ service: wf.service, ttlMs: 0 });

describe('LiveTrials', () => {
  it('brings a listed trial up to date once it changes: its MLflow run id, its review flags', async () => {
    const wf = new Workflow();
    for (let i = 0; i < 4; i++) wf.add(trialSummary(i));
    const cache = live(wf);
    const first = await cache.get('c');
    expect(first.records.map((r) => r.mlflowRunId)).toEqual([null, null, null, null]);
    expect(first.byId.get('t0002')!.flags).toEqual(['high_variance']);

    wf.change('t0001', { mlflowRunId: 'run-of-t1' });
    wf.change('t0002', { flags: [], trust: 'eligible' });
    wf.add(trialSummary(4));
    wf.calls.length = 0;
    const next = await cache.get('c');
    // One query: the new trial after the last one read, and those changed since.
    expect(wf.calls).toEqual([{ offset: 4, limit: 1000, changedSince: 0 }]);
    expect(next.records.map((r) => r.id)).toEqual(['baseline', 't0001', 't0002', 't0003', 't0004']);
    expect(next.byId.get('t0001')!.mlflowRunId).toBe('run-of-t1');
    expect(next.records[1]!.mlflowRunId).toBe('run-of-t1');
    expect(next.byId.get('t0002')!.flags).toEqual([]);
    expect(next.nodes[2]!.flags).toEqual([]);

    // Nothing changed since: nothing comes again.
    wf.calls.length = 0;
    await cache.get('c');
    expect(wf.calls).toEqual([{ offset: 5, limit: 1000, changedSince: 2 }]);
  });

  it('reads every trial again when the workflow continued as new (its revisions start over)', async () => {
    const wf = new Workflow();
    for (let i = 0; i < 3; i++) wf.add(trialSummary(i));
    const cache = live(wf);
    await cache.get('c');
    wf.change('t0001', { mlflowRunId: 'before-the-new-run' });
    wf.continueAsNew();
    wf.calls.length = 0;
    const next = await cache.get('c');
    expect(next.byId.get('t0001')!.mlflowRunId).toBe('before-the-new-run');
    expect(next.records).toHaveLength(3);
    expect(wf.calls.at(-1)).toEqual({ offset: 0, limit: 1000 });
  });

  it('reads every trial again when more changed than a page holds', async () => {
    const wf = new Workflow();
    for (let i = 0; i < 1002; i++) wf.add(trialSummary(i));
    const cache = live(wf);
    await cache.get('c');
    for (let i = 1; i < 1002; i++) wf.change(wf.trials[i]!.id, { mlflowRunId: `r${i}` });
    const next = await cache.get('c');
    expect(next.records.every((r) => r.id === 'baseline' || r.mlflowRunId !== null)).toBe(true);
    expect(next.records).toHaveLength(1002);
  });

  it('answers at least as new as a change it was told of: no cached list, no older read joined', async () => {
    const wf = new Workflow();
    for (let i = 0; i < 3; i++) wf.add(trialSummary(i));
    const cache = new LiveTrials({ service: wf.service, ttlMs: 60_000 });
    expect((await cache.get('c')).records).toHaveLength(3);
    // Within the TTL and with nothing said, the list read is reused.
    wf.add(trialSummary(3));
    expect((await cache.get('c')).records).toHaveLength(3);
    // The event stream saw the new trial: a read after that has it.
    cache.changed('c');
    expect((await cache.get('c')).records).toHaveLength(4);

    // A read under way when a trial finishes: one asked for after the change waits for it and
    // reads again, rather than answer what the older read saw.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const trials = wf.service.trials;
    wf.service.trials = async (id, opts) => {
      const page = await trials(id, opts);
      await held;
      return page;
    };
    cache.changed('c');
    const older = cache.get('c');
    await new Promise((r) => setTimeout(r, 10));
    wf.add(trialSummary(4));
    cache.changed('c');
    wf.calls.length = 0;
    const newer = cache.get('c');
    // A third reader after the same change shares the newer read.
    const third = cache.get('c');
    wf.service.trials = trials;
    release();
    await third;
    expect(wf.calls).toHaveLength(1);
    expect((await older).records).toHaveLength(4);
    expect((await newer).records.map((r) => r.id)).toEqual([
      'baseline',
      't0001',
      't0002',
      't0003',
      't0004',
    ]);
    // The cache keeps the newer list.
    expect((await cache.get('c')).records).toHaveLength(5);
  });
});
