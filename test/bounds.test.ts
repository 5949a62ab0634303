/**
 * Bounded by construction, on the real stack: a campaign flooded with long notes, queued ideas
 * and chatty 100-seed trials completes with its report and every workflow payload stays under a
 * quarter of Temporal's 2 MiB limit; thousands of notes on a paused campaign never lock out a
 * PI's stop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeedResult } from '../domain/schemas.js';
import type { ExperimentDefinition } from '../experiments/types.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import { ServiceError } from '../server/errors.js';
import {
  CARRY_BUDGET,
  KEPT_CHARS,
  TAIL_BUDGET,
} from '../workflows/campaign/state/campaign-state.js';
import { CompressionCodec } from '../temporal/data-converter.js';
import { quadratic, quadraticSpec } from './support/quadratic.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { eventually, STRESS_TIMEOUT_MS } from './support/eventually.js';

/** Prints about 80 KB to stdout and a little to stderr, then its score (10 - (x-1)^2). */
const chatty: ExperimentDefinition = {
  name: 'chatty',
  description: 'Prints a lot, then reports score = 10 - (x-1)^2.',
  metrics: [{ name: 'score', description: 'objective' }],
  defaultTimeoutSeconds: 60,
  runner: {
    kind: 'command',
    argv: [
      'sh',
      '-c',
      [
        'i=0',
        'while [ $i -lt 800 ]; do echo "line $i of seed $GAPLAB_SEED: a chatty experiment prints a great deal ............................"; i=$((i+1)); done',
        'echo "warning: something to note on stderr" >&2',
        `awk -v x="$GAPLAB_PARAM_X" 'BEGIN { printf "{\\"metrics\\": {\\"score\\": %.6f}}\\n", 10 - (x - 1) ^ 2 }'`,
      ].join('\n'),
    ],
  },
};

let env: TestEnv;
beforeAll(async () => {
  // A short history limit makes the campaign continue as new with everything it carries.
  env = await createTestEnv({
    registry: ExperimentRegistry.of(chatty, quadratic),
    timing: { historyEventLimit: 1500 },
  });
});
afterAll(async () => {
  await env?.close();
});

/** Runs `n` calls of `fn`, `width` at a time; 429s are retried after a pause (as clients should). */
async function flood(n: number, width: number, fn: (i: number) => Promise<unknown>) {
  const failures: string[] = [];
  let rateLimited = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) {
        for (;;) {
          try {
            await fn(i);
            break;
          } catch (err) {
            if (err instanceof ServiceError && err.status === 429) {
              rateLimited++;
              await new Promise((r) => setTimeout(r, 200));
              continue;
            }
            failures.push(String(err));
            break;
          }
        }
      }
    }),
  );
  return { failures, rateLimited };
}

/** Replaces every compressed payload under `node` by its plain form, in place. */
async function decompress(node: unknown, codec: CompressionCodec): Promise<void> {
  if (!node || typeof node !== 'object' || node instanceof Uint8Array) return;
  const o = node as Record<string, unknown>;
  if (Array.isArray(o.payloads)) {
    o.payloads = await codec.decode(o.payloads as Parameters<typeof codec.decode>[0]);
    return;
  }
  for (const v of Array.isArray(node) ? node : Object.values(o)) await decompress(v, codec);
}

/**
 * The largest event of the campaign's current run, as JSON (payloads included, as the workflow
 * wrote them: before compression, so the bound holds for what the campaign produces).
 */
async function largestEvent(campaignId: string): Promise<{ size: number; type: string }> {
  const history = await env.client.workflow.getHandle(campaignId).fetchHistory();
  const codec = new CompressionCodec();
  let largest = { size: 0, type: '' };
  for (const e of history.events ?? []) {
    await decompress(e, codec);
    const size = JSON.stringify(e).length;
    if (size > largest.size) largest = { size, type: String(e.eventType) };
  }
  return largest;
}

describe('bounded campaigns on the real stack', () => {
  it(
    '600 notes of maximum length, 50 queued ideas and chatty 100-seed trials: the campaign completes with its report, payloads stay under 512 KiB',
    async () => {
      const problemId = uniqueId('bounds');
      await env.service.submitProblem(researcher, {
        id: problemId,
        title: 'Chatty',
        question: 'Where is the top?',
        experiment: 'chatty',
        space: [{ name: 'x', kind: 'float', low: -5, high: 5 }],
        baseline: { x: -4 },
      });
      await env.service.setCriteria(pi, problemId, {
        metric: 'score',
        direction: 'maximize',
        baseline: { kind: 'value', value: -15 },
        optimum: { kind: 'value', value: 10 },
        seedsPerTrial: 100,
        targetPgr: 2,
        budgets: { maxTrials: 3, concurrency: 8 },
        verification: { topK: 1, seeds: 3 },
      });
      const { campaignId } = await env.service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
        seed: 7,
        // Collecting ideas first.
        paused: true,
      });

      // 50 ideas with every text at its maximum length wait in the queue.
      const ideas = await flood(50, 4, (i) =>
        env.service.inject(pi, campaignId, {
          title: `idea ${i} `.padEnd(200, 'i'),
          rationale: 'r'.repeat(5000),
          changes: { x: -3 + i * 0.05 },
          expectedEffect: 'e'.repeat(2000),
        }),
      );
      expect(ideas.failures).toEqual([]);
      // 600 notes of the maximum length.
      const notes = await flood(600, 8, (i) =>
        env.service.addNote(researcher, campaignId, `note ${i} `.padEnd(5000, 'n')),
      );
      expect(notes.failures).toEqual([]);
      const paused = await env.service.status(campaignId);
      expect(paused.paused).toBe(true);
      // It continued as new while paused (short history limit), carrying notes and queue.
      await eventually(async () => (await env.service.status(campaignId)).runs >= 1, 120_000);

      await env.service.resume(researcher, campaignId);
      const report = await env.service.result(campaignId);
      expect(report.stopReason).toBe('max_trials');
      expect(report.trials.total).toBe(3);
      expect(report.notebook.length).toBeGreaterThan(0);
      for (const n of report.notebook) expect(n.text.length).toBeLessThanOrEqual(KEPT_CHARS.note);
      // The ideas went first: the three trials are people's ideas.
      expect(report.best?.author.kind).toBe('human');
      expect(JSON.stringify(report).length).toBeLessThan(CARRY_BUDGET.total);

      // No event of the run (continue-as-new input and activity results included) nears the limit.
      const largest = await largestEvent(campaignId);
      expect(largest.size).toBeLessThan(CARRY_BUDGET.total);

      // MLflow has what the workflow state cut: whole logs, whole notes, whole rationales.
      const trialRun = report.best!.id;
      const { trial } = await env.service.trial(campaignId, trialRun);
      const { seeds } = JSON.parse(
        await env.mlflow.downloadArtifactText(trial.mlflowRunId!, 'trial.json'),
      ) as { seeds: SeedResult[] };
      expect(seeds).toHaveLength(100);
      const runId = /^runs:\/([^/]+)\//.exec(seeds[0]!.logArtifact ?? '')?.[1] ?? 'none';
      const noteFiles = await env.mlflow.listArtifacts(runId, 'notebook');
      expect(noteFiles.length).toBeGreaterThanOrEqual(600);
      const whole = noteFiles.find((f) => f.path.startsWith('notebook/note-'))!;
      const one = JSON.parse(await env.mlflow.downloadArtifactText(runId, whole.path)) as {
        text: string;
      };
      expect(one.text.length).toBeGreaterThan(KEPT_CHARS.note);
      const hypotheses = await env.mlflow.listArtifacts(runId, 'hypotheses');
      expect(hypotheses.length).toBeGreaterThanOrEqual(3);

      const limit = Math.min(TAIL_BUDGET.perSeed, Math.floor(TAIL_BUDGET.perTrial / 100));
      for (const s of seeds) {
        expect((s.logTail ?? '').length).toBeLessThanOrEqual(limit);
        expect(s.logArtifact).toMatch(new RegExp(`^runs:/${runId}/logs/${trialRun}/seed-`));
      }
      const logPath = `${seeds[0]!.logArtifact!.replace(`runs:/${runId}/`, '')}/stdout.log`;
      const full = await env.mlflow.downloadArtifactText(runId, logPath);
      expect(full.length).toBeGreaterThan(64 * 1024);
      expect(full).toContain('line 799 of seed');
    },
    STRESS_TIMEOUT_MS,
  );

  it(
    '2,500 notes on a paused campaign, then a PI stop succeeds',
    async () => {
      const problemId = uniqueId('lockout');
      await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
      await env.service.setCriteria(pi, problemId, {
        metric: 'score',
        direction: 'maximize',
        baseline: { kind: 'value', value: -40 },
        optimum: { kind: 'value', value: 10 },
        seedsPerTrial: 2,
        targetPgr: 2,
        budgets: { maxTrials: 1000, concurrency: 2 },
        verification: { topK: 0, seeds: 2 },
      });
      const { campaignId } = await env.service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
        seed: 11,
      });
      await env.service.pause(researcher, campaignId);
      const notes = await flood(2500, 8, (i) =>
        env.service.addNote(researcher, campaignId, `note ${i}: ${'z'.repeat(200)}`),
      );
      expect(notes.failures).toEqual([]);
      const status = await env.service.status(campaignId);
      expect(status.paused).toBe(true);
      // Temporal allows 2,000 updates per run: the campaign continued as new to take them all.
      expect(status.runs).toBeGreaterThanOrEqual(1);

      await env.service.stop(pi, campaignId, { reason: 'enough notes' });
      const report = await env.service.result(campaignId);
      expect(report.stopReason).toBe('stopped_by_pi');
      expect((await largestEvent(campaignId)).size).toBeLessThan(CARRY_BUDGET.total);
    },
    STRESS_TIMEOUT_MS,
  );
});
