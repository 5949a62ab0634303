/**
 * Checks a problem spec against the parameters its experiment declares (`params`), so that a
 * spec exposing a parameter the experiment does not accept (e.g. one that would train on ground
 * truth) is refused when it is submitted, naming the field, instead of failing every trial.
 */
import type { ProblemSpec } from '../domain/schemas.js';
import type { Issue } from '../domain/errors.js';
import type { ExperimentDefinition } from './types.js';

/** Issues at `space.<i>.name`, `baseline.<param>` and `configurations.<name>.<param>`; none when the experiment declares no parameters. */
export function specParamIssues(
  spec: Pick<ProblemSpec, 'space' | 'baseline' | 'configurations'>,
  experiment: Pick<ExperimentDefinition, 'name' | 'params'>,
): Issue[] {
  if (!experiment.params) return [];
  const accepted = new Set(Object.keys(experiment.params.shape));
  const unknown = (name: string) =>
    `experiment "${experiment.name}" has no parameter "${name}" (it accepts ${[...accepted].join(', ')})`;
  const issues: Issue[] = [];
  spec.space.forEach((p, i) => {
    if (!accepted.has(p.name))
      issues.push({ path: ['space', i, 'name'], message: unknown(p.name) });
  });
  const configs: [(string | number)[], Record<string, unknown>][] = [
    [['baseline'], spec.baseline],
    ...Object.entries(spec.configurations).map(
      ([name, c]): [(string | number)[], Record<string, unknown>] => [['configurations', name], c],
    ),
  ];
  for (const [path, config] of configs)
    for (const k of Object.keys(config))
      if (!accepted.has(k)) issues.push({ path: [...path, k], message: unknown(k) });
  return issues;
}
