/**
 * Reads that cost the same at any fan-out: 200 event-stream clients and 500 requests for
 * unknown campaign ids while a campaign runs. The server answers no 5xx, every stream sees the
 * campaign end, every trial is done, and the trial throughput is compared with a quiet run
 * (printed; benchmarks measure speed, this test checks behaviour).
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenTable, type TokenEntry } from '../server/auth.js';
import { startServer, type RunningServer } from '../server/server.js';
import type { CampaignReport } from '../workflows/types.js';
import { slowQuadraticSpec, testRegistry } from './support/quadratic.js';
import { createTestEnv, researcher, submitQuadratic, type TestEnv } from './support/env.js';
import { spawnWorkerProcess } from './support/worker-process.js';

const VIEWERS = 10;
const STREAMS_PER_TOKEN = 20;
const tokens: TokenEntry[] = [
  { token: 'load-pi-token-0123456789', name: 'Pat PI', role: 'pi' },
  ...Array.from({ length: VIEWERS }, (_, i) => ({
    token: `load-viewer-token-${String(i).padStart(6, '0')}`,
    name: `Viewer ${i}`,
    role: 'viewer' as const,
  })),
];

let env: TestEnv;
let server: RunningServer;
const workers: ChildProcess[] = [];
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry(), noWorker: true });
  // The worker runs in a process of its own, as in production: the clients and the server
  // share this one.
  await spawnWorkerProcess(
    'worker-process',
    {
      TEMPORAL_ADDRESS: env.temporalAddress,
      MLFLOW_TRACKING_URI: env.mlflowUri,
      TASK_QUEUE: env.taskQueue,
    },
    workers,
  );
  server = await startServer({
    service: env.service,
    mlflow: env.mlflow,
    tokens: new TokenTable(tokens),
    config: {
      port: 0,
      temporalAddress: env.temporalAddress,
      mlflowUri: env.mlflowUri,
      sseIntervalMs: 500,
      sseStreamsPerToken: STREAMS_PER_TOKEN,
      rateLimitPerMinute: 100_000,
    },
    env: {},
    logger: false,
    print: () => {},
    closeGraceMs: 2000,
  });
});
afterAll(async () => {
  for (const w of workers) w.kill('SIGTERM');
  await server?.close();
  await env?.close();
});

const spec = slowQuadraticSpec([300, 301]);
const TRIALS = 24;

async function campaign(
  paused = false,
): Promise<{ campaignId: string; done: Promise<CampaignReport> }> {
  const problemId = await submitQuadratic(env.service, {
    prefix: 'load',
    spec,
    criteria: {
      seedsPerTrial: 2,
      budgets: { maxTrials: TRIALS, concurrency: 4 },
      verification: { topK: 0, seeds: 2 },
    },
  });
  const { campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 11,
    paused,
  });
  return { campaignId, done: env.service.result(campaignId) };
}

/** Search trials per second between the first and the last search trial's start and finish. */
async function throughput(campaignId: string): Promise<number> {
  const { trials } = await env.service.trials(campaignId, { limit: 1000, kind: 'search' });
  const start = Math.min(...trials.map((t) => Date.parse(t.startedAt)));
  const end = Math.max(...trials.map((t) => Date.parse(t.finishedAt)));
  return trials.length / ((end - start) / 1000);
}

/**
 * Reads an event stream to its end; resolves with what it received. `opened` resolves once the
 * server has answered (and so counted) the stream.
 */
function follow(url: string, controller: AbortController) {
  let opened!: () => void;
  const isOpen = new Promise<void>((resolve) => (opened = resolve));
  const received = (async () => {
    try {
      const res = await fetch(url, { signal: controller.signal });
      opened();
      if (res.status !== 200) return { status: res.status, text: await res.text() };
      let text = '';
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body!) text += decoder.decode(chunk as Uint8Array);
      } catch {
        // aborted at the end of the test
      }
      return { status: 200, text };
    } finally {
      opened();
    }
  })();
  return { opened: isOpen, received };
}

describe('fan-out', () => {
  it('200 event streams and 500 unknown-id requests during a campaign: no 5xx, every trial done', async () => {
    const quiet = await campaign();
    const quietReport = await quiet.done;
    expect(quietReport.trials.total).toBe(TRIALS);
    const quietRate = await throughput(quiet.campaignId);

    // Paused while the streams open, so that the campaign cannot end before every stream is
    // counted; the unknown-id requests then run while its trials do.
    const busy = await campaign(true);
    const controller = new AbortController();
    const followers = Array.from({ length: VIEWERS * STREAMS_PER_TOKEN }, (_, i) =>
      follow(
        `${server.url}/api/campaigns/${encodeURIComponent(busy.campaignId)}/events?token=${tokens[1 + (i % VIEWERS)]!.token}`,
        controller,
      ),
    );
    const streams = followers.map((f) => f.received);
    await Promise.all(followers.map((f) => f.opened));
    // One more for a token that holds its share: refused.
    const extra = await fetch(
      `${server.url}/api/campaigns/${encodeURIComponent(busy.campaignId)}/events?token=${tokens[1]!.token}`,
    );
    expect(extra.status).toBe(429);
    await env.service.resume(researcher, busy.campaignId);

    const statuses: number[] = [];
    const paths = ['', '/trials', '/report', '/events', '/lineage'];
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const id = `no-such-campaign-${batch}-${i}`;
          const res = await fetch(
            `${server.url}/api/campaigns/${id}${paths[i % paths.length]}?token=${tokens[0]!.token}`,
            { headers: { authorization: `Bearer ${tokens[0]!.token}` } },
          );
          await res.arrayBuffer();
          return res.status;
        }),
      );
      statuses.push(...answers);
    }
    const busyReport = await busy.done;
    const received = await Promise.race([
      Promise.all(streams),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('streams did not end with the campaign')), 120_000),
      ),
    ]);
    controller.abort();
    const busyRate = await throughput(busy.campaignId);
    console.log(
      `fan-out: quiet ${quietRate.toFixed(2)} trials/s, with 200 streams and 500 unknown-id requests ${busyRate.toFixed(2)} trials/s (${((busyRate / quietRate) * 100).toFixed(0)}%)`,
    );

    expect(statuses).toHaveLength(500);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(new Set(statuses)).toEqual(new Set([404]));
    expect(busyReport.trials.total).toBe(TRIALS);
    expect(busyReport.stopReason).toBe('max_trials');
    expect(received.filter((r) => r.status !== 200)).toEqual([]);
    for (const r of received) {
      expect(r.text).toContain('event: status');
      expect(r.text).toContain('event: end');
    }
  });
});
