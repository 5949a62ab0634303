/**
 * The analysis views: the trial table (columns, filter, sort, CSV with its quoting and formula
 * guard), selected trials side by side, and parameter importance through Optuna's evaluators in
 * the real Python service; each as the app serves it, redacted for the caller.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { TrialRecord } from '../api/schemas.js';
import { OptunaService } from '../stack/optuna-service.js';
import { paths } from '../stack/paths.js';
import { TAG } from '../records/names.js';
import { FakeMlflow } from '../test/support/fake-mlflow.js';
import { auth, buildTestApp, FakeService, trialSummary } from '../test/support/fake-service.js';
import { importanceHistory } from './routes/views.js';
import { filterRows, parseFilter, sortRows, toCsv, trialTable } from './views.js';
import { recordOfSummary } from '../api/schemas.js';

const record = (i: number, over: Partial<TrialRecord> = {}): TrialRecord => ({
  ...recordOfSummary(trialSummary(i)),
  ...over,
});

describe('the trial table', () => {
  const records = [
    record(0),
    record(1, { title: '=HYPERLINK("x"), "quoted"', params: { x: 1, lr: 0.01 } }),
    record(2, { pgr: null, status: 'failed' }),
    record(3),
  ];
  const { columns, rows } = trialTable(records);

  it('has a column per field, parameter and metric, typed as recorded', () => {
    const keys = columns.map((c) => c.key);
    expect(keys.slice(0, 3)).toEqual(['index', 'id', 'kind']);
    expect(keys).toEqual(
      expect.arrayContaining(['param.lr', 'param.x', 'param.y', 'metric.score', 'pgr']),
    );
    expect(columns.find((c) => c.key === 'param.x')?.type).toBe('number');
    expect(rows[1]!['param.lr']).toBe(0.01);
    expect(rows[0]!['param.lr']).toBeNull();
  });

  it('filters by clauses and sorts, empty cells last', () => {
    const f = parseFilter(columns, 'pgr >= 0.1; status = succeeded');
    expect(filterRows(rows, f).map((r) => r.id)).toEqual(['t0001', 't0003']);
    expect(filterRows(rows, [], 'QUOTED').map((r) => r.id)).toEqual(['t0001']);
    expect(sortRows(columns, rows, '-pgr').map((r) => r.id)).toEqual([
      't0003',
      't0001',
      'baseline',
      't0002',
    ]);
    expect(sortRows(columns, rows, 'pgr').at(-1)!.id).toBe('t0002');
  });

  it('says where a cascade pruned a trial, and filters on it', () => {
    const t = trialTable([
      ...records,
      record(4, { pgr: null, status: 'pruned', pruned: { stage: 1, score: 0.4123 } }),
    ]);
    expect(t.columns.find((c) => c.key === 'pruned')?.type).toBe('string');
    expect(t.rows.map((r) => r['pruned'])).toEqual([
      null,
      null,
      null,
      null,
      'pruned at stage 1 (score 0.412)',
    ]);
    const f = parseFilter(t.columns, 'status = pruned');
    expect(filterRows(t.rows, f).map((r) => r.id)).toEqual(['t0004']);
  });

  it('tells importance a pruned trial as pruned, a failed one as failed', () => {
    const history = importanceHistory([
      record(5, { pgr: null, status: 'pruned', pruned: { stage: 1, score: 0.4 } }),
      record(6, { pgr: null, status: 'failed' }),
    ]);
    expect(history.map((h) => [h.id, h.state])).toEqual([
      ['t0005', 'pruned'],
      ['t0006', 'fail'],
    ]);
  });

  it('refuses a column it does not have, naming the one likely meant', () => {
    expect(() => parseFilter(columns, 'pgrr > 1')).toThrow(
      'filter: no column "pgrr": did you mean "pgr"?',
    );
    expect(() => parseFilter(columns, 'pgr > high')).toThrow('"pgr" holds numbers');
    expect(() => parseFilter(columns, 'just words')).toThrow('cannot read "just words"');
    expect(() => sortRows(columns, rows, '-titel')).toThrow(
      'sort: no column "titel": did you mean "title"?',
    );
  });

  it('writes CSV a spreadsheet opens safely', () => {
    const csv = toCsv(columns, rows.slice(0, 2));
    const lines = csv.split('\r\n');
    expect(lines[0]!.startsWith('index,id,kind,title,')).toBe(true);
    expect(lines).toHaveLength(4);
    // Quoted, quotes doubled, and the formula turned into text.
    expect(lines[2]).toContain(`"'=HYPERLINK(""x""), ""quoted"""`);
    expect(lines[2]!.startsWith('1,t0001,search,')).toBe(true);
  });
});

/** An open campaign read from MLflow, with a hidden metric on its trials. */
function mlflowWithHidden(): FakeMlflow {
  const mlflow = new FakeMlflow();
  mlflow.addCampaign('quad', 'm-open', 3, false);
  for (const run of mlflow.runs)
    if (run.data.tags[TAG.kind] === 'trial' && 'score' in run.data.metrics)
      run.data.metrics['heldout_score'] = 0.4321987;
  return mlflow;
}

describe('the view routes', () => {
  it('serve the table as JSON and CSV, withholding hidden metrics from a researcher', async () => {
    const { app } = await buildTestApp({ fakeMlflow: mlflowWithHidden() });
    try {
      const pi = await app.inject({
        url: '/api/campaigns/m-open/table?sort=-pgr',
        headers: auth('pi'),
      });
      expect(pi.statusCode, pi.body).toBe(200);
      const piBody = pi.json();
      expect(piBody.rows.map((r: { id: string }) => r.id)).toEqual([
        't0003',
        't0002',
        't0001',
        'baseline',
      ]);
      expect(piBody.columns.map((c: { key: string }) => c.key)).toContain('metric.heldout_score');
      expect(pi.body).toContain('0.4321987');

      const res = await app.inject({
        url: '/api/campaigns/m-open/table',
        headers: auth('researcher'),
      });
      const body = res.json();
      expect(body.columns.map((c: { key: string }) => c.key)).not.toContain('metric.heldout_score');
      expect(body.withheld).toEqual(['heldout_score']);
      expect(res.body).not.toContain('0.43219');

      const csv = await app.inject({
        url: '/api/campaigns/m-open/table?format=csv&filter=pgr%3E0.15',
        headers: auth('viewer'),
      });
      expect(csv.statusCode).toBe(200);
      expect(csv.headers['content-type']).toContain('text/csv');
      expect(csv.headers['content-disposition']).toContain('m-open-trials.csv');
      // The header and t0002, t0003 (PGR 0.2, 0.3).
      expect(csv.body.split('\r\n').filter(Boolean)).toHaveLength(3);
      expect(csv.body).not.toContain('heldout');

      const bad = await app.inject({
        url: '/api/campaigns/m-open/table?sort=pgrr',
        headers: auth('pi'),
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toBe('sort: no column "pgrr": did you mean "pgr"?');
    } finally {
      await app.close();
    }
  });

  it('compare trials side by side and say which are missing', async () => {
    const { app } = await buildTestApp();
    try {
      const res = await app.inject({
        url: '/api/campaigns/c1/compare-trials?ids=t0001,t0002',
        headers: auth('pi'),
      });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body.trials.map((t: { trial: { id: string } }) => t.trial.id)).toEqual([
        't0001',
        't0002',
      ]);
      expect(body.params).toEqual([
        { name: 'x', values: [1, 2], differs: true },
        { name: 'y', values: [0, 0], differs: false },
      ]);
      expect(body.metrics.find((m: { name: string }) => m.name === 'score')).toEqual({
        name: 'score',
        values: [1, 2],
        differs: true,
      });

      const missing = await app.inject({
        url: '/api/campaigns/c1/compare-trials?ids=t0001,t0099',
        headers: auth('pi'),
      });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().message).toBe('trial t0099 not found in campaign c1');
      const one = await app.inject({
        url: '/api/campaigns/c1/compare-trials?ids=t0001',
        headers: auth('pi'),
      });
      expect(one.statusCode).toBe(400);
      expect(one.json().message).toContain('name at least two trials to compare');
    } finally {
      await app.close();
    }
  });

  it('compare without hidden metrics for a researcher while the campaign runs', async () => {
    const { app } = await buildTestApp({ fakeMlflow: mlflowWithHidden() });
    try {
      const url = '/api/campaigns/m-open/compare-trials?ids=t0001,t0003';
      const pi = await app.inject({ url, headers: auth('pi') });
      expect(pi.statusCode, pi.body).toBe(200);
      expect(pi.json().metrics.map((m: { name: string }) => m.name)).toContain('heldout_score');
      const researcher = await app.inject({ url, headers: auth('researcher') });
      expect(researcher.statusCode).toBe(200);
      expect(researcher.json().metrics.map((m: { name: string }) => m.name)).not.toContain(
        'heldout_score',
      );
      expect(researcher.body).not.toContain('0.43219');
    } finally {
      await app.close();
    }
  });

  it('ask the importance service with PGR as the value of each search trial', async () => {
    const asked: unknown[] = [];
    const optuna = {
      importance: (req: unknown) => {
        asked.push(req);
        return Promise.resolve({
          importances: { y: 0.25, x: 0.75 },
          trials: 2,
          evaluator: 'fanova' as const,
          ms: 1,
        });
      },
      close: () => Promise.resolve(),
    };
    const fake = new FakeService();
    const { app } = await buildTestApp({ fake, views: { optuna } });
    try {
      const res = await app.inject({
        url: '/api/campaigns/c1/importance',
        headers: auth('viewer'),
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({
        evaluator: 'fanova',
        target: 'pgr',
        importances: [
          { param: 'x', importance: 0.75 },
          { param: 'y', importance: 0.25 },
        ],
        note: null,
      });
      expect(asked).toHaveLength(1);
      expect(asked[0]).toMatchObject({
        direction: 'maximize',
        history: [
          { id: 't0001', value: 0.1, state: 'complete' },
          { id: 't0002', value: 0.2, state: 'complete' },
        ],
      });
      // The same trials are not asked about twice.
      await app.inject({ url: '/api/campaigns/c1/importance', headers: auth('pi') });
      expect(asked).toHaveLength(1);
      const bad = await app.inject({
        url: '/api/campaigns/c1/importance?evaluator=shap',
        headers: auth('pi'),
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toContain('fanova');
    } finally {
      await app.close();
    }
  });
});

const hasVenv = fs.existsSync(paths.venvPython);
describe('parameter importance by Optuna', () => {
  const services: OptunaService[] = [];
  afterAll(async () => Promise.all(services.map((s) => s.close())));

  it.skipIf(!hasVenv)(
    `finds the parameter PGR depends on (needs ${paths.venvPython}: run gaplab setup)`,
    async () => {
      const service = new OptunaService();
      services.push(service);
      // PGR follows lr; epochs is noise.
      const records = Array.from({ length: 24 }, (_, i) => {
        const lr = ((i * 7) % 24) / 24;
        const epochs = 1 + ((i * 5) % 19);
        return record(i + 1, {
          params: { lr, epochs },
          pgr: { mean: lr, stderr: 0, n: 2, ciLow: lr, ciHigh: lr },
        });
      });
      records.push(record(25, { status: 'failed', pgr: null, params: { lr: 0.5, epochs: 3 } }));
      const space = [
        { name: 'lr', kind: 'float' as const, low: 0, high: 1, log: false },
        { name: 'epochs', kind: 'int' as const, low: 1, high: 20, log: false },
      ];
      for (const evaluator of ['fanova', 'ped-anova'] as const) {
        const r = await service.importance({
          space,
          direction: 'maximize',
          history: importanceHistory(records),
          evaluator,
        });
        expect(r.trials).toBe(24);
        expect(r.importances.lr!, evaluator).toBeGreaterThan(0.8);
        expect(r.importances.lr!).toBeGreaterThan(r.importances.epochs!);
      }
      const few = await service.importance({
        space,
        direction: 'maximize',
        history: importanceHistory(records.slice(0, 2)),
      });
      expect(few).toMatchObject({ importances: {}, trials: 2 });
    },
    60_000,
  );
});
