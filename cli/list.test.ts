/**
 * `gaplab list` over the API the server serves (the app on fakes): a header, then per campaign
 * its problem, strategy, phase, best PGR, verdict and stop reason.
 */
import { describe, expect, it } from 'vitest';
import type { CampaignListItem } from '../api/schemas.js';
import { auth, buildTestApp, FakeService } from '../test/support/fake-service.js';
import { listRows, mapLimited, renderList } from './list.js';

describe('gaplab list', () => {
  it('prints a header and what each campaign reached and why it stopped', async () => {
    const fake = new FakeService();
    const finished = fake.campaigns.get('c2')!;
    finished.report = {
      ...finished.report!,
      verdict: {
        trialId: 't0001',
        verdict: 'not_verified',
        visiblePgr: null,
        freshPgr: null,
        hiddenPgr: {},
        reasons: ['the PI stopped the campaign before verification'],
        headline: 'not verified: the PI stopped the campaign',
      },
    };
    const { app } = await buildTestApp({ fake });
    try {
      const get = async <T>(path: string): Promise<T> => {
        const res = await app.inject({ url: `/api${path}`, headers: auth('viewer') });
        if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.json().message}`);
        return res.json() as T;
      };
      const items = await get<CampaignListItem[]>('/campaigns');
      const gone: CampaignListItem = { ...items[0]!, campaignId: 'c-gone' };
      const text = renderList(await listRows([...items, gone], get));
      const lines = text.split('\n');
      expect(lines[0]).toMatch(
        /^CAMPAIGN +PROBLEM +STRATEGY +PHASE +BEST PGR +VERDICT +STOP REASON +STARTED$/,
      );
      const row = (id: string) => lines.find((l) => l.startsWith(`${id} `))!.split(/ {2,}/);
      expect(row('c1').slice(0, 4)).toEqual(['c1', 'quad', 'random', 'running']);
      // Running: its best so far (t0002 waits for review), no verdict or stop reason yet.
      expect(row('c1')[4]).toBe('0.100 [0.050, 0.150]');
      expect(row('c1').slice(5, 7)).toEqual(['-', '-']);
      const c2 = row('c2');
      expect(c2[3]).toBe('finished');
      expect(c2[6]).toBe('max_trials');
      expect(c2[5]).toBe('not verified');
      // A campaign whose status cannot be read still gets a row that says why.
      expect(row('c-gone')[3]).toMatch(/^\? \(.*not found/);
      // Columns line up under the header.
      const at = lines[0]!.indexOf('PHASE');
      for (const l of lines.slice(1)) expect(l.slice(at, at + 1)).not.toBe(' ');
    } finally {
      await app.close();
    }
  });

  it('asks a few at a time and keeps the order', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimited([5, 1, 4, 2, 3, 0, 6, 7], 3, async (ms) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, ms * 3));
      running -= 1;
      return ms * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60, 70]);
    expect(peak).toBe(3);
  });
});
