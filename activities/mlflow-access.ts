/**
 * Who may read what in an MLflow with authentication (stack/mlflow-auth.ts, docker-compose.yml):
 * MLflow's permissions are per experiment, and its server starts everyone at NO_PERMISSIONS.
 * The recording activities grant, as gaplab's service account (an MLflow admin):
 * - a problem's experiment (`gaplab/<problem>`): READ to the MLflow users of every gaplab role;
 * - a campaign's hidden experiment (`gaplab-hidden/<campaign>`, records/names.ts): READ to the PI
 *   role's user; to the others too when the criteria show hidden values to everyone, or once the
 *   campaign has ended under `pi-until-finished` (the same rule the API applies, server/hidden.ts).
 *
 * Against an MLflow without authentication (a client without credentials, or a server without
 * the permissions API) nothing is granted and nothing fails: every record is readable anyway.
 */
import {
  MlflowError,
  isAlreadyExists,
  isNotFound,
  type MlflowClient,
} from '../mlflow-ts-client/index.js';
import { TAG, hiddenExperimentName } from '../records/names.js';

/** The MLflow users of gaplab's roles (the names the stack and docker-compose create). */
export const MLFLOW_ROLE_USERS = { pi: 'pi', researcher: 'researcher', viewer: 'viewer' } as const;

/** Visibilities under which the hidden experiment opens to every role once the campaign ends. */
const RELEASED_AT_END: ReadonlySet<string> = new Set(['pi-until-finished', 'everyone']);

/** A server without MLflow's auth app has no permissions API: its 404 names no resource. */
const noPermissionsApi = (err: unknown) =>
  err instanceof MlflowError && err.status === 404 && !isNotFound(err);

export function createMlflowAccess(mlflow: MlflowClient) {
  const enabled = mlflow.authorization !== undefined;
  /** Hidden experiments by campaign (an experiment's id never changes). */
  const hiddenIds = new Map<string, string>();

  async function grant(experimentId: string, users: readonly string[]): Promise<void> {
    if (!enabled) return;
    for (const user of users) {
      try {
        await mlflow.grantExperimentPermission(experimentId, user, 'READ');
      } catch (err) {
        if (noPermissionsApi(err)) return;
        // Granted before (every grant here is READ): a retry, another worker, another campaign.
        if (isAlreadyExists(err)) continue;
        // A deployment without this role's user: nobody to grant.
        if (!isNotFound(err)) throw err;
      }
    }
  }

  const everyone = Object.values(MLFLOW_ROLE_USERS);
  const othersThanPi = [MLFLOW_ROLE_USERS.researcher, MLFLOW_ROLE_USERS.viewer];

  return {
    /** Every role reads the problem's experiment (no hidden value is written there mid-campaign). */
    shareProblemExperiment: (experimentId: string) => grant(experimentId, everyone),

    /**
     * The campaign's hidden experiment, created on first use with the PI role's reads (and
     * everyone's when `visibility` is `everyone`). `visibility` is the criteria's
     * hiddenMetricsVisibility, known when the campaign starts; later callers pass none.
     */
    async hiddenExperiment(
      campaignId: string,
      problemId: string,
      visibility?: string,
    ): Promise<string> {
      const cached = hiddenIds.get(campaignId);
      if (cached !== undefined && visibility === undefined) return cached;
      const id = await mlflow.getOrCreateExperiment(hiddenExperimentName(campaignId), {
        tags: {
          [TAG.campaignId]: campaignId,
          [TAG.problemId]: problemId,
          ...(visibility ? { [TAG.hiddenVisibility]: visibility } : {}),
        },
      });
      if (visibility) await mlflow.setExperimentTag(id, TAG.hiddenVisibility, visibility);
      await grant(id, visibility === 'everyone' ? everyone : [MLFLOW_ROLE_USERS.pi]);
      hiddenIds.set(campaignId, id);
      return id;
    },

    /**
     * At the campaign's end: every role may read its hidden experiment when the criteria say so
     * (tag `gaplab.hiddenMetricsVisibility`; absent means the default, `pi-until-finished`).
     * Returns whether it is open to every role; false when the campaign has no hidden experiment.
     */
    async releaseHidden(campaignId: string): Promise<boolean> {
      const exp = await mlflow.getExperimentByName(hiddenExperimentName(campaignId));
      if (!exp) return false;
      const visibility = exp.tags[TAG.hiddenVisibility] ?? 'pi-until-finished';
      if (!RELEASED_AT_END.has(visibility)) return false;
      await grant(exp.experimentId, othersThanPi);
      await mlflow.setExperimentTag(exp.experimentId, TAG.hiddenReleased, 'true');
      return true;
    },
  };
}

export type MlflowAccess = ReturnType<typeof createMlflowAccess>;
