/**
 * The check of one hypothesis an agent proposed: its parent, its parameter changes against the
 * search space, its code edits against the parent's source, and whether it repeats what was
 * tried. What fails gets reasons the repair round sends back to the agent.
 */
import { z } from 'zod';
import type { SourceEdit, SourceSnapshot } from '../../../domain/code.js';
import { InvalidConfigError, formatPath } from '../../../domain/errors.js';
import { HypothesisProposal, type Config, type ParamValue } from '../../../domain/schemas.js';
import { applyChanges } from '../../../domain/space.js';
import type { StrategyView } from '../../../domain/strategy.js';
import { diffConfig, type TriedSet } from '../common.js';
import { checkEdits, type CodeContext } from './code.js';
import { clip } from './text.js';
import type { WireHypothesis } from './reply.js';

export interface Checked {
  proposal?: HypothesisProposal;
  /** The source a proposal's edits make (for the compile check). */
  source?: SourceSnapshot;
  /** Whose source the edits apply to, in the agent's words. */
  parentLabel?: string;
  errors: string[];
  /** Why it was refused, for counting: unknown_parent, duplicate, invalid. */
  cause?: 'unknown_parent' | 'duplicate' | 'invalid';
}

/** Checks one wire hypothesis against parent, space and what was tried; accepts it into `tried`. */
export function checkHypothesis(
  view: StrategyView,
  h: WireHypothesis,
  tried: TriedSet,
  label: string,
  code?: CodeContext,
): Checked {
  const errors: string[] = [];
  let cause: Checked['cause'] = 'invalid';
  const { space, baseline } = view.problem;
  let parentId = h.parentTrialId;
  // Models sometimes spell "the baseline" as a string.
  if (parentId !== null && ['', 'null', 'none', 'baseline'].includes(parentId.trim().toLowerCase()))
    parentId = null;
  let parentConfig: Config = baseline;
  let parentSourceHash: string | undefined;
  if (parentId !== null) {
    const parent = view.history.find((t) => t.id === parentId);
    if (!parent) {
      cause = 'unknown_parent';
      errors.push(
        `parentTrialId "${clip(parentId, 80)}" is not a finished trial (use an id from the lists, or null for the baseline)`,
      );
    } else {
      parentConfig = parent.params;
      parentSourceHash = parent.sourceHash;
    }
  }
  let edits: SourceEdit[] | undefined;
  let source: SourceSnapshot | undefined;
  if (h.edits && h.edits.length > 0 && errors.length === 0) {
    const checked = checkEdits(code, parentSourceHash, parentId ?? 'the baseline', h.edits);
    errors.push(...checked.errors);
    edits = checked.edits;
    source = checked.source;
  }
  const entries = new Map<string, ParamValue>();
  for (const c of h.changes) {
    if (entries.has(c.param)) errors.push(`changes: "${clip(c.param, 64)}" is set twice`);
    entries.set(c.param, c.value);
  }
  // fromEntries makes own data properties, so a "__proto__" param is just an unknown name.
  const changes: Record<string, ParamValue> = Object.fromEntries(entries);
  if (h.changes.length === 0 && !h.edits?.length)
    errors.push(
      code
        ? 'changes and edits: both empty (a hypothesis must change a parameter or the source)'
        : 'changes: empty (a hypothesis must change at least one parameter)',
    );
  if (errors.length > 0) return { errors, cause };

  let config: Config;
  try {
    config = applyChanges(space, parentConfig, changes, { baseline });
  } catch (err) {
    if (err instanceof InvalidConfigError) {
      return {
        errors: err.issues.map((i) => `${formatPath(i.path)}: ${i.message}`),
        cause: 'invalid',
      };
    }
    throw err;
  }
  // A code change is a new configuration whatever its params: the campaign checks source + params.
  const dup = edits ? undefined : tried.duplicateOf(config);
  if (dup) return { errors: [`the resulting configuration is a ${dup}`], cause: 'duplicate' };

  const parsed = HypothesisProposal.safeParse({
    title: clip(h.title.trim() || 'untitled hypothesis', 200),
    rationale: clip(h.rationale, 5000),
    parentTrialId: parentId,
    // Spelled out relative to the parent, newly active parameters included, so the configuration
    // that runs does not depend on how the caller fills defaults.
    changes: diffConfig(space, parentConfig, config),
    expectedEffect: clip(h.expectedEffect, 2000),
    ...(edits ? { edits } : {}),
  });
  if (!parsed.success)
    return { errors: [z.prettifyError(parsed.error).replace(/\s+/g, ' ')], cause: 'invalid' };
  if (!edits) tried.add(config, `proposal "${label}"`);
  return {
    proposal: parsed.data,
    errors: [],
    ...(source ? { source, parentLabel: parentId ?? 'the baseline' } : {}),
  };
}
