import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CampaignEventStream, EventStreamHub } from './events.js';
import { LineageReader } from './lineage.js';
import { FakeMlflow } from '../test/support/fake-mlflow.js';
import { FakeService } from '../test/support/fake-service.js';

/** A response that keeps what is written; `unread` simulates a client that stopped reading. */
class FakeResponse extends EventEmitter {
  text = '';
  writableEnded = false;
  writableLength = 0;
  constructor(private readonly unread = false) {
    super();
  }
  write(chunk: string): boolean {
    this.text += chunk;
    if (this.unread) this.writableLength += chunk.length;
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
}

/** FakeService with call counts of the two reads a poller makes. */
function countingService() {
  const fake = new FakeService();
  const calls = { status: 0, trials: 0 };
  const service = {
    status: (id: string) => {
      calls.status += 1;
      return fake.status(id);
    },
    trials: (id: string, opts?: { offset?: number; limit?: number }) => {
      calls.trials += 1;
      return fake.trials(id, opts);
    },
  };
  return { fake, service, calls };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('event streams', () => {
  it('one poller per campaign serves every stream: reads do not grow with the clients', async () => {
    vi.useFakeTimers();
    const { fake, service, calls } = countingService();
    const hub = new EventStreamHub({ service, intervalMs: 1000, streamsPerCaller: 1000 });
    const poller = hub.poller('c1');
    const clients = Array.from({ length: 50 }, () => new FakeResponse());
    const streams = clients.map(
      (res) =>
        new CampaignEventStream(res as unknown as ServerResponse, {
          poller,
          since: 0,
          heartbeatMs: 60_000,
          // Half share their rendered events, half render their own: both see the same.
          ...(clients.indexOf(res) % 2 ? { shareKey: 'viewer' } : {}),
        }),
    );
    for (const s of streams) s.start();
    await vi.advanceTimersByTimeAsync(10);
    const c = fake.campaigns.get('c1')!;
    c.trials.push({ ...c.trials[1]!, id: 't0009', index: 9, title: 'late idea' });
    c.status.trialsDone = 3;
    await vi.advanceTimersByTimeAsync(3000);

    // Four reads of the status in 3 s, for 50 clients; every client saw every trial once.
    expect(calls.status).toBe(4);
    expect(hub.pollerCount).toBe(1);
    for (const res of clients) {
      expect(res.text.match(/event: trial/g)).toHaveLength(c.trials.length);
      expect(res.text.match(/"title":"late idea"/g)).toHaveLength(1);
      expect(res.text).toContain(`id: ${c.trials.length}\nevent: trial`);
    }
    expect(new Set(clients.map((r) => r.text)).size).toBe(1);
    for (const s of streams) s.close();
    expect(hub.pollerCount).toBe(0);
    const after = calls.status;
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls.status).toBe(after);
  });

  it('caps the streams one caller holds (429), and frees the slot when a stream ends', () => {
    const { service } = countingService();
    const hub = new EventStreamHub({ service, intervalMs: 1000, streamsPerCaller: 2 });
    const a = hub.acquire('viewer:Vic');
    hub.acquire('viewer:Vic');
    expect(() => hub.acquire('viewer:Vic')).toThrow(
      expect.objectContaining({ status: 429, code: 'RateLimited' }),
    );
    hub.acquire('pi:Pat'); // others are not affected
    a();
    a(); // releasing twice frees one slot only
    hub.acquire('viewer:Vic');
    expect(() => hub.acquire('viewer:Vic')).toThrow(expect.objectContaining({ status: 429 }));
  });

  it('drops a client that stops reading instead of buffering its events', async () => {
    vi.useFakeTimers();
    const { service } = countingService();
    const hub = new EventStreamHub({ service, intervalMs: 1000, streamsPerCaller: 10 });
    const res = new FakeResponse(true);
    const stream = new CampaignEventStream(res as unknown as ServerResponse, {
      poller: hub.poller('c1'),
      since: 0,
      heartbeatMs: 10,
      maxBufferedBytes: 2000,
    });
    stream.start();
    await vi.advanceTimersByTimeAsync(5000);
    await stream.finished;
    expect(res.writableEnded).toBe(true);
    expect(res.text.length).toBeLessThan(2000 + 5000);
  });

  it("marks every trial event, the baseline reference included, with the campaign's hidden metrics", async () => {
    const { service } = countingService();
    const hub = new EventStreamHub({ service, intervalMs: 50, streamsPerCaller: 10 });
    const res = new FakeResponse();
    const stream = new CampaignEventStream(res as unknown as ServerResponse, {
      poller: hub.poller('c2'),
      since: 0,
      heartbeatMs: 60_000,
      hiddenMetrics: async () => ['heldout_score'],
    });
    stream.start();
    await stream.finished;
    const trials = res.text
      .split('\n')
      .filter((l, i, all) => all[i - 1] === 'event: trial' && l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as { id: string; kind: string; hiddenMetrics: string[] });
    expect(trials[0]).toMatchObject({ id: 'baseline', kind: 'reference' });
    for (const t of trials) expect(t.hiddenMetrics, t.id).toEqual(['heldout_score']);
  });

  it('ends every stream of a finished campaign with its stop reason', async () => {
    const { service } = countingService();
    const hub = new EventStreamHub({ service, intervalMs: 50, streamsPerCaller: 10 });
    const res = new FakeResponse();
    const stream = new CampaignEventStream(res as unknown as ServerResponse, {
      poller: hub.poller('c2'),
      since: 1,
      heartbeatMs: 60_000,
    });
    stream.start();
    await stream.finished;
    expect(res.text.match(/event: trial/g)).toHaveLength(2);
    expect(res.text).toContain('event: end\ndata: {"stopReason":"max_trials"}');
  });
});

describe('unknown campaign ids', () => {
  it('cost no MLflow search each: one listing answers them all for a while', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'known', 5);
    const now = { t: 0 };
    const reader = new LineageReader({
      mlflow,
      listExperiments: mlflow.listExperiments,
      now: () => now.t,
      snapshots: false,
      indexTtlMs: 5000,
    });
    const before = mlflow.searches;
    const misses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => reader.records(`nope-${i}`)),
    );
    expect(misses.every((m) => m === null)).toBe(true);
    expect(mlflow.searches - before).toBe(1);
    expect(await reader.records('known')).not.toBeNull();
    // After the TTL, a miss lists again (a campaign started since then is found).
    mlflow.addCampaign('quad', 'later', 2);
    expect(await reader.records('later')).toBeNull();
    now.t = 6000;
    expect(await reader.records('later')).not.toBeNull();
  });
});
