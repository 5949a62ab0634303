/**
 * The one-command demo: installs what is missing, brings up the embedded stack (Temporal dev
 * server, MLflow), a worker and the API/UI server, submits the built-in weak-to-strong problem
 * with PI criteria, runs a real campaign (Claude with ANTHROPIC_API_KEY, Optuna otherwise) with
 * live progress, and prints the report. Ctrl-C stops everything it started.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Actor, EvaluationCriteriaInput } from '../domain/schemas.js';
import { loadRegistry } from '../experiments/registry.js';
import { EXPERIMENTS_DIR } from '../experiments/registry.js';
import { ServiceError } from '../server/errors.js';
import { startServer, type RunningServer } from '../server/server.js';
import { GaplabService } from '../server/service.js';
import { Stack, mlflowHealthy, temporalHealthy } from '../stack/index.js';
import { STATE_DIR } from '../stack/paths.js';
import { renderReportMarkdown, verdictLine } from '../domain/report.js';
import { formatEstimate, formatExact } from '../domain/format.js';
import type { CampaignReport } from '../api/schemas.js';
import { startWorker, type RunningWorker } from '../worker/index.js';
import { dataConverter } from '../temporal/data-converter.js';
import { recordServerAddress, writeDevTokens } from './api.js';
import { ensureUiBuilt } from './ui-build.js';
import { defaultStrategy, readDocument, watchCampaign } from './commands.js';
import { portOpen } from '../stack/process.js';
import { freePort } from '../stack/process.js';

export interface DemoOptions {
  /** Search trials in the campaign. @default 30 */
  trials: number;
  /** @default claude with ANTHROPIC_API_KEY, else optuna */
  strategy?: 'claude' | 'optuna' | 'random';
  /** Exit once the report is printed instead of keeping the UI up until Ctrl-C. */
  exit: boolean;
  /** API/UI port. @default 8700, or a free one when taken */
  port?: number;
  seed?: number;
  /** Trials in a row without a better best before the campaign stops. @default the criteria file's */
  patience?: number;
  log?: (line: string) => void;
}

/** Writes the report as markdown and JSON under the state folder; returns both paths. */
function saveReport(report: CampaignReport): { markdown: string; json: string } {
  const dir = path.join(STATE_DIR, 'reports');
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, report.campaignId.replace(/[^A-Za-z0-9._-]/g, '_'));
  fs.writeFileSync(`${base}.md`, renderReportMarkdown(report));
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  return { markdown: `${base}.md`, json: `${base}.json` };
}

const researcher: Actor = { name: 'demo-researcher', role: 'researcher' };
const pi: Actor = { name: 'demo-pi', role: 'pi' };

export async function runDemo(opts: DemoOptions): Promise<CampaignReport> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const cleanups: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    for (const c of cleanups.reverse())
      await c().catch((err: unknown) => log(`(while stopping: ${String(err)})`));
  };
  const onSignal = () => {
    log('\nStopping everything the demo started...');
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    log('gaplab demo: the weak-to-strong problem, end to end.\n');
    const stack = new Stack({ log: (l) => log(`  ${l}`) });
    const hadTemporal = await temporalHealthy(stack.temporalAddress);
    const hadMlflow = await mlflowHealthy(stack.mlflowUri);
    log(
      '1. The embedded stack (first run installs the Temporal CLI and a Python environment; this takes a few minutes once).',
    );
    await stack.up();
    // The worker and the server below write to this stack's MLflow with its service account.
    const mlflowService = stack.mlflowCredentials();
    if (mlflowService) {
      process.env.MLFLOW_TRACKING_USERNAME = mlflowService.username;
      process.env.MLFLOW_TRACKING_PASSWORD = mlflowService.password;
    }
    if (!hadTemporal) cleanups.push(() => stack.down('temporal'));
    if (!hadMlflow) cleanups.push(() => stack.down('mlflow'));

    log('2. A worker and the API/UI server.');
    await ensureUiBuilt(log);
    const registry = await loadRegistry();
    // Their log lines go to files beside the services' logs, not into the demo's output.
    const logs = {
      worker: path.join(stack.dir, 'logs', 'demo-worker.log'),
      server: path.join(stack.dir, 'logs', 'demo-server.log'),
    };
    fs.mkdirSync(path.dirname(logs.worker), { recursive: true });
    const worker: RunningWorker = await startWorker({
      temporalAddress: stack.temporalAddress,
      mlflowUri: stack.mlflowUri,
      registry,
      shutdownGraceSeconds: 2,
      logFile: logs.worker,
    });
    cleanups.push(() => worker.shutdown());
    const port = opts.port ?? ((await portOpen(8700)) ? await freePort() : 8700);
    const server: RunningServer = await startServer({
      config: {
        port,
        temporalAddress: stack.temporalAddress,
        mlflowUri: stack.mlflowUri,
        devTokens: true,
        logLevel: 'warn',
      },
      logger: { level: 'warn', file: logs.server },
      print: () => {},
    });
    log(
      `   Logs: ${path.join(stack.dir, 'logs')} (temporal.log, mlflow.log, demo-worker.log, demo-server.log)`,
    );
    cleanups.push(() => server.close());
    writeDevTokens(server.devTokens);
    recordServerAddress(server.url);

    const connection = await Connection.connect({ address: stack.temporalAddress });
    cleanups.push(() => connection.close());
    const service = new GaplabService({
      client: new Client({ connection, dataConverter }),
      registry,
    });

    log('3. The researcher submits the problem; the PI sets the evaluation criteria.');
    const dir = path.join(EXPERIMENTS_DIR, 'weak-to-strong');
    const spec = readDocument(path.join(dir, 'problem.yaml')) as { id: string };
    try {
      await service.submitProblem(researcher, spec);
    } catch (err) {
      if (!(err instanceof ServiceError && err.code === 'Conflict')) throw err;
      log(`   (problem ${spec.id} exists from an earlier run: reusing it)`);
    }
    const base = readDocument(path.join(dir, 'criteria.yaml')) as EvaluationCriteriaInput;
    const criteria: EvaluationCriteriaInput = {
      ...base,
      budgets: {
        ...base.budgets,
        maxTrials: opts.trials,
        maxWallSeconds: Math.max(600, opts.trials * 20),
      },
      verification: { topK: 2, seeds: 5 },
      ...(opts.patience !== undefined
        ? { stagnation: { ...base.stagnation, iterations: opts.patience } }
        : {}),
    };
    const version = await service.setCriteria(pi, spec.id, criteria, 'demo criteria');
    log(
      `   criteria v${version.version}: maximize ${version.criteria.metric}, ${version.criteria.seedsPerTrial} seeds per trial, hidden metric ${version.criteria.hiddenMetrics.join(', ')}, ${opts.trials} trials`,
    );

    const strategy = opts.strategy ?? defaultStrategy();
    log(
      `4. A campaign with the ${strategy} strategy${strategy === 'optuna' && !process.env.ANTHROPIC_API_KEY ? ' (set ANTHROPIC_API_KEY to use Claude)' : ''}.`,
    );
    const { campaignId } = await service.startCampaign(researcher, {
      problemId: spec.id,
      strategy: { name: strategy },
      label: 'demo',
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    });
    const pat = server.devTokens.find((t) => t.role === 'pi');
    log('');
    // With --exit everything stops after the report: addresses would be dead by the time anyone
    // opens them, so the report is saved instead (below).
    if (!opts.exit) {
      log(`   Web UI:      ${server.url}/  (sign in with a token below)`);
      log(`   Campaign:    ${server.url}/campaigns/${encodeURIComponent(campaignId)}`);
      log(`   Temporal UI: ${stack.temporalUi}/namespaces/default/workflows/${campaignId}`);
      log(
        `   MLflow UI:   ${stack.mlflowUri}${mlflowService ? '  (sign in: `gaplab stack credentials --role pi|researcher|viewer`)' : ''}`,
      );
      for (const t of server.devTokens) log(`   token (${t.role.padEnd(10)}): ${t.token}`);
      log('');
    }

    const report = await watchCampaign(
      () => service.status(campaignId),
      () => service.report(campaignId),
    );
    log('');
    log(renderReportMarkdown(report));
    log(
      `Best: ${report.best ? `${report.best.id}, PGR ${formatEstimate(report.best.pgr)}` : '—'} (target ${formatExact(report.targetPgr)}); stop reason: ${report.stopReason}.`,
    );
    // The same verdict as the report's headline: the best's own check on fresh seeds and the
    // hidden held-out split.
    log(verdictLine(report));

    const saved = saveReport(report);
    log(`Report saved: ${saved.markdown} (JSON: ${saved.json})`);

    if (!opts.exit) {
      log(
        `\nThe UI stays up at ${server.url}/ (token ${pat?.token ?? ''}). Press Ctrl-C to stop everything the demo started.`,
      );
      await new Promise<never>(() => {});
    }
    return report;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}
