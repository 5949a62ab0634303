/**
 * One agent's turn: its request, the check of each hypothesis it proposed, and one repair round
 * for invalid hypotheses, an unusable reply, or too few hypotheses. Every proposal gets a fate
 * (accepted, duplicate, sent back for repair, dropped) with a reason.
 */
import type { MessageParam } from '@anthropic-ai/sdk/resources/messages/messages';
import { callAgent } from './call.js';
import { checkCompiles } from './code.js';
import type { AgentContext, AgentOutcome } from './context.js';
import { checkHypothesis, type Checked } from './hypothesis.js';
import { clip } from './text.js';
import { DEFAULT_LIMITS, buildAgentMessage, buildRepairMessage } from './prompt.js';
import type { AgentBrief } from './plan.js';
import type { WireHypothesis } from './reply.js';

export async function runAgent(ctx: AgentContext, agent: AgentBrief): Promise<AgentOutcome> {
  const { view, options, redactor, tried } = ctx;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const outcome: AgentOutcome = {
    agent,
    proposals: [],
    dropped: [],
    problems: [],
    nano: 0,
    usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
  };
  const messages: MessageParam[] = [
    { role: 'user', content: redactor.apply(buildAgentMessage(view, agent, limits)) },
  ];

  const call = () => callAgent(ctx, outcome, messages);
  const first = await call();
  if (!first) return outcome;

  let missing = agent.count;
  interface Bad {
    title: string;
    errors: string[];
    cause: NonNullable<Checked['cause']>;
  }
  /** Accepts what is valid within the quota; returns the invalid ones. */
  const accept = async (
    hs: readonly WireHypothesis[],
    pass: 'first' | 'repair',
  ): Promise<Bad[]> => {
    const bad: Bad[] = [];
    for (const h of hs) {
      const title = clip(h.title.trim() || 'untitled', 200);
      if (missing <= 0) {
        outcome.dropped.push({
          title,
          reason: `beyond the ${agent.count} hypotheses asked of ${agent.name}${pass === 'repair' ? ' in the repair round' : ''}`,
          fate: 'dropped',
          cause: 'over_quota',
          author: agent.name,
        });
        continue;
      }
      const checked = checkHypothesis(view, h, tried, h.title, options.code);
      // Edits that apply must also compile (checked without running them), else they are repaired.
      const compileError = checked.proposal
        ? await checkCompiles(options.code, checked.source, checked.parentLabel ?? 'the baseline')
        : undefined;
      if (compileError) bad.push({ title, errors: [compileError], cause: 'invalid' });
      else if (checked.proposal) {
        outcome.proposals.push(checked.proposal);
        missing--;
      } else bad.push({ title, errors: checked.errors, cause: checked.cause ?? 'invalid' });
    }
    return bad;
  };
  /** Drops invalid proposals that get no (further) repair. */
  const dropBad = (bad: readonly Bad[], why: string) => {
    for (const b of bad)
      outcome.dropped.push({
        title: b.title,
        reason: clip(`${b.errors.join('; ')}; ${why}`, 1500),
        fate: b.cause === 'duplicate' ? 'duplicate' : 'dropped',
        cause: b.cause,
        author: agent.name,
      });
  };

  let toRepair: Bad[] = [];
  if (first.output) {
    toRepair = await accept(first.output.hypotheses, 'first');
    if (first.output.insight.trim()) outcome.insight = first.output.insight.trim();
  }

  // One repair round for invalid hypotheses, an unusable reply, or too few hypotheses.
  if (missing <= 0) {
    dropBad(toRepair, 'not repaired: the other hypotheses filled the quota');
    return outcome;
  }
  const problems =
    toRepair.length > 0 || first.problem
      ? toRepair
      : [
          {
            title: '(missing)',
            errors: [
              `you proposed ${agent.count - missing} of the ${agent.count} hypotheses asked`,
            ],
          },
        ];
  messages.push({ role: 'assistant', content: first.text.trim() || '(empty reply)' });
  messages.push({
    role: 'user',
    content: redactor.apply(buildRepairMessage(problems, missing, first.problem?.detail)),
  });
  const second = await call();
  if (second?.output) {
    for (const b of toRepair)
      outcome.dropped.push({
        title: b.title,
        reason: clip(`sent back for repair: ${b.errors.join('; ')}`, 1500),
        fate: 'repaired',
        cause: b.cause,
        author: agent.name,
      });
    const still = await accept(second.output.hypotheses, 'repair');
    dropBad(still, 'still invalid after the repair round');
    if (!outcome.insight && second.output.insight.trim())
      outcome.insight = second.output.insight.trim();
  } else {
    const why = second
      ? `the repair reply was unusable: ${second.problem.message}`
      : `not repaired: ${outcome.fatal ?? outcome.transient ?? outcome.skipped ?? 'the repair call was not made'}`;
    dropBad(toRepair, why);
  }
  return outcome;
}
