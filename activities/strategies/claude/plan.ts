/** Which agents speak in a call, and how many hypotheses each owes. */
import type { StrategyView } from '../../../domain/strategy.js';
import { agentDirections, type AgentBrief } from './prompt.js';

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
