import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffSnapshots, hashSnapshot } from '../domain/code.js';
import { defineCodeExperiment } from '../experiments/code.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import { runSandboxed } from '../experiments/sandbox.js';
import { createExperimentActivities, type ExperimentSeedResult } from './experiment.js';
import { createSourceActivities, SourceNotFoundError, SourceStore } from './sources.js';

const initial = { 'method.py': 'def train(x):\n    return 0\n' };
const better = { 'method.py': 'def train(x):\n    return 1\n' };

let tmp: string;
let store: SourceStore;
let registry: ExperimentRegistry;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-sources-'));
  store = new SourceStore({ cacheDir: path.join(tmp, 'cache') });
  registry = ExperimentRegistry.of(
    defineCodeExperiment({
      name: 'code',
      description: 'a code experiment whose harness needs the sandbox',
      metrics: [{ name: 'acc', description: 'accuracy' }],
      defaultTimeoutSeconds: 30,
      code: {
        language: 'python',
        interface: 'train(x)',
        editable: ['method.py'],
        initialSource: initial,
        evaluate: async (_source, _params, ctx) => {
          await runSandboxed({
            argv: ['/bin/true'],
            ...(ctx.sandbox ? { sandbox: ctx.sandbox } : {}),
          });
          return { acc: 1 };
        },
      },
      // A worker whose bubblewrap is missing: the jail cannot be built.
      sandbox: { bwrapPath: path.join(tmp, 'no-bwrap') },
    }),
    {
      name: 'plain',
      description: 'no source',
      metrics: [{ name: 'acc', description: 'accuracy' }],
      defaultTimeoutSeconds: 30,
      runner: { kind: 'function', run: () => Promise.resolve({ acc: 1 }) },
    },
  );
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('resolveSource', () => {
  const { resolveSource } = createSourceActivities({
    get registry() {
      return registry;
    },
    get store() {
      return store;
    },
  });

  it('applies a diff to the initial source, stores both snapshots and returns the hash and diff', async () => {
    const r = await resolveSource({
      experiment: 'code',
      edits: [{ kind: 'diff', diff: diffSnapshots(initial, better) }],
    });
    expect(r).toEqual({
      ok: true,
      hash: hashSnapshot(better),
      parentHash: hashSnapshot(initial),
      diff: diffSnapshots(initial, better),
    });
    expect(await store.get(hashSnapshot(better))).toEqual(better);
    // Edits on top of a stored snapshot.
    const again = await resolveSource({
      experiment: 'code',
      parentHash: hashSnapshot(better),
      edits: [
        { kind: 'search_replace', file: 'method.py', search: 'return 1', replace: 'return 2' },
      ],
    });
    expect(again).toMatchObject({ ok: true, parentHash: hashSnapshot(better) });
  });

  it('says why edits do not apply, or why the result is not a source of the experiment', async () => {
    expect(
      await resolveSource({
        experiment: 'code',
        edits: [{ kind: 'search_replace', file: 'method.py', search: 'absent', replace: 'x' }],
      }),
    ).toEqual({
      ok: false,
      reason: expect.stringMatching(/^edits do not apply: method\.py: edit 1: .*search text/),
    });
    expect(
      await resolveSource({
        experiment: 'code',
        edits: [{ kind: 'search_replace', file: 'harness.py', search: '', replace: 'x = 1' }],
      }),
    ).toEqual({ ok: false, reason: expect.stringMatching(/harness\.py not editable/) });
    expect(
      await resolveSource({
        experiment: 'code',
        parentHash: 'f'.repeat(64),
        edits: [{ kind: 'search_replace', file: 'method.py', search: 'return', replace: 'x' }],
      }),
    ).toEqual({ ok: false, reason: expect.stringMatching(/^parent source: source f+ is neither/) });
    await expect(
      resolveSource({ experiment: 'plain', edits: [{ kind: 'diff', diff: 'x' }] }),
    ).rejects.toThrow(/edits: experiment plain has no editable source/);
  });

  it('refuses files named like Object.prototype members with a reason, never a TypeError', async () => {
    for (const file of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const edit = await resolveSource({
        experiment: 'code',
        edits: [{ kind: 'search_replace', file, search: 'x', replace: 'y' }],
      });
      expect(edit, file).toEqual({
        ok: false,
        reason: expect.stringMatching(
          file === '__proto__'
            ? /^edits\.0\.file: "__proto__" is not allowed/
            : new RegExp(`^edits do not apply: ${file}: edit 1: the file does not exist`),
        ),
      });
      const created = await resolveSource({
        experiment: 'code',
        edits: [{ kind: 'diff', diff: `--- /dev/null\n+++ b/${file}\n@@ -0,0 +1 @@\n+x = 1\n` }],
      });
      expect(created, file).toEqual({
        ok: false,
        reason: expect.stringMatching(
          file === '__proto__' ? /invalid file path "__proto__"/ : `${file} not editable`,
        ),
      });
    }
  });

  it('refuses an edit past the diff limits by name, and stores nothing', async () => {
    const huge = Array.from({ length: 4100 }, (_, i) => `    y${i} = ${i}\n`).join('');
    const big = { 'method.py': `def train(x):\n${huge}    return 0\n` };
    const r = await resolveSource({
      experiment: 'code',
      edits: [
        {
          kind: 'search_replace',
          file: 'method.py',
          search: '    return 0\n',
          replace: `${huge}    return 0\n`,
        },
      ],
    });
    expect(r).toEqual({
      ok: false,
      reason: expect.stringMatching(/^edits are too large to review: method\.py: .*changed lines/),
    });
    // Within the limit, the same kind of edit is taken.
    const ok = await resolveSource({
      experiment: 'code',
      edits: [
        {
          kind: 'search_replace',
          file: 'method.py',
          search: '    return 0\n',
          replace: `${huge.split('\n').slice(0, 1000).join('\n')}\n    return 0\n`,
        },
      ],
    });
    expect(ok).toMatchObject({ ok: true });
    await expect(store.get(hashSnapshot(big))).rejects.toThrow(SourceNotFoundError);
  });

  it('refuses a coding declaration other than UTF-8: the check is what the import runs', async () => {
    const r = await resolveSource({
      experiment: 'code',
      edits: [
        {
          kind: 'search_replace',
          file: 'method.py',
          search: 'def train(x):\n',
          replace:
            '# coding: utf-7\ndef train(x):\n    # +AAo-    import os+AAo-    os.system("id")\n',
        },
      ],
    });
    expect(r).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /^edits do not compile: method\.py line 1: CodingError: coding declaration 'utf-7' refused/,
      ),
    });
  });

  it('refuses edits whose result does not compile, naming file, line and error, and stores nothing', async () => {
    const broken = { 'method.py': 'def train(x):\n    return (0\n' };
    const r = await resolveSource({
      experiment: 'code',
      edits: [
        { kind: 'search_replace', file: 'method.py', search: 'return 0', replace: 'return (0' },
      ],
    });
    expect(r).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /^edits do not compile: method\.py line 2: SyntaxError: '\(' was never closed/,
      ),
    });
    await expect(store.get(hashSnapshot(broken))).rejects.toThrow(SourceNotFoundError);
  });

  it("uses the experiment's own compile check when it has one, redacting host paths", async () => {
    const withHook = createSourceActivities({
      store,
      registry: ExperimentRegistry.of(
        defineCodeExperiment({
          name: 'hooked',
          description: 'a code experiment with its own compile check',
          metrics: [{ name: 'acc', description: 'accuracy' }],
          defaultTimeoutSeconds: 30,
          code: {
            language: 'python',
            interface: 'train(x)',
            editable: ['method.py'],
            initialSource: initial,
            evaluate: () => Promise.resolve({ acc: 1 }),
            compile: (src) =>
              Promise.resolve(
                src['method.py']!.includes('return 1')
                  ? `${path.join(tmp, 'build', 'method.py')}:2: no ones allowed`
                  : undefined,
              ),
          },
        }),
      ),
    });
    const r = await withHook.resolveSource({
      experiment: 'hooked',
      edits: [{ kind: 'diff', diff: diffSnapshots(initial, better) }],
    });
    expect(r).toEqual({
      ok: false,
      reason: 'edits do not compile: …/method.py:2: no ones allowed',
    });
    expect(JSON.stringify(r)).not.toContain(tmp);
  });

  it('ignores a cache file whose content does not match its hash', async () => {
    const hash = await store.put({ 'method.py': 'ok\n' });
    const file = path.join(tmp, 'cache', `${hash}.json`);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ 'method.py': 'ok\n' });
    await writeFile(file, JSON.stringify({ 'method.py': 'tampered\n' }));
    await expect(store.get(hash)).rejects.toThrow(SourceNotFoundError);
  });
});

describe('runExperimentSeed with a source hash', () => {
  it('runs the stored snapshot through the harness, and fails the seed naming the missing sandbox', async () => {
    const hash = await store.put(better);
    const { runExperimentSeed } = createExperimentActivities({
      registry,
      workDir: tmp,
      sources: store,
    });
    const r: ExperimentSeedResult = await new MockActivityEnvironment().run(runExperimentSeed, {
      experiment: 'code',
      params: {},
      seed: 1,
      objective: 'acc',
      sourceHash: hash,
    });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(
      /^SandboxUnavailableError: code experiments need a bubblewrap sandbox: bubblewrap is not installed/,
    );
  });

  it('refuses a hash it cannot find, without retrying', async () => {
    const { runExperimentSeed } = createExperimentActivities({
      registry,
      workDir: tmp,
      sources: store,
    });
    await expect(
      new MockActivityEnvironment().run(runExperimentSeed, {
        experiment: 'code',
        params: {},
        seed: 1,
        objective: 'acc',
        sourceHash: 'e'.repeat(64),
      }),
    ).rejects.toMatchObject({ type: 'InvalidParams', nonRetryable: true });
  });
});
