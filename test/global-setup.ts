/**
 * One real Temporal dev server and one real MLflow server for the whole run of the integration
 * and browser projects.
 * Reuses TEMPORAL_ADDRESS / MLFLOW_TRACKING_URI when both are set (e.g. a stack already up);
 * otherwise starts a stack of its own under <state>/test-stack on test ports, with fresh data,
 * and stops it (and everything it started) at the end.
 *
 * The test stack runs MLflow with authentication (stack/mlflow-auth.ts): its service account's
 * credentials go into MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, which the test
 * processes (and the workers and servers they start) inherit, and every role's are provided as
 * `mlflowUsers`. A reused stack is reached with whatever those variables hold (none: no auth).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ProvidedContext } from 'vitest';
import type { TestProject } from 'vitest/node';
import { Stack } from '../stack/index.js';
import { ensureInstalled } from '../stack/install.js';
import { MLFLOW_ROLES } from '../stack/mlflow-auth.js';
import type { MlflowCredentials } from '../mlflow-ts-client/index.js';
import { STATE_DIR } from '../stack/paths.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    mlflowUri: string;
    namespace: string;
    stackDir: string;
    /** The MLflow users of the test stack by role, and its service account; null without auth. */
    mlflowUsers: Record<'service' | 'pi' | 'researcher' | 'viewer', MlflowCredentials> | null;
  }
}

type MlflowRoleName = (typeof MLFLOW_ROLES)[number];

/** What every project that uses this setup is given: the same stack for all of them. */
interface SharedStack {
  readonly stack: Stack | undefined;
  readonly provided: {
    temporalAddress: string;
    mlflowUri: string;
    stackDir: string;
    mlflowUsers: ProvidedContext['mlflowUsers'];
  };
  /** Projects whose setup ran and whose teardown has not yet. */
  projects: number;
}

// Vitest runs this setup once for each project that names it (integration, browser), all in one
// process: the first call starts the stack, later calls reuse it, and the last teardown stops it.
// The stack is kept on globalThis, which every module instance of this file sees.
const SHARED = Symbol.for('gaplab.test-stack');
const holder = globalThis as { [SHARED]?: SharedStack };

async function startStack(): Promise<SharedStack> {
  const log = (line: string) => console.log(`[stack] ${line}`);
  await ensureInstalled(log);
  const external = process.env.TEMPORAL_ADDRESS && process.env.MLFLOW_TRACKING_URI;
  if (external) {
    return {
      stack: undefined,
      provided: {
        temporalAddress: process.env.TEMPORAL_ADDRESS!,
        mlflowUri: process.env.MLFLOW_TRACKING_URI!,
        stackDir: '',
        mlflowUsers: null,
      },
      projects: 0,
    };
  }
  const dir = path.join(STATE_DIR, 'test-stack');
  const stack = new Stack({
    dir,
    temporalPort: Number(process.env.GAPLAB_TEST_TEMPORAL_PORT ?? 17233),
    mlflowPort: Number(process.env.GAPLAB_TEST_MLFLOW_PORT ?? 15050),
    log,
  });
  await stack.down();
  fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });
  try {
    await stack.up();
  } catch (error) {
    // Teardown only knows a stack that started: stop here what did start (MLflow, say).
    await stack.down();
    throw error;
  }
  let mlflowUsers: ProvidedContext['mlflowUsers'] = null;
  const service = stack.mlflowCredentials();
  if (service) {
    process.env.MLFLOW_TRACKING_USERNAME = service.username;
    process.env.MLFLOW_TRACKING_PASSWORD = service.password;
    const users = { service } as Record<'service' | MlflowRoleName, MlflowCredentials>;
    for (const role of MLFLOW_ROLES) users[role] = stack.mlflowCredentials(role)!;
    mlflowUsers = users;
  }
  return {
    stack,
    provided: {
      temporalAddress: stack.temporalAddress,
      mlflowUri: stack.mlflowUri,
      stackDir: dir,
      mlflowUsers,
    },
    projects: 0,
  };
}

export async function setup(project: TestProject): Promise<void> {
  const shared = (holder[SHARED] ??= await startStack());
  shared.projects += 1;
  project.provide('temporalAddress', shared.provided.temporalAddress);
  project.provide('mlflowUri', shared.provided.mlflowUri);
  project.provide('stackDir', shared.provided.stackDir);
  project.provide('mlflowUsers', shared.provided.mlflowUsers);
  project.provide('namespace', 'default');
}

export async function teardown(): Promise<void> {
  const shared = holder[SHARED];
  if (!shared) return;
  shared.projects -= 1;
  if (shared.projects > 0) return;
  delete holder[SHARED];
  await shared.stack?.down();
}
