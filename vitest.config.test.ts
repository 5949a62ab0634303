/**
 * The test projects of vitest.config.ts, as vitest itself resolves them: every test file in the
 * repository runs in exactly one project, the files that drive Chromium are the browser project
 * and nothing else is, and the files on Temporal's time-skipping server are the timeskip project.
 * A test file put in the wrong folder, or in none that a project reads, fails here.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVitest, type Vitest } from 'vitest/node';

const root = import.meta.dirname;

/** Which project each test file (relative to the root) runs in; more than one is a bug. */
const projectsOf = new Map<string, string[]>();
let vitest: Vitest;

beforeAll(async () => {
  vitest = await createVitest('test', {
    root,
    config: path.join(root, 'vitest.config.ts'),
    watch: false,
    reporters: [],
  });
  for (const spec of await vitest.globTestSpecifications()) {
    const file = path.relative(root, spec.moduleId);
    projectsOf.set(file, [...(projectsOf.get(file) ?? []), spec.project.name]);
  }
}, 60_000);

afterAll(async () => {
  await vitest?.close();
});

/** The repository's test files, as git knows them (tracked or new, never ignored). */
function repoTestFiles(): string[] {
  return execFileSync(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '--', '*.test.ts', '*.test.tsx'],
    { cwd: root, encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean)
    .filter((file) => !file.startsWith('node_modules/'));
}

const source = (file: string) => readFileSync(path.join(root, file), 'utf8');
const drivesChromium = (file: string) =>
  /from '[^']*(playwright-core|ui-helpers\.js)'/.test(source(file));
const onTimeSkippingServer = (file: string) => /support\/time-skipping\.js'/.test(source(file));
const filesIn = (project: string) =>
  [...projectsOf]
    .filter(([, names]) => names.includes(project))
    .map(([file]) => file)
    .sort();

describe('vitest projects', () => {
  it('runs every test file of the repository in exactly one project', () => {
    const files = repoTestFiles();
    expect(files.length).toBeGreaterThan(100);
    const placed = files.map((file) => [file, projectsOf.get(file) ?? []] as const);
    expect(placed.filter(([, names]) => names.length !== 1)).toEqual([]);
  });

  it('puts the tests that drive Chromium, and only those, in the browser project under test/browser', () => {
    const browser = filesIn('browser');
    expect(browser.length).toBeGreaterThan(0);
    expect(browser.filter((file) => !file.startsWith('test/browser/'))).toEqual([]);
    expect(browser.filter((file) => !drivesChromium(file))).toEqual([]);
    const elsewhere = [...projectsOf.keys()].filter(
      (file) => drivesChromium(file) && !browser.includes(file),
    );
    expect(elsewhere).toEqual([]);
  });

  it('puts the tests on the time-skipping server, and only those, in timeskip under test/time-skipping', () => {
    const timeskip = filesIn('timeskip');
    expect(timeskip.length).toBeGreaterThan(0);
    expect(timeskip.filter((file) => !file.startsWith('test/time-skipping/'))).toEqual([]);
    const elsewhere = [...projectsOf.keys()].filter(
      (file) => onTimeSkippingServer(file) && !timeskip.includes(file),
    );
    expect(elsewhere).toEqual([]);
  });

  it('keeps the integration project to test/ outside the browser and time-skipping folders', () => {
    const integration = filesIn('integration');
    expect(integration.length).toBeGreaterThan(0);
    expect(
      integration.filter(
        (file) =>
          !file.startsWith('test/') ||
          file.startsWith('test/browser/') ||
          file.startsWith('test/time-skipping/'),
      ),
    ).toEqual([]);
  });
});
