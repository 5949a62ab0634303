/**
 * The failure types the worker's two sides share: the retry presets stop on exactly the table's
 * non-retryable names, and no code throws or compares a failure type the table does not hold.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { ACTIONS, ROLES, can } from '../api/permissions.js';
import {
  FAILURE_TYPES,
  FAILURE_TYPE_NAMES,
  TypedFailure,
  isFailureType,
} from '../domain/failure-types.js';
import { reject, rejectFrom, requirePermission } from '../workflows/failures.js';
import { presets } from '../workflows/options.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIRS = [
  'api',
  'activities',
  'bench',
  'cli',
  'docker',
  'domain',
  'experiments',
  'server',
  'stack',
  'test',
  'ui',
  'worker',
  'workflows',
];
/** The modules that build ApplicationFailures, from a FailureType parameter. */
const HELPERS = new Set(['workflows/failures.ts', 'activities/failures.ts']);

describe('retry presets', () => {
  const activityPresets = {
    experiment: presets.experimentRun(60, 30, 'q'),
    strategy: presets.strategyCall(),
    notify: presets.notify(),
  } as const;

  it.each(Object.keys(activityPresets) as (keyof typeof activityPresets)[])(
    "the %s preset stops on exactly the table's non-retryable types that activity throws",
    (source) => {
      const expected = FAILURE_TYPE_NAMES.filter(
        (t) =>
          !FAILURE_TYPES[t].retryable &&
          (FAILURE_TYPES[t].thrownBy as readonly string[]).includes(source),
      );
      expect([...(activityPresets[source].retry?.nonRetryableErrorTypes ?? [])].sort()).toEqual(
        [...expected].sort(),
      );
    },
  );

  it('the experiment activity stops on an unknown experiment and on invalid params', () => {
    expect(presets.experimentRun(60, 30, 'q').retry?.nonRetryableErrorTypes).toEqual([
      'UnknownExperiment',
      'InvalidParams',
    ]);
  });

  it('recording retries every failure', () => {
    expect(presets.recording('q').retry?.nonRetryableErrorTypes).toBeUndefined();
  });
});

describe('workflow rejections', () => {
  it('a validator rejection is a non-retryable failure of the named type', () => {
    const f = reject('RateLimited', 'queue: full');
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f).toMatchObject({ type: 'RateLimited', message: 'queue: full', nonRetryable: true });
  });

  it('rejectFrom keeps the type pure code named, else the fallback', () => {
    const known = rejectFrom(
      new TypedFailure('NotFound', 'parentTrialId: unknown trial t9'),
      'InvalidInput',
    );
    expect(known).toMatchObject({ type: 'NotFound', message: 'parentTrialId: unknown trial t9' });
    const plain = rejectFrom(new Error('changes.lr: out of range'), 'InvalidInput');
    expect(plain).toMatchObject({ type: 'InvalidInput', message: 'changes.lr: out of range' });
  });

  it('requirePermission follows the permission table for every role and action', () => {
    for (const role of [...ROLES, 'system'])
      for (const action of ACTIONS) {
        const run = () => requirePermission({ name: 'ada', role }, action, 'do it');
        if (can(role, action)) expect(run, `${role} ${action}`).not.toThrow();
        else
          expect(run, `${role} ${action}`).toThrow(
            expect.objectContaining({
              type: 'Forbidden',
              message: expect.stringMatching(
                new RegExp(
                  `^only (a PI|a researcher or a PI) can do it \\(you are signed in as ada, `,
                ),
              ),
            }),
          );
      }
  });
});

interface Use {
  file: string;
  line: number;
  text: string;
  /** The failure type named there: a literal, or undefined when the code passes an expression. */
  name: string | undefined;
}

function sourceFiles(): string[] {
  const out: string[] = [];
  for (const dir of DIRS) {
    let entries: string[];
    try {
      entries = readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' });
    } catch {
      continue;
    }
    for (const e of entries) {
      const rel = path.join(dir, e).split(path.sep).join('/');
      if (/(^|\/)(node_modules|dist)\//.test(rel) || rel.endsWith('.d.ts')) continue;
      if (/\.tsx?$/.test(rel)) out.push(rel);
    }
  }
  return out;
}

const stringOf = (e: ts.Expression | undefined): string | undefined =>
  e && (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) ? e.text : undefined;

/** `x.type` on something named like a failure: `err.type`, `cause.type`, `(e as ApplicationFailure).type`. */
function isFailureTypeAccess(e: ts.Expression): boolean {
  if (!ts.isPropertyAccessExpression(e) || e.name.text !== 'type') return false;
  const target = e.expression.getText();
  return /ApplicationFailure|failure|cause|\berr(or)?\b|^\(?e\b/i.test(target);
}

/** Where code names a failure type: what it throws and what it compares `.type` with. */
function failureTypeUses(file: string, text: string): Use[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const uses: Use[] = [];
  const add = (node: ts.Node, arg: ts.Expression | undefined) => {
    if (!arg) return;
    uses.push({
      file,
      line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1,
      text: node.getText().slice(0, 120),
      name: stringOf(arg),
    });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
      const callee = node.expression;
      const args = node.arguments ?? ts.factory.createNodeArray();
      const calleeText = callee.getText();
      if (/^ApplicationFailure\.(nonRetryable|retryable)$/.test(calleeText)) add(node, args[1]);
      else if (ts.isNewExpression(node) && calleeText === 'ApplicationFailure') add(node, args[1]);
      else if (calleeText === 'ApplicationFailure.create') {
        const opts = args[0];
        if (opts && ts.isObjectLiteralExpression(opts))
          for (const p of opts.properties)
            if (ts.isPropertyAssignment(p) && p.name.getText() === 'type') add(node, p.initializer);
      } else if (
        ['reject', 'activityFailure', 'TypedFailure', 'ServiceError'].includes(calleeText)
      ) {
        add(node, args[0]);
      } else if (
        /^expect\(.*\)\.(toBe|toEqual)$/s.test(calleeText) &&
        ts.isPropertyAccessExpression(callee) &&
        ts.isCallExpression(callee.expression) &&
        callee.expression.arguments[0] &&
        isFailureTypeAccess(callee.expression.arguments[0]) &&
        stringOf(args[0]) !== undefined
      ) {
        add(node, args[0]);
      }
    }
    if (
      ts.isBinaryExpression(node) &&
      [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken].includes(
        node.operatorToken.kind,
      )
    ) {
      if (isFailureTypeAccess(node.left) && stringOf(node.right) !== undefined)
        add(node, node.right);
      if (isFailureTypeAccess(node.right) && stringOf(node.left) !== undefined)
        add(node, node.left);
    }
    if (ts.isSwitchStatement(node) && isFailureTypeAccess(node.expression)) {
      for (const clause of node.caseBlock.clauses)
        if (ts.isCaseClause(clause) && stringOf(clause.expression) !== undefined)
          add(clause, clause.expression);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return uses;
}

describe('failure type names in the code base', () => {
  const uses = sourceFiles().flatMap((file) => {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    return /ApplicationFailure|reject\(|activityFailure|TypedFailure|ServiceError|\.type\b/.test(
      text,
    )
      ? failureTypeUses(file, text)
      : [];
  });
  const where = (u: Use) => `${u.file}:${u.line}: ${u.text}`;

  it('finds the throws and comparisons it checks (the scan itself works)', () => {
    const files = new Set(uses.map((u) => u.file));
    for (const f of ['activities/experiment.ts', 'workflows/problem.ts', 'server/service.ts'])
      expect(files, f).toContain(f);
    expect(uses.filter((u) => u.name === 'UnknownExperiment').length).toBeGreaterThan(1);
  });

  it('every literal thrown as a failure type or compared to .type is in the table', () => {
    const unknown = uses.filter((u) => u.name !== undefined && !isFailureType(u.name));
    expect(unknown.map(where)).toEqual([]);
  });

  it('outside tests only the helpers build an ApplicationFailure, so tsc checks every name', () => {
    // reject() and activityFailure() take a FailureType: a name outside the table does not compile.
    const direct = uses.filter(
      (u) =>
        /^(new )?ApplicationFailure\b/.test(u.text) &&
        !HELPERS.has(u.file) &&
        !/\.test\.tsx?$/.test(u.file),
    );
    expect(direct.map(where)).toEqual([]);
  });
});
