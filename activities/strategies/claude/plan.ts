/** The agents of a Claude campaign: their research directions, and which speak in a call. */
import type { StrategyView } from '../../../domain/strategy.js';

export interface AgentBrief {
  /** Author name on the agent's proposals and notes, e.g. "claude/explore". */
  name: string;
  direction: string;
  /** Hypotheses this agent proposes in this call. */
  count: number;
}

const GENERIC_DIRECTIONS: readonly { key: string; text: string }[] = [
  {
    key: 'exploit',
    text: 'Refine the best trials: make small, targeted changes (one or two parameters at a time) to the leaders, and find out which of their changes actually carry the gain.',
  },
  {
    key: 'explore',
    text: 'Explore: try bold changes in regions of the search space that no trial has visited yet, especially parameters the leaderboard has barely varied. A clear negative result is useful too.',
  },
  {
    key: 'mechanism',
    text: 'Explain: form a hypothesis about why the best configurations work, and design changes that would confirm or refute that mechanism.',
  },
  {
    key: 'robustness',
    text: 'Make gains hold: prefer changes that reduce variance across seeds and raise the lower confidence bound of PGR, and combine improvements that look independent.',
  },
];

/**
 * One direction per agent: the configured ones, else generic research stances, then (beyond
 * four agents) a focus on a share of the search space each.
 */
export function agentDirections(view: StrategyView): { name: string; direction: string }[] {
  if (view.strategy.name !== 'claude') return [];
  const { directions, agents } = view.strategy.settings;
  if (directions.length > 0)
    return directions.map((d, i) => ({ name: `claude/direction-${i + 1}`, direction: d }));
  const out: { name: string; direction: string }[] = [];
  const extra = Math.max(0, agents - GENERIC_DIRECTIONS.length);
  for (let i = 0; i < Math.min(agents, GENERIC_DIRECTIONS.length); i++) {
    const g = GENERIC_DIRECTIONS[i]!;
    out.push({ name: `claude/${g.key}`, direction: g.text });
  }
  const names = view.problem.space.map((p) => p.name);
  for (let i = 0; i < extra; i++) {
    const share = names.filter((_, j) => j % extra === i);
    out.push({
      name: `claude/focus-${i + 1}`,
      direction: `Focus on these parameters and their interactions with the rest: ${share.join(', ') || names.join(', ')}.`,
    });
  }
  return out;
}

/**
 * Agents that speak in this call and how many hypotheses each owes: agents whose last call failed
 * on an outage first, then the rest in an order that rotates with the iteration.
 */
export function planAgents(view: StrategyView): AgentBrief[] {
  if (view.strategy.name !== 'claude') return [];
  const settings = view.strategy.settings;
  const all = agentDirections(view);
  if (all.length === 0 || view.count <= 0) return [];
  const quota = new Map<number, number>();
  let left = Math.min(view.count, all.length * settings.hypothesesPerAgent);
  const start = view.iteration % all.length;
  const retry = new Set(view.retryAgents ?? []);
  const rotation = all.map((_, k) => (start + k) % all.length);
  const order = [
    ...rotation.filter((i) => retry.has(all[i]!.name)),
    ...rotation.filter((i) => !retry.has(all[i]!.name)),
  ];
  for (let round = 0; left > 0; round++) {
    for (let k = 0; k < order.length && left > 0; k++) {
      const i = order[k]!;
      if ((quota.get(i) ?? 0) < settings.hypothesesPerAgent) {
        quota.set(i, (quota.get(i) ?? 0) + 1);
        left--;
      }
    }
  }
  return [...quota.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, count]) => ({ ...all[i]!, count }));
}
