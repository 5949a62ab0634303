/**
 * The API's response types as the UI uses them. Everything is imported from the server's
 * contract (api/schemas.ts) and the domain (never copied), so a change of shape there
 * breaks the UI's type check. Type-only: no zod reaches the bundle.
 */
export type {
  ApiConfig,
  AuditEntry,
  CampaignListItem,
  CampaignRef,
  CampaignReport,
  CampaignStatus,
  Compare,
  CompareCampaign,
  CriteriaVersion,
  CurveSeries,
  ErrorBody,
  ExperimentSummary,
  Lineage,
  LineageNode,
  Me,
  Note,
  PendingApproval,
  ProblemState,
  SeedRecord,
  SourceView,
  TrialCurves,
  TrialDetail,
  TrialDiff,
  TrialRecord,
  TrialsPage,
  TrialSummary,
} from '../../api/schemas.js';
export type {
  Config,
  Constraint,
  EvaluationCriteria,
  Flag,
  HypothesisProposalInput,
  Param,
  ProblemSpec,
} from '../../domain/schemas.js';
export type {
  CompareRow,
  ComparedTrial,
  Importance,
  TableCell,
  TableColumn,
  TrialComparison,
  TrialTable,
} from '../../api/views.js';
