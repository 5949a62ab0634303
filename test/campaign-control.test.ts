/** Human control through workflow messages: roles, approvals, injection, pause/resume, budgets, stop, audit. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TAG, experimentName } from '../records/names.js';
import { ServiceError } from '../server/errors.js';
import { holdSeeds, quadraticCriteria, quadraticSpec, testRegistry } from './support/quadratic.js';
import {
  createTestEnv,
  pi,
  researcher,
  submitQuadratic,
  uniqueId,
  viewer,
  type TestEnv,
} from './support/env.js';
import { startTestServer } from './support/http.js';
import { eventually } from './support/eventually.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
});
afterAll(async () => {
  await env?.close();
});

async function rejects(p: Promise<unknown>, status: number, pattern?: RegExp) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServiceError);
  expect((err as ServiceError).status).toBe(status);
  if (pattern) expect((err as ServiceError).message).toMatch(pattern);
}

describe('human control of a campaign', () => {
  it('approvals, injection, pause/resume, budget change, notes and stop, all audited with actors', async () => {
    const problemId = uniqueId('control');
    await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
    await rejects(env.service.setCriteria(researcher, problemId, quadraticCriteria), 403);
    await rejects(
      env.service.setCriteria(pi, problemId, { ...quadraticCriteria, metric: 'nope' }),
      400,
      /criteria\.metric/,
    );
    await env.service.setCriteria(pi, problemId, {
      ...quadraticCriteria,
      approval: { enabled: true, timeoutSeconds: 600, onTimeout: 'reject' },
      budgets: { maxTrials: 50, concurrency: 2 },
    });
    await rejects(
      env.service.startCampaign(viewer, { problemId, strategy: { name: 'random' } }),
      403,
    );
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 3,
    });

    const pending = await eventually(async () => {
      const p = await env.service.pending(campaignId);
      return p.length >= 2 ? p : null;
    });
    const [first, second] = pending;
    await rejects(env.service.decide(researcher, campaignId, first!.hypothesis.id, 'approve'), 403);
    await env.service.decide(pi, campaignId, first!.hypothesis.id, 'approve', 'looks reasonable');
    await env.service.decide(pi, campaignId, second!.hypothesis.id, 'reject', 'too far out');
    await rejects(
      env.service.decide(pi, campaignId, first!.hypothesis.id, 'approve'),
      409,
      /already decided/,
    );
    await rejects(env.service.decide(pi, campaignId, 'h-nope', 'approve'), 404);

    // A PI's idea runs without waiting for approval.
    const { hypothesisId } = await env.service.inject(pi, campaignId, {
      title: 'Go to the centre',
      rationale: 'the bowl is centred at (1, -2)',
      changes: { x: 1, y: -2 },
    });
    expect(hypothesisId).toMatch(/^h/);

    await env.service.pause(researcher, campaignId, 'lunch');
    expect((await env.service.status(campaignId)).paused).toBe(true);
    await rejects(env.service.pause(researcher, campaignId), 409, /already paused/);
    await env.service.addNote(researcher, campaignId, 'x near 1 looks promising');
    await rejects(env.service.changeBudgets(researcher, campaignId, { maxTrials: 6 }), 403);
    await rejects(
      env.service.changeBudgets(pi, campaignId, { maxTrials: -1 }),
      400,
      /budgets\.maxTrials/,
    );
    const budgets = await env.service.changeBudgets(
      pi,
      campaignId,
      { maxTrials: 6 },
      'keep it short',
    );
    expect(budgets.maxTrials).toBe(6);
    await env.service.resume(researcher, campaignId);

    const human = await eventually(async () => {
      const { trials } = await env.service.trials(campaignId, { kind: 'search' });
      return trials.find((t) => t.author.kind === 'human');
    });
    expect(human.author.name).toBe('Pat PI');
    expect(human.params).toMatchObject({ x: 1, y: -2 });
    expect(human.pgr!.mean).toBeGreaterThan(0.99);

    await rejects(env.service.stop(researcher, campaignId), 403);
    await env.service.stop(pi, campaignId, { reason: 'enough' });
    const report = await env.service.result(campaignId);
    expect(report.stopReason).toBe('stopped_by_pi');
    expect(report.dropped.some((d) => d.reason.includes('rejected by Pat PI'))).toBe(true);
    expect(report.notebook.some((n) => n.kind === 'human' && n.author === 'Rae Researcher')).toBe(
      true,
    );

    const audit = await env.service.audit(campaignId);
    const by = (action: string) => audit.find((a) => a.action === action);
    expect(by('start')?.actor.name).toBe('Rae Researcher');
    expect(by('approve')?.actor.name).toBe('Pat PI');
    expect(by('reject')?.actor.name).toBe('Pat PI');
    expect(by('inject hypothesis')?.actor.name).toBe('Pat PI');
    expect(by('pause')?.actor.name).toBe('Rae Researcher');
    expect(by('resume')?.actor.name).toBe('Rae Researcher');
    expect(by('change budgets')?.detail).toContain('keep it short');
    expect(by('stop')?.actor.name).toBe('Pat PI');
    await rejects(env.service.pause(pi, campaignId), 409);

    // The human trial is in MLflow with its author.
    const experimentId = (await env.mlflow.getExperimentByName(experimentName(problemId)))!
      .experimentId;
    const runs = await eventually(async () => {
      const r = await env.mlflow.searchAllRuns({
        experimentIds: [experimentId],
        filter: `tags.\`${TAG.trialId}\` = '${human.id}'`,
      });
      return r.length === 1 ? r : null;
    });
    expect(runs[0]!.data.tags[TAG.author]).toBe('Pat PI');
    expect(runs[0]!.data.tags[TAG.authorKind]).toBe('human');
  });

  it('starts paused on request: the references are measured, nothing else runs until a resume', async () => {
    const problemId = uniqueId('paused');
    await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
    await env.service.setCriteria(pi, problemId, {
      ...quadraticCriteria,
      budgets: { maxTrials: 3, concurrency: 2 },
      verification: { topK: 0, seeds: 1 },
    });
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      paused: true,
    });
    const baseline = await eventually(async () => {
      const { trials } = await env.service.trials(campaignId, { limit: 100 });
      return trials.find((t) => t.id === 'baseline' && t.status === 'succeeded');
    }, 60_000);
    expect(baseline.seeds).toHaveLength(2);
    // The status says what the campaign waits for: a person's resume.
    const status = await eventually(async () => {
      const st = await env.service.status(campaignId);
      return st.waitingFor === 'a resume (paused)' ? st : undefined;
    }, 30_000);
    expect(status.paused).toBe(true);
    expect(status.ledger.trialsStarted).toBe(0);
    const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 100 });
    expect(trials).toEqual([]);
    const audit = await env.service.audit(campaignId);
    expect(audit.map((a) => [a.action, a.actor.name, a.detail])).toEqual([
      ['start', 'Rae Researcher', expect.stringContaining('strategy random')],
      ['pause', 'Rae Researcher', 'started paused'],
    ]);
    // An idea queued while paused runs once the campaign is resumed, with the strategy's.
    await env.service.inject(pi, campaignId, { title: 'the centre', changes: { x: 1, y: -2 } });
    await env.service.resume(researcher, campaignId);
    const report = await env.service.result(campaignId);
    expect(report.stopReason).toBe('max_trials');
    expect(report.trials.total).toBe(3);
    // Finished: nothing left to wait for.
    expect((await env.service.status(campaignId)).waitingFor).toBeUndefined();
    const search = (await env.service.trials(campaignId, { kind: 'search', limit: 100 })).trials;
    expect(search.map((t) => t.author.kind).sort()).toEqual(['human', 'strategy', 'strategy']);
  });

  it('rejects an injected hypothesis outside the search space with the field named', async () => {
    const problemId = uniqueId('inject');
    await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
    await env.service.setCriteria(pi, problemId, {
      ...quadraticCriteria,
      budgets: { maxTrials: 3, concurrency: 1 },
    });
    // Seeds wait until the three are refused: the campaign is still open, whatever the pace.
    const hold = holdSeeds();
    try {
      const { campaignId } = await env.service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
      });
      await rejects(
        env.service.inject(researcher, campaignId, { title: 'too far', changes: { x: 99 } }),
        400,
        /x/,
      );
      await rejects(
        env.service.inject(researcher, campaignId, { title: 'unknown', changes: { z: 1 } }),
        400,
        /z/,
      );
      await rejects(
        env.service.inject(researcher, campaignId, {
          title: 'orphan',
          parentTrialId: 't9999',
          changes: { x: 0 },
        }),
        404,
        /parentTrialId/,
      );
      hold.release();
      await env.service.result(campaignId);
    } finally {
      hold.release();
    }
  });
});

/** Counts the workflow queries the env's Temporal connection sends, by workflow id. */
function countQueries() {
  const spy = vi.spyOn(env.connection.workflowService, 'queryWorkflow');
  return {
    of: (workflowId: string) =>
      spy.mock.calls.filter(([req]) => req.execution?.workflowId === workflowId).length,
    restore: () => spy.mockRestore(),
  };
}

describe('reads that cost the same at any fan-out', () => {
  it('lists problems without querying one that did not change; a new or changed problem shows at once', async () => {
    const problemId = uniqueId('listing');
    const workflowId = `problem:${problemId}`;
    const queries = countQueries();
    try {
      await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
      // Listed as soon as its submit returns (visibility may not have it yet).
      expect((await env.service.listProblems()).map((p) => p.spec.id)).toContain(problemId);
      const listed = queries.of(workflowId);
      await env.service.listProblems();
      await env.service.listProblems();
      expect(queries.of(workflowId)).toBe(listed);
      // A change (an update, so a longer history) is read once, by the next list.
      await env.service.setCriteria(pi, problemId, quadraticCriteria);
      const changed = queries.of(workflowId);
      const problem = (await env.service.listProblems()).find((p) => p.spec.id === problemId);
      expect(problem?.criteria.map((c) => c.version)).toEqual([1]);
      expect(queries.of(workflowId)).toBe(changed + 1);
      await env.service.listProblems();
      expect(queries.of(workflowId)).toBe(changed + 1);
    } finally {
      queries.restore();
    }
  });

  it("answers a closed campaign's status from its MLflow record, without querying its workflow", async () => {
    const problemId = await submitQuadratic(env.service, {
      prefix: 'closed-status',
      criteria: {
        seedsPerTrial: 1,
        budgets: { maxTrials: 2, concurrency: 2 },
        verification: { topK: 0, seeds: 1 },
      },
    });
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 5,
    });
    const report = await env.service.result(campaignId);
    // What the workflow itself answers, to compare with.
    const { proposals: _omitted, ...fromWorkflow } = await env.service.status(campaignId);
    const http = await startTestServer(env, { sseIntervalMs: 200, lineageTtlMs: 300 });
    const queries = countQueries();
    try {
      const res = await http.call('viewer', 'GET', `/api/campaigns/${campaignId}`);
      expect(res.status).toBe(200);
      expect(queries.of(campaignId)).toBe(0);
      expect(res.json).toEqual({ ...fromWorkflow, iteration: report.ledger.iterations });
      expect(res.json).toMatchObject({ phase: 'finished', stopReason: 'max_trials' });
    } finally {
      queries.restore();
      await http.close();
    }
  });
});
