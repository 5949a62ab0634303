import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../../domain/errors.js';
import { parseProblemSpec } from '../../domain/parse.js';
import { applyChanges } from '../../domain/space.js';
import { specParamIssues } from '../params.js';
import definition, { toModelParams, W2SParamsSchema } from './experiment.js';
import { runWeakToStrong } from './model.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
const builtinSpec = async () =>
  parseProblemSpec(await readFile(path.join(dir, 'problem.yaml'), 'utf8'), 'problem.yaml');

describe('weak-to-strong: no parameter trains on ground truth', () => {
  it('the experiment refuses train_on, naming it', () => {
    expect(Object.keys(W2SParamsSchema.shape)).not.toContain('train_on');
    expect(() => toModelParams({ train_on: 'ground_truth' })).toThrow(/train_on/);
    expect(() => toModelParams({ train_on: 'weak' })).toThrow(/train_on/);
  });

  it('a spec that exposes train_on is refused at the field (space, baseline, configurations)', async () => {
    const spec = await builtinSpec();
    expect(specParamIssues(spec, definition)).toEqual([]);
    const exposed = parseProblemSpec({
      ...spec,
      space: [
        ...spec.space,
        { name: 'train_on', kind: 'categorical', choices: ['weak', 'ground_truth'] },
      ],
      baseline: { ...spec.baseline, train_on: 'weak' },
      configurations: { ceiling: { ...spec.baseline, train_on: 'ground_truth' } },
    });
    const issues = specParamIssues(exposed, definition);
    expect(issues.map((i) => i.path.join('.'))).toEqual([
      `space.${spec.space.length}.name`,
      'baseline.train_on',
      'configurations.ceiling.train_on',
    ]);
    expect(issues[0]!.message).toContain('no parameter "train_on"');
  });

  it('a hypothesis that sets train_on on the built-in spec is refused, naming it', async () => {
    const spec = await builtinSpec();
    let err: unknown;
    try {
      applyChanges(spec.space, spec.baseline, { train_on: 'ground_truth' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as InvalidConfigError).issues.map((i) => i.path.join('.'))).toEqual(['train_on']);
  });

  it('the ceiling is still measured, by the harness, in every seed', () => {
    const r = runWeakToStrong(toModelParams({}), 1);
    expect(r.ceiling_dev_acc).toBeGreaterThan(r.weak_dev_acc);
  });
});
