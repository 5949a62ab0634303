import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from './errors.js';
import { EvaluationCriteria, ProblemSpec, SearchSpace } from './schemas.js';
import type { Config, Param } from './schemas.js';
import {
  activeParams,
  applyChanges,
  checkSpecAndCriteria,
  defaultValue,
  distance,
  findDuplicate,
  normalize,
  normalizedDimension,
  sampleConfig,
  seededRng,
  validateConfig,
} from './space.js';

const space = SearchSpace.parse([
  { name: 'optimizer', kind: 'categorical', choices: ['adam', 'sgd'] },
  { name: 'lr', kind: 'float', low: 1e-5, high: 1, log: true },
  {
    name: 'momentum',
    kind: 'float',
    low: 0,
    high: 0.99,
    condition: { parent: 'optimizer', values: ['sgd'] },
  },
  { name: 'nesterov', kind: 'boolean', condition: { parent: 'optimizer', values: ['sgd'] } },
  {
    name: 'lookahead',
    kind: 'int',
    low: 1,
    high: 8,
    condition: { parent: 'nesterov', values: [true] },
  },
  { name: 'width', kind: 'int', low: 1, high: 1024, log: true },
]);
const adam: Config = { optimizer: 'adam', lr: 0.001, width: 64 };
const sgd: Config = {
  optimizer: 'sgd',
  lr: 0.1,
  momentum: 0.9,
  nesterov: true,
  lookahead: 3,
  width: 64,
};

describe('activeParams', () => {
  it('resolves nested conditions', () => {
    expect(activeParams(space, adam).map((p) => p.name)).toEqual(['optimizer', 'lr', 'width']);
    expect(activeParams(space, sgd).map((p) => p.name)).toEqual([
      'optimizer',
      'lr',
      'momentum',
      'nesterov',
      'lookahead',
      'width',
    ]);
    // lookahead's parent is active but false; with the grandparent inactive, nesterov=true does not count.
    expect(activeParams(space, { ...sgd, nesterov: false }).map((p) => p.name)).not.toContain(
      'lookahead',
    );
    expect(activeParams(space, { ...adam, nesterov: true }).map((p) => p.name)).not.toContain(
      'lookahead',
    );
  });
});

describe('validateConfig', () => {
  it('accepts valid configurations', () => {
    expect(validateConfig(space, adam)).toEqual([]);
    expect(validateConfig(space, sgd)).toEqual([]);
  });
  it('reports every problem with the parameter as path', () => {
    const issues = validateConfig(space, {
      optimizer: 'rmsprop',
      lr: 2,
      width: 3.5,
      momentum: 0.9,
      extra: 1,
    });
    expect(issues).toEqual([
      { path: ['extra'], message: 'unknown parameter' },
      { path: ['optimizer'], message: '"rmsprop" is not one of "adam", "sgd"' },
      { path: ['lr'], message: '2 is above the maximum 1' },
      {
        path: ['momentum'],
        message: 'parameter is inactive (applies only when optimizer is "sgd"); remove it',
      },
      { path: ['width'], message: 'expected an integer, got 3.5' },
    ]);
  });
  it('reports missing active parameters and wrong types', () => {
    const issues = validateConfig(space, {
      optimizer: 'sgd',
      lr: 'fast',
      nesterov: 'yes',
      width: 0,
    });
    expect(issues).toEqual([
      { path: ['lr'], message: 'expected a finite number, got string' },
      {
        path: ['momentum'],
        message: 'missing value for active parameter (applies only when optimizer is "sgd")',
      },
      { path: ['nesterov'], message: 'expected true or false, got string' },
      { path: ['width'], message: '0 is below the minimum 1' },
    ]);
  });
});

describe('applyChanges', () => {
  it('drops parameters that became inactive', () => {
    expect(applyChanges(space, sgd, { optimizer: 'adam' })).toEqual({
      optimizer: 'adam',
      lr: 0.1,
      width: 64,
    });
  });
  it('fills newly active parameters from the baseline, else the midpoint / first choice / false', () => {
    expect(applyChanges(space, adam, { optimizer: 'sgd' })).toEqual({
      optimizer: 'sgd',
      lr: 0.001,
      momentum: 0.495,
      nesterov: false,
      width: 64,
    });
    expect(
      applyChanges(space, adam, { optimizer: 'sgd', nesterov: true }, { baseline: sgd }),
    ).toEqual({ ...sgd, lr: 0.001 });
    expect(defaultValue(space[1]!)).toBeCloseTo(Math.sqrt(1e-5), 12);
    expect(defaultValue(space[5]!)).toBe(32);
  });
  it('keeps a "__proto__" key as data so validation reports it', () => {
    const changes = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(() => applyChanges(space, adam, changes)).toThrow(/__proto__: unknown parameter/);
  });
  it('ignores an invalid baseline value when choosing a default', () => {
    expect(defaultValue(space[2]!, { momentum: 5 })).toBe(0.495);
  });
  it('rejects changes to unknown or inactive parameters and bad values, naming them', () => {
    expect(() => applyChanges(space, adam, { momentum: 0.5 })).toThrow(InvalidConfigError);
    expect(() => applyChanges(space, adam, { momentum: 0.5 })).toThrow(
      /momentum: parameter is inactive/,
    );
    expect(() => applyChanges(space, adam, { dropout: 0.5, lr: 10 })).toThrow(
      /dropout: unknown parameter; lr: 10 is above the maximum 1/,
    );
  });
});

describe('normalize, distance, duplicates', () => {
  it('normalizes to [0, 1] with log scale and one-hot categories', () => {
    const v = normalize(space, {
      optimizer: 'sgd',
      lr: 0.001,
      momentum: 0.99,
      nesterov: true,
      lookahead: 1,
      width: 32,
    });
    expect(v).toHaveLength(normalizedDimension(space));
    expect(v.slice(0, 2)).toEqual([0, 1]);
    expect(v[2]).toBeCloseTo(0.4, 12); // log10: (-3 + 5) / 5
    expect(v.slice(3, 6)).toEqual([1, 1, 0]);
    expect(v[6]).toBeCloseTo(0.5, 12); // log2(32) / log2(1024)
    expect(normalize(space, adam).slice(3, 6)).toEqual([0, 0, 0]);
  });
  it('measures the largest per-parameter difference; activity mismatch is 1', () => {
    expect(distance(space, adam, adam)).toBe(0);
    expect(distance(space, adam, { ...adam, lr: 0.01 })).toBeCloseTo(0.2, 12);
    expect(distance(space, adam, sgd)).toBe(1);
    expect(distance(space, sgd, { ...sgd, momentum: 0.801 })).toBeCloseTo(0.1, 12);
  });
  it('finds exact and near duplicates', () => {
    const tried = [sgd, adam, { ...adam, lr: 0.00101 }];
    expect(findDuplicate(space, { ...adam }, tried)).toEqual({ index: 1, distance: 0 });
    expect(findDuplicate(space, { ...adam, lr: 0.001001 }, tried)).toBeNull();
    const near = findDuplicate(space, { ...adam, lr: 0.001001 }, tried, 0.01);
    expect(near?.index).toBe(1);
    expect(findDuplicate(space, { ...adam, width: 65 }, tried)).toBeNull();
  });
  it('finds what the distance to each earlier configuration finds (the first of equals)', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: 0, max: 40 }),
        fc.constantFrom(1e-6, 0.05, 0.3),
        (seed, n, tol) => {
          const rng = seededRng(seed);
          const tried = Array.from({ length: n }, () => sampleConfig(space, rng));
          // Some exact repeats, and an invalid value, among them.
          if (n > 2) tried.push({ ...tried[1]! }, { ...tried[0]!, width: -3 });
          const probe = n > 0 && rng() < 0.5 ? { ...tried[n - 1]! } : sampleConfig(space, rng);
          let brute: { index: number; distance: number } | null = null;
          tried.forEach((t, index) => {
            const d = distance(space, probe, t);
            if (d <= tol && (brute === null || d < brute.distance)) brute = { index, distance: d };
          });
          expect(findDuplicate(space, probe, tried, tol)).toEqual(brute);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('sampling', () => {
  it('is deterministic per seed', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(seededRng(43)()).not.toBe(xs[0]);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('gives unrelated first draws for consecutive seeds (campaign seed + iteration)', () => {
    const first = Array.from({ length: 200 }, (_, s) => seededRng(s)());
    const mean = first.reduce((a, b) => a + b, 0) / first.length;
    expect(mean).toBeGreaterThan(0.42);
    expect(mean).toBeLessThan(0.58);
    expect(first.filter((x) => x < 0.5).length).toBeGreaterThan(80);
  });

  it('respects the log scale (log-uniform lr: a fifth of the decades per fifth)', () => {
    const rng = seededRng(7);
    const n = 4000;
    let below1e3 = 0;
    let lowWidth = 0;
    for (let i = 0; i < n; i++) {
      const c = sampleConfig(space, rng);
      if ((c.lr as number) < 1e-3) below1e3++;
      if ((c.width as number) <= 31) lowWidth++;
    }
    expect(below1e3 / n).toBeGreaterThan(0.36); // expected 0.4
    expect(below1e3 / n).toBeLessThan(0.44);
    // log-uniform int over [1, 1025): P(width <= 31) = ln 32 / ln 1025 = 0.4999
    expect(lowWidth / n).toBeGreaterThan(0.46);
    expect(lowWidth / n).toBeLessThan(0.54);
  });

  it('hits every integer and every choice', () => {
    const rng = seededRng(1);
    const seen = new Set<unknown>();
    const opts = new Set<unknown>();
    for (let i = 0; i < 500; i++) {
      const c = sampleConfig(space, rng);
      if (c.lookahead !== undefined) seen.add(c.lookahead);
      opts.add(c.optimizer);
    }
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(opts.size).toBe(2);
  });

  // Arbitrary search spaces: parameters of every kind, conditions on earlier categorical/boolean parameters.
  const spaceArb = fc
    .array(
      fc.record({
        kind: fc.constantFrom('float', 'int', 'categorical', 'boolean'),
        a: fc.integer({ min: -1000, max: 1000 }),
        span: fc.integer({ min: 1, max: 10_000 }),
        log: fc.boolean(),
        choices: fc.integer({ min: 1, max: 5 }),
        numericChoices: fc.boolean(),
        parent: fc.option(fc.nat(), { nil: undefined }),
        pick: fc.nat(),
      }),
      { minLength: 1, maxLength: 8 },
    )
    .map((shapes) => {
      const params: Record<string, unknown>[] = [];
      shapes.forEach((s, i) => {
        const p: Record<string, unknown> = { name: `p${i}`, kind: s.kind };
        if (s.kind === 'float' || s.kind === 'int') {
          const scale = s.kind === 'float' ? 0.01 : 1;
          const low = s.log ? Math.abs(s.a) * scale + (s.kind === 'float' ? 1e-4 : 1) : s.a * scale;
          Object.assign(p, { low, high: low + s.span * scale, log: s.log });
        }
        if (s.kind === 'categorical')
          p.choices = Array.from({ length: s.choices }, (_, k) =>
            s.numericChoices ? k * 1.5 : `c${k}`,
          );
        const parents = params.filter((q) => q.kind === 'categorical' || q.kind === 'boolean');
        if (s.parent !== undefined && parents.length > 0) {
          const q = parents[s.parent % parents.length]!;
          const values =
            q.kind === 'boolean'
              ? [s.pick % 2 === 0]
              : [(q.choices as unknown[])[s.pick % (q.choices as unknown[]).length]];
          p.condition = { parent: q.name, values };
        }
        params.push(p);
      });
      return SearchSpace.parse(params);
    });

  it('samples valid configurations of arbitrary spaces (property)', () => {
    fc.assert(
      fc.property(spaceArb, fc.integer(), (sp, s) => {
        const rng = seededRng(s);
        for (let i = 0; i < 5; i++) {
          const c = sampleConfig(sp, rng);
          expect(validateConfig(sp, c)).toEqual([]);
          for (const p of sp as Param[]) {
            const v = c[p.name];
            if (v === undefined || (p.kind !== 'float' && p.kind !== 'int')) continue;
            expect(v).toBeGreaterThanOrEqual(p.low);
            expect(v).toBeLessThanOrEqual(p.high);
            if (p.kind === 'int') expect(Number.isInteger(v)).toBe(true);
          }
          const vec = normalize(sp, c);
          expect(vec).toHaveLength(normalizedDimension(sp));
          for (const x of vec) expect(x >= 0 && x <= 1).toBe(true);
          expect(distance(sp, c, c)).toBe(0);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('applyChanges with a full valid configuration yields exactly that configuration (property)', () => {
    fc.assert(
      fc.property(spaceArb, fc.integer(), (sp, s) => {
        const rng = seededRng(s);
        const parent = sampleConfig(sp, rng);
        const other = sampleConfig(sp, rng);
        expect(applyChanges(sp, parent, other)).toEqual(other);
        expect(applyChanges(sp, parent, {})).toEqual(parent);
        const d = distance(sp, parent, other);
        expect(d).toBe(distance(sp, other, parent));
        expect(d >= 0 && d <= 1).toBe(true);
        expect(findDuplicate(sp, other, [parent, other])?.distance).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe('checkSpecAndCriteria', () => {
  const spec = ProblemSpec.parse({
    id: 'w2s',
    title: 'Weak to strong',
    question: 'q',
    experiment: 'w2s-mini',
    space,
    baseline: adam,
    configurations: { ceiling: sgd, broken: { optimizer: 'adam', lr: 5, width: 64 } },
  });
  const criteria = EvaluationCriteria.parse({
    metric: 'acc',
    direction: 'maximize',
    baseline: { kind: 'value', value: 0.7 },
    optimum: { kind: 'measure', configuration: 'strong' },
    hiddenMetrics: ['heldout'],
    constraints: [{ kind: 'relative', metric: 'latency', op: '<=', factor: 1.1 }],
    budgets: { maxTrials: 5 },
  });
  it('reports every inconsistency with a rooted path', () => {
    const issues = checkSpecAndCriteria(spec, criteria, ['acc', 'loss']);
    expect(issues.map((i) => i.path.join('.'))).toEqual([
      'spec.configurations.broken.lr',
      'criteria.constraints.0.metric',
      'criteria.hiddenMetrics.0',
      'criteria.optimum.configuration',
      'criteria.constraints.0',
    ]);
    expect(issues[1]!.message).toBe(
      'the experiment does not report metric "latency" (it reports: acc, loss)',
    );
    expect(issues[3]!.message).toContain('unknown configuration "strong"');
  });
  it('passes a consistent pair and skips metric checks when the experiment does not declare metrics', () => {
    const good = { ...spec, configurations: { ceiling: sgd } };
    const ok = EvaluationCriteria.parse({
      ...criteria,
      baseline: { kind: 'measure', configuration: 'baseline' },
      optimum: { kind: 'measure', configuration: 'ceiling' },
    });
    expect(checkSpecAndCriteria(good, ok, ['acc', 'heldout', 'latency'])).toEqual([]);
    expect(checkSpecAndCriteria(good, ok)).toEqual([]);
    expect(checkSpecAndCriteria(good, ok, ['acc']).map((i) => i.path.join('.'))).toEqual([
      'criteria.constraints.0.metric',
      'criteria.hiddenMetrics.0',
    ]);
  });
});
