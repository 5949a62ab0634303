/**
 * The problem entity: one long-lived workflow per problem (id `problem:<id>`) that holds the
 * researcher's spec, the PI's versioned evaluation criteria and the list of campaigns, with an
 * audit trail. Temporal is the store: no database of our own.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  workflowInfo,
} from '@temporalio/workflow';
import { setHandler } from '@temporalio/workflow';
import { formatPath } from '../domain/errors.js';
import type {
  Actor,
  CriteriaVersion,
  EvaluationCriteriaInput,
  ProblemSpec,
} from '../domain/schemas.js';
import { EvaluationCriteria } from '../domain/schemas.js';
import { checkSpecAndCriteria } from '../domain/space.js';
import type { StrategyConfig } from '../domain/strategy.js';
import { reject, requirePermission } from './failures.js';
import type { AuditEntry, ExperimentInfo } from './types.js';

export const problemWorkflowId = (problemId: string) => `problem:${problemId}`;

export interface CampaignRef {
  campaignId: string;
  strategy: StrategyConfig['name'];
  criteriaVersion: number;
  startedBy: Actor;
  startedAt: string;
  label?: string;
}

export interface ProblemInput {
  spec: ProblemSpec;
  experiment: ExperimentInfo;
  createdBy: Actor;
  createdAt: string;
  carried?: { criteria: CriteriaVersion[]; campaigns: CampaignRef[]; audit: AuditEntry[] };
}

export interface ProblemState {
  spec: ProblemSpec;
  experiment: ExperimentInfo;
  createdBy: Actor;
  createdAt: string;
  criteria: CriteriaVersion[];
  campaigns: CampaignRef[];
  audit: AuditEntry[];
}

export const setCriteriaUpdate = defineUpdate<
  CriteriaVersion,
  [{ actor: Actor; criteria: EvaluationCriteriaInput; reason?: string }]
>('setCriteria');
export const registerCampaignUpdate = defineUpdate<void, [{ actor: Actor; campaign: CampaignRef }]>(
  'registerCampaign',
);
export const problemQuery = defineQuery<ProblemState>('problem');

/** Validates criteria against the spec and the experiment; the message names each field. */
export function validateCriteria(
  spec: ProblemSpec,
  experiment: ExperimentInfo,
  input: unknown,
): EvaluationCriteria {
  const parsed = EvaluationCriteria.safeParse(input);
  if (!parsed.success) {
    const msg = parsed.error.issues
      .map((i) => `criteria.${formatPath(i.path)}: ${i.message}`)
      .join('; ');
    throw reject('InvalidInput', msg);
  }
  const issues = checkSpecAndCriteria(
    spec,
    parsed.data,
    experiment.metrics.map((m) => m.name),
  );
  if (issues.length > 0) {
    throw reject(
      'InvalidInput',
      issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '),
    );
  }
  return parsed.data;
}

export async function problemWorkflow(input: ProblemInput): Promise<void> {
  const state: ProblemState = {
    spec: input.spec,
    experiment: input.experiment,
    createdBy: input.createdBy,
    createdAt: input.createdAt,
    criteria: input.carried?.criteria ?? [],
    campaigns: input.carried?.campaigns ?? [],
    audit: input.carried?.audit ?? [
      {
        at: input.createdAt,
        actor: input.createdBy,
        action: 'submit problem',
        detail: input.spec.id,
      },
    ],
  };

  setHandler(
    setCriteriaUpdate,
    ({ actor, criteria, reason }) => {
      const version: CriteriaVersion = {
        version: state.criteria.length + 1,
        criteria: validateCriteria(state.spec, state.experiment, criteria),
        actor,
        reason: reason ?? '',
        createdAt: new Date().toISOString(),
      };
      state.criteria.push(version);
      state.audit.push({
        at: version.createdAt,
        actor,
        action: 'set criteria',
        detail: `v${version.version}${reason ? `: ${reason}` : ''}`,
      });
      return version;
    },
    {
      validator: ({ actor, criteria }) => {
        requirePermission(actor, 'setCriteria', 'set evaluation criteria');
        validateCriteria(state.spec, state.experiment, criteria);
      },
    },
  );

  setHandler(
    registerCampaignUpdate,
    ({ actor, campaign }) => {
      state.campaigns.push(campaign);
      state.audit.push({
        at: campaign.startedAt,
        actor,
        action: 'start campaign',
        detail: `${campaign.campaignId} (${campaign.strategy}, criteria v${campaign.criteriaVersion})`,
      });
    },
    {
      validator: ({ actor, campaign }) => {
        requirePermission(actor, 'startCampaign', 'start campaigns');
        if (!state.criteria.some((c) => c.version === campaign.criteriaVersion))
          throw reject(
            'NotFound',
            `criteriaVersion: no criteria version ${campaign.criteriaVersion}`,
          );
        if (state.campaigns.some((c) => c.campaignId === campaign.campaignId))
          throw reject('Conflict', `campaign ${campaign.campaignId} exists already`);
      },
    },
  );

  setHandler(problemQuery, () => state);

  // An entity lives until terminated; it renews its history now and then.
  await condition(
    () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2000,
  );
  await condition(allHandlersFinished);
  await continueAsNew<typeof problemWorkflow>({
    ...input,
    carried: { criteria: state.criteria, campaigns: state.campaigns, audit: state.audit },
  });
}
