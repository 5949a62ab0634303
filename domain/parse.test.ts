import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import {
  criteriaJsonSchema,
  formatIssues,
  parseCriteria,
  parseProblemSpec,
  problemSpecJsonSchema,
} from './parse.js';

const validSpec = {
  id: 'w2s-mini',
  title: 'Weak to strong, small',
  question: 'How much of the gap can a student recover from weak labels?',
  experiment: 'w2s-mini',
  space: [
    { name: 'optimizer', kind: 'categorical', choices: ['adam', 'sgd'] },
    { name: 'lr', kind: 'float', low: 0.0001, high: 1, log: true },
    {
      name: 'momentum',
      kind: 'float',
      low: 0,
      high: 0.99,
      condition: { parent: 'optimizer', values: ['sgd'] },
    },
    { name: 'epochs', kind: 'int', low: 1, high: 50 },
  ],
  baseline: { optimizer: 'adam', lr: 0.001, epochs: 10 },
  configurations: { ceiling: { optimizer: 'adam', lr: 0.001, epochs: 50 } },
};

const validCriteria = {
  metric: 'acc',
  direction: 'maximize',
  baseline: { kind: 'measure', configuration: 'baseline', seeds: 5 },
  optimum: { kind: 'measure', configuration: 'ceiling' },
  hiddenMetrics: ['heldout_acc'],
  constraints: [{ kind: 'relative', metric: 'latency', op: '<=', factor: 1.1 }],
  budgets: { maxTrials: 50, concurrency: 4 },
  stagnation: { iterations: 10 },
};

const yamlSpec = `
id: w2s-mini
title: Weak to strong, small
question: How much of the gap can a student recover?
experiment: w2s-mini
space:
  - { name: lr, kind: float, low: 0.0001, high: 1, log: true }
  - { name: epochs, kind: int, low: 1, high: 50 }
baseline: { lr: 0.001, epochs: 10 }
`;

function rejection(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw new Error(`expected a ValidationError, got ${String(err)}`);
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

describe('parseProblemSpec', () => {
  it('accepts YAML, JSON text and objects, applying defaults', () => {
    const fromYaml = parseProblemSpec(yamlSpec, 'spec.yaml');
    expect(fromYaml.space[0]).toMatchObject({ name: 'lr', log: true });
    expect(fromYaml.context).toBe('');
    expect(fromYaml.configurations).toEqual({});
    expect(parseProblemSpec(JSON.stringify(validSpec))).toEqual(parseProblemSpec(validSpec));
  });
  it('prefixes zod-prettified errors with the source and keeps the paths', () => {
    const e = rejection(() => parseProblemSpec({ ...validSpec, id: 'Bad Id' }, 'spec.yaml'));
    expect(e.message.startsWith('spec.yaml:\n✖')).toBe(true);
    expect(e.message).toContain('→ at id');
    expect(formatIssues(e.issues)).toEqual([
      { path: 'id', message: expect.stringContaining('lowercase') },
    ]);
  });
  it('reports YAML syntax errors with the location', () => {
    const e = rejection(() => parseProblemSpec('id: [1, 2', 'spec.yaml'));
    expect(e.message).toMatch(/^spec\.yaml: not valid YAML or JSON: .*line 1/);
    expect(formatIssues(e.issues)[0]!.path).toBe('(root)');
  });
  it('checks the baseline and configurations against the space', () => {
    const e = rejection(() =>
      parseProblemSpec({
        ...validSpec,
        baseline: { optimizer: 'adam', lr: 5 },
        configurations: { c: { ...validSpec.baseline, momentum: 0.5 } },
      }),
    );
    expect(formatIssues(e.issues).map((i) => i.path)).toEqual([
      'baseline.lr',
      'baseline.epochs',
      'configurations.c.momentum',
    ]);
    expect(e.message).toContain('→ at baseline.lr');
  });
});

describe('parseCriteria', () => {
  it('accepts YAML and applies defaults', () => {
    expect(parseCriteria(validCriteria).stagnation).toEqual({
      iterations: 10,
      minImprovement: 0.01,
    });
    const c = parseCriteria(
      'metric: acc\ndirection: minimize\nbaseline: {kind: value, value: 2}\noptimum: {kind: value, value: 1}\nbudgets: {maxTrials: 3}\n',
    );
    expect(c).toMatchObject({
      seedsPerTrial: 5,
      confidence: 0.95,
      targetPgr: 1,
      budgets: { concurrency: 4 },
    });
  });
  it('names the field of cross-field errors', () => {
    const e = rejection(() =>
      parseCriteria(
        {
          ...validCriteria,
          baseline: { kind: 'value', value: 0.9 },
          optimum: { kind: 'value', value: 0.7 },
        },
        'criteria.json',
      ),
    );
    expect(formatIssues(e.issues)).toEqual([
      {
        path: 'optimum.value',
        message: 'for a metric to maximize, optimum must be above baseline',
      },
    ]);
    expect(e.message.startsWith('criteria.json:\n')).toBe(true);
  });
});

describe('JSON Schema export', () => {
  it('describes the input documents', () => {
    const spec = problemSpecJsonSchema() as {
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(spec.required).toEqual(
      expect.arrayContaining(['id', 'title', 'question', 'experiment', 'space', 'baseline']),
    );
    expect(spec.required).not.toContain('context'); // has a default: optional on input
    const criteria = criteriaJsonSchema() as {
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(Object.keys(criteria.properties)).toEqual(
      expect.arrayContaining(['metric', 'budgets', 'constraints']),
    );
    expect(criteria.required).not.toContain('seedsPerTrial');
  });
});

// ---------------------------------------------------------------------------------------------
// Generated bad inputs: each mutation makes the document invalid at a known path.
// ---------------------------------------------------------------------------------------------

type Doc = Record<string, unknown>;
type Mutation = { path: (string | number)[]; apply: (d: Doc) => void };
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const notString = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.constant({}),
);
const notNumber = fc.oneof(
  fc.string({ maxLength: 5 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant({}),
  fc.constant([1]),
);
const get = (d: Doc, path: (string | number)[]): Doc => path.reduce<Doc>((o, k) => o[k] as Doc, d);
const set = (path: (string | number)[], value: unknown): Mutation => ({
  path,
  apply: (d) => {
    get(d, path.slice(0, -1))[path.at(-1)!] = value;
  },
});
const remove = (path: (string | number)[]): Mutation => ({
  path,
  apply: (d) => {
    delete get(d, path.slice(0, -1))[path.at(-1)!];
  },
});

const specMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .constantFrom('id', 'title', 'question', 'experiment', 'space', 'baseline')
    .map((k) => remove([k])),
  fc
    .tuple(fc.constantFrom('id', 'title', 'question', 'experiment'), notString)
    .map(([k, v]) => set([k], v)),
  fc
    .string({ maxLength: 10 })
    .filter((s) => !/^[a-z0-9][a-z0-9._-]*$/.test(s))
    .map((s) => set(['id'], s)),
  fc.oneof(notString, fc.constant([])).map((v) => set(['space'], v)),
  fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.string({ maxLength: 8 }))
    .filter(([, k]) => !['float', 'int', 'categorical', 'boolean'].includes(k))
    .map(([i, k]) => set(['space', i, 'kind'], k)),
  fc.tuple(fc.constantFrom(1, 3), notNumber).map(([i, v]) => set(['space', i, 'low'], v)),
  fc.integer({ min: -100, max: 0 }).map((v) => set(['space', 1, 'low'], v)), // log scale needs low > 0
  fc.integer({ min: -5, max: 1 }).map((v) => set(['space', 3, 'high'], v)), // high <= low
  fc.constantFrom('missing', 'optimizer').map((parent): Mutation => ({
    path: ['space', 0, 'condition', 'parent'],
    apply: (d: Doc) => {
      (get(d, ['space', 0]) as Doc).condition = { parent, values: ['x'] };
    },
  })),
  fc
    .oneof(
      fc.double({ min: 1.0001, max: 1e6, noNaN: true }),
      fc.string({ maxLength: 4 }),
      fc.boolean(),
    )
    .map((v) => set(['baseline', 'lr'], v)),
  fc.integer({ min: 51, max: 1000 }).map((v) => set(['configurations', 'ceiling', 'epochs'], v)),
  fc
    .string({ minLength: 1, maxLength: 6 })
    .filter((k) => !['optimizer', 'lr', 'momentum', 'epochs', '__proto__'].includes(k))
    .map((k) => set(['baseline', k], 1)),
  fc
    .oneof(
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant('a'),
      fc.constant([1]),
      fc.constant({}),
    )
    .map((v) => set(['tags'], v)),
);

const criteriaMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom('metric', 'direction', 'baseline', 'optimum', 'budgets').map((k) => remove([k])),
  fc
    .string({ maxLength: 8 })
    .filter((s) => s !== 'maximize' && s !== 'minimize')
    .map((s) => set(['direction'], s)),
  notString.map((v) => set(['metric'], v)),
  fc.constantFrom('acc', 'heldout_acc').map((m): Mutation => ({
    path: ['hiddenMetrics'],
    apply: (d: Doc) => {
      d.hiddenMetrics = m === 'acc' ? ['acc'] : ['heldout_acc', 'heldout_acc'];
    },
  })),
  fc
    .oneof(
      fc.double({ min: -10, max: 0.5, noNaN: true }),
      fc.double({ min: 1, max: 10, noNaN: true }),
      notNumber,
    )
    .map((v) => set(['confidence'], v)),
  fc
    .oneof(
      fc.integer({ max: 0 }),
      fc.integer({ min: 101 }),
      fc.double({ min: 1.1, max: 1.9, noNaN: true }),
    )
    .map((v) => set(['seedsPerTrial'], v)),
  fc.constant(set(['budgets'], { concurrency: 2 })),
  fc.integer({ max: 0 }).map((v) => set(['budgets', 'maxTrials'], v)),
  fc
    .string({ maxLength: 6 })
    .filter((k) => k !== 'value' && k !== 'measure')
    .map((k) => set(['baseline', 'kind'], k)),
  fc.double({ min: -1, max: 1, noNaN: true }).map((v): Mutation => ({
    path: ['optimum', 'value'],
    apply: (d: Doc) => {
      d.baseline = { kind: 'value', value: v };
      d.optimum = { kind: 'value', value: v };
    },
  })),
  fc.constant<Mutation>({
    path: ['optimum', 'configuration'],
    apply: (d: Doc) => {
      d.optimum = { kind: 'measure', configuration: 'baseline' };
    },
  }),
  fc
    .oneof(fc.constant(0), fc.double({ min: -5, max: -0.001, noNaN: true }))
    .map((v) => set(['constraints', 0, 'factor'], v)),
  fc
    .string({ maxLength: 3 })
    .filter((s) => !['<=', '>=', '<', '>'].includes(s))
    .map((s) => set(['constraints', 0, 'op'], s)),
  fc.constant<Mutation>({
    path: ['constraints', 0, 'metric'],
    apply: (d: Doc) => {
      (get(d, ['constraints', 0]) as Doc).metric = 'heldout_acc';
    },
  }),
);

function expectRejectedAt(fn: () => unknown, path: (string | number)[]): void {
  const e = rejection(fn);
  expect(e.issues.length).toBeGreaterThan(0);
  for (const i of e.issues)
    expect(i.path.length > 0 || /expected|object/i.test(i.message)).toBe(true);
  const paths = e.issues.map((i) => i.path.join('.'));
  // The issue is at the mutated field or inside it (zod reports a wrong union member at a child path).
  expect(paths.some((p) => p === path.join('.') || p.startsWith(`${path.join('.')}.`))).toBe(true);
}

describe('generated bad documents', () => {
  it('every mutated problem spec is rejected at the mutated field (object and YAML text)', () => {
    fc.assert(
      fc.property(specMutation, (m) => {
        const doc = clone(validSpec) as Doc;
        m.apply(doc);
        expectRejectedAt(() => parseProblemSpec(doc), m.path);
        expectRejectedAt(() => parseProblemSpec(JSON.stringify(doc), 'spec.json'), m.path);
      }),
      { numRuns: 300 },
    );
  });

  it('every mutated criteria document is rejected at the mutated field', () => {
    fc.assert(
      fc.property(criteriaMutation, (m) => {
        const doc = clone(validCriteria) as Doc;
        m.apply(doc);
        expectRejectedAt(() => parseCriteria(doc), m.path);
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary values and text never throw anything but a ValidationError', () => {
    const input = fc.oneof(fc.anything(), fc.string(), fc.json(), fc.object());
    fc.assert(
      fc.property(input, (x) => {
        for (const parse of [parseProblemSpec, parseCriteria]) {
          try {
            parse(x);
          } catch (err) {
            expect(err).toBeInstanceOf(ValidationError);
            expect((err as ValidationError).issues.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Strict input: an unknown key is an error naming it, never dropped (a typo'd budget would
// otherwise leave the campaign without that cap).
// ---------------------------------------------------------------------------------------------

/** Objects of the valid documents whose keys are a fixed set (records such as `baseline` are not). */
const specObjects: (string | number)[][] = [
  [],
  ['space', 0],
  ['space', 1],
  ['space', 2],
  ['space', 2, 'condition'],
  ['space', 3],
];
const criteriaDoc = {
  ...validCriteria,
  approval: { enabled: false },
  verification: { topK: 2 },
};
const criteriaObjects: (string | number)[][] = [
  [],
  ['baseline'],
  ['optimum'],
  ['constraints', 0],
  ['budgets'],
  ['stagnation'],
  ['approval'],
  ['verification'],
];
const strayKey = fc
  .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,11}$/)
  .filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));

function expectUnknownKey(fn: () => unknown, at: (string | number)[], key: string): void {
  const e = rejection(fn);
  const at_ = at.length ? at.join('.') : '(root)';
  expect(
    formatIssues(e.issues).some(
      (i) => i.path === at_ && i.message.startsWith(`unknown key ${JSON.stringify(key)}`),
    ),
  ).toBe(true);
}

describe('unknown keys', () => {
  it('the example: budgets.maxDolars is refused at budgets, naming the key', () => {
    const e = rejection(() =>
      parseCriteria({ ...validCriteria, budgets: { maxTrials: 5, maxDolars: 1 } }, 'criteria.yaml'),
    );
    expect(formatIssues(e.issues)).toEqual([
      { path: 'budgets', message: 'unknown key "maxDolars": did you mean "maxDollars"?' },
    ]);
    expect(e.message).toContain('maxDolars');
  });

  it('every object of a problem spec refuses a key it does not know (object and YAML text)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...specObjects), strayKey, (at, key) => {
        const doc = clone(validSpec) as Doc;
        const target = get(doc, at);
        fc.pre(!(key in target));
        target[key] = 1;
        expectUnknownKey(() => parseProblemSpec(doc), at, key);
        expectUnknownKey(() => parseProblemSpec(JSON.stringify(doc), 'spec.json'), at, key);
      }),
      { numRuns: 200 },
    );
  });

  it('every object of a criteria document refuses a key it does not know', () => {
    expect(parseCriteria(criteriaDoc).verification.topK).toBe(2);
    fc.assert(
      fc.property(fc.constantFrom(...criteriaObjects), strayKey, (at, key) => {
        const doc = clone(criteriaDoc) as Doc;
        const target = get(doc, at);
        fc.pre(!(key in target));
        target[key] = 1;
        expectUnknownKey(() => parseCriteria(doc), at, key);
      }),
      { numRuns: 200 },
    );
  });

  it('the visibility of hidden values defaults to PIs until the campaign finishes', () => {
    expect(parseCriteria(validCriteria).hiddenMetricsVisibility).toBe('pi-until-finished');
    expect(
      parseCriteria({ ...validCriteria, hiddenMetricsVisibility: 'everyone' })
        .hiddenMetricsVisibility,
    ).toBe('everyone');
    const e = rejection(() => parseCriteria({ ...validCriteria, hiddenMetricsVisibility: 'all' }));
    expect(formatIssues(e.issues).map((i) => i.path)).toEqual(['hiddenMetricsVisibility']);
  });
});

describe('duplicate keys', () => {
  it('a repeated key in YAML is refused, naming the key and where it is', () => {
    const text = `${yamlSpec}tags: [a]\ntitle: Again\n`;
    const e = rejection(() => parseProblemSpec(text, 'spec.yaml'));
    expect(formatIssues(e.issues)).toEqual([{ path: '(root)', message: 'duplicate key title' }]);
    expect(e.message).toBe('spec.yaml: (root): duplicate key title');

    const nested =
      'metric: acc\ndirection: minimize\nbaseline: {kind: value, value: 2}\noptimum: {kind: value, value: 1}\n' +
      'budgets:\n  maxTrials: 3\n  maxTrials: 300\n';
    const n = rejection(() => parseCriteria(nested, 'criteria.yaml'));
    expect(formatIssues(n.issues)).toEqual([
      { path: 'budgets', message: 'duplicate key maxTrials' },
    ]);
  });

  it('a repeated key in JSON text is refused too, inside arrays as well', () => {
    const doc = JSON.stringify(validSpec).replace('"kind":"float"', '"kind":"float","kind":"int"');
    const e = rejection(() => parseProblemSpec(doc, 'spec.json'));
    expect(formatIssues(e.issues)).toEqual([{ path: 'space.1', message: 'duplicate key kind' }]);
  });

  it('generated documents with one key repeated are refused at that key', () => {
    fc.assert(
      fc.property(fc.constantFrom(...criteriaObjects), (at) => {
        const doc = clone(criteriaDoc) as Doc;
        const target = get(doc, at);
        const key = Object.keys(target)[0]!;
        const text = JSON.stringify(doc);
        // The first occurrence of the object's first key, re-stated right after itself.
        const json = JSON.stringify({ [key]: target[key] }).slice(1, -1);
        const at0 = text.indexOf(JSON.stringify(target));
        const dup = `${text.slice(0, at0 + 1)}${json},${text.slice(at0 + 1)}`;
        expect(() => JSON.parse(dup) as unknown).not.toThrow();
        const e = rejection(() => parseCriteria(dup, 'criteria.json'));
        expect(formatIssues(e.issues)).toContainEqual({
          path: at.length ? at.join('.') : '(root)',
          message: `duplicate key ${key}`,
        });
      }),
      { numRuns: 50 },
    );
  });
});
