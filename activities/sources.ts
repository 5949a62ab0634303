/**
 * Content-addressed source snapshots of code hypotheses. The workflow keeps hashes only (its
 * state must stay small); the snapshots live as `sources/<hash>.json` on the campaign's MLflow
 * parent run, with a local cache under the state folder so a worker reads each one once.
 *
 * `resolveSource` turns a proposal's edits into a snapshot: it applies them to the parent's
 * source (the experiment's initial source for the baseline), checks the result against the
 * experiment's editable files and its compile check (experiments/code.ts: compiled, never run),
 * stores it and returns its hash and the diff from the parent — or a typed failure saying why
 * the edits do not apply or do not compile.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  applyEdits,
  checkedDiff,
  DiffLimitError,
  DiffParseError,
  EditApplyError,
  hashSnapshot,
  SourceEdits,
  SourceSnapshot,
  type SourceEdit,
} from '../domain/code.js';
import {
  checkSource,
  compileCheck,
  InvalidSourceError,
  isCodeExperiment,
} from '../experiments/code.js';
import type { CodeExperimentDefinition } from '../experiments/code.js';
import { UnknownExperimentError, type ExperimentRegistry } from '../experiments/registry.js';
import type { MlflowClient } from '../mlflow-ts-client/index.js';
import { paths } from '../stack/paths.js';
import { sourceArtifactPath } from '../records/names.js';
import { activityFailure } from './failures.js';

/** Thrown when a snapshot is neither in the cache nor in MLflow. */
export class SourceNotFoundError extends Error {
  override readonly name = 'SourceNotFoundError';
  constructor(readonly hash: string) {
    super(`source ${hash} is neither in the worker's cache nor in MLflow`);
  }
}

export interface SourceStoreOptions {
  mlflow?: MlflowClient;
  /** @default <state folder>/sources */
  cacheDir?: string;
}

/** Snapshots by content hash: the local cache first, then the campaign's MLflow run. */
export class SourceStore {
  private readonly cacheDir: string;
  constructor(private readonly opts: SourceStoreOptions = {}) {
    this.cacheDir = opts.cacheDir ?? path.join(paths.state, 'sources');
  }

  private cachePath(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`not a source hash: ${hash.slice(0, 80)}`);
    return path.join(this.cacheDir, `${hash}.json`);
  }

  /** Stores a snapshot (idempotent) in the cache and, given a run, in MLflow; returns its hash. */
  async put(snapshot: SourceSnapshot, runId?: string): Promise<string> {
    const hash = hashSnapshot(snapshot);
    const text = JSON.stringify(snapshot);
    await mkdir(this.cacheDir, { recursive: true });
    const file = this.cachePath(hash);
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, file);
    if (this.opts.mlflow && runId)
      await this.opts.mlflow.uploadArtifact(
        runId,
        sourceArtifactPath(hash),
        text,
        'application/json',
      );
    return hash;
  }

  /** The snapshot with this hash, checked against it. @throws SourceNotFoundError */
  async get(hash: string, runId?: string): Promise<SourceSnapshot> {
    const file = this.cachePath(hash);
    const cached = await readFile(file, 'utf8').catch(() => undefined);
    const fromCache = cached === undefined ? undefined : this.parse(cached, hash);
    if (fromCache) return fromCache;
    if (!this.opts.mlflow || !runId) throw new SourceNotFoundError(hash);
    let text: string;
    try {
      text = await this.opts.mlflow.downloadArtifactText(runId, sourceArtifactPath(hash));
    } catch (err) {
      if (/RESOURCE_DOES_NOT_EXIST|404|not found/i.test((err as Error).message))
        throw new SourceNotFoundError(hash);
      throw err;
    }
    const snapshot = this.parse(text, hash);
    if (!snapshot) throw new SourceNotFoundError(hash);
    await mkdir(this.cacheDir, { recursive: true });
    await writeFile(file, text);
    return snapshot;
  }

  /** The snapshot, when the text is one and hashes to `hash` (a corrupt cache file is ignored). */
  private parse(text: string, hash: string): SourceSnapshot | undefined {
    try {
      const parsed = SourceSnapshot.safeParse(JSON.parse(text));
      return parsed.success && hashSnapshot(parsed.data) === hash ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}

export interface ResolveSourceInput {
  experiment: string;
  /** The snapshot the edits apply to; absent: the experiment's initial source. */
  parentHash?: string;
  edits: SourceEdit[];
  /** The campaign's MLflow parent run: snapshots are stored there. */
  runId?: string;
}

/** Longest diff returned to the workflow (the full one is recomputed from the stored snapshots). */
export const RESOLVED_DIFF_CHARS = 4000;

export type ResolveSourceResult =
  | {
      ok: true;
      hash: string;
      /** The parent snapshot's hash (the initial source's for the baseline). */
      parentHash: string;
      /** The unified diff from the parent, cut to RESOLVED_DIFF_CHARS. */
      diff: string;
    }
  | { ok: false; reason: string };

export interface SourceActivityDeps {
  registry: ExperimentRegistry;
  store: SourceStore;
}

function codeExperiment(registry: ExperimentRegistry, name: string): CodeExperimentDefinition {
  let def;
  try {
    def = registry.get(name);
  } catch (err) {
    if (err instanceof UnknownExperimentError)
      throw activityFailure('UnknownExperiment', err.message);
    throw err;
  }
  if (!isCodeExperiment(def))
    throw activityFailure('InvalidInput', `edits: experiment ${name} has no editable source`);
  return def;
}

/** The parent's snapshot: the initial source, or a stored one. */
async function parentSource(
  deps: SourceActivityDeps,
  def: CodeExperimentDefinition,
  parentHash: string | undefined,
  runId: string | undefined,
): Promise<SourceSnapshot> {
  const initial = def.code.initialSource;
  if (parentHash === undefined || parentHash === hashSnapshot(initial)) return initial;
  return deps.store.get(parentHash, runId);
}

export function createSourceActivities(deps: SourceActivityDeps) {
  return {
    /** Applies a proposal's edits and stores the snapshot; see the module's comment. */
    async resolveSource(input: ResolveSourceInput): Promise<ResolveSourceResult> {
      const def = codeExperiment(deps.registry, input.experiment);
      const edits = SourceEdits.safeParse(input.edits);
      if (!edits.success) {
        const issue = edits.error.issues[0];
        return {
          ok: false,
          reason: `edits${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`,
        };
      }
      let parent: SourceSnapshot;
      try {
        parent = await parentSource(deps, def, input.parentHash, input.runId);
      } catch (err) {
        if (err instanceof SourceNotFoundError)
          return { ok: false, reason: `parent source: ${err.message}` };
        throw err;
      }
      let child: SourceSnapshot;
      try {
        child = checkSource(def.code, applyEdits(parent, edits.data));
      } catch (err) {
        if (
          err instanceof EditApplyError ||
          err instanceof DiffParseError ||
          err instanceof InvalidSourceError
        )
          return { ok: false, reason: `edits do not apply: ${err.message}` };
        throw err;
      }
      // The diff people and agents review, within DIFF_LIMITS: a larger one is refused here, so
      // recording and the API only ever diff pairs that fit (linear memory, bounded time).
      let diff: string;
      try {
        diff = checkedDiff(parent, child);
      } catch (err) {
        if (err instanceof DiffLimitError)
          return { ok: false, reason: `edits are too large to review: ${err.message}` };
        throw err;
      }
      // Checked before anything is stored or queued: compiled, never run, outside the sandbox.
      const compileError = await compileCheck(def.code, child);
      if (compileError) return { ok: false, reason: `edits do not compile: ${compileError}` };
      const parentHash = await deps.store.put(parent, input.runId);
      const hash = await deps.store.put(child, input.runId);
      return {
        ok: true,
        hash,
        parentHash,
        diff:
          diff.length > RESOLVED_DIFF_CHARS
            ? `${diff.slice(0, RESOLVED_DIFF_CHARS)}\n… (cut; the full diff is in MLflow)`
            : diff,
      };
    },
  };
}
