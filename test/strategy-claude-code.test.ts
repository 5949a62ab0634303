/**
 * Claude agents on a code experiment, through the real SDK against the local fake Messages API:
 * they see the interface and the sources, answer with edits in a schema that asks for them, and
 * an edit that does not apply to its parent's source gets one repair round with the reason. On an
 * OpenEvolve-layout problem (experiments/bin-packing) they see the EVOLVE-BLOCK markers and the
 * rule, and an edit outside a block comes back for repair the same way.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStrategyActivities } from '../activities/strategies/index.js';
import { testView } from './support/strategy-views.js';
import { SourceStore } from '../activities/sources.js';
import { defineCodeExperiment, isCodeExperiment } from '../experiments/code.js';
import { ExperimentRegistry, loadCommandExperiment } from '../experiments/registry.js';
import { startFakeAnthropic, type FakeAnthropic } from './support/fake-anthropic.js';

const initial = { 'method.py': 'def train(x):\n    return 0\n' };
let fake: FakeAnthropic;
let tmp: string;

beforeAll(async () => {
  fake = await startFakeAnthropic();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-claude-code-'));
});
afterAll(async () => {
  await fake.close();
  await rm(tmp, { recursive: true, force: true });
});

const registry = ExperimentRegistry.of(
  defineCodeExperiment({
    name: 'method-code',
    description: 'a method written as code',
    metrics: [{ name: 'dev_acc', description: 'accuracy' }],
    defaultTimeoutSeconds: 30,
    code: {
      language: 'python',
      interface: 'train(x) returns a prediction for x',
      editable: ['method.py'],
      initialSource: initial,
      evaluate: () => Promise.resolve({ dev_acc: 0 }),
    },
  }),
);

const hyp = (title: string, edits: { file: string; search: string; replace: string }[]) => ({
  title,
  rationale: `because ${title}`,
  parentTrialId: null,
  changes: [],
  expectedEffect: 'higher dev_acc',
  edits,
});

describe('claude agents on a code experiment', () => {
  it('see the source, propose edits, and repair one that does not apply', async () => {
    const n0 = fake.requests.length;
    fake.script(
      {
        kind: 'json',
        body: {
          hypotheses: [
            hyp('return one', [{ file: 'method.py', search: 'return 0', replace: 'return 1' }]),
            hyp('misquoted', [{ file: 'method.py', search: 'return  0', replace: 'return 2' }]),
          ],
          insight: 'the starting method returns a constant',
        },
      },
      {
        kind: 'json',
        body: {
          hypotheses: [
            hyp('return two', [{ file: 'method.py', search: 'return 0', replace: 'return 2' }]),
          ],
          insight: '',
        },
      },
    );
    const acts = createStrategyActivities({
      anthropic: () => new Anthropic({ apiKey: 'test-key', baseURL: fake.url }),
      claude: { maxRetries: 0, timeoutMs: 10_000 },
      code: { registry, store: new SourceStore({ cacheDir: tmp }) },
    });
    const view = testView(
      { name: 'claude', settings: { model: 'claude-haiku-4-5', agents: 1, hypothesesPerAgent: 2 } },
      {
        count: 2,
        code: {},
        problem: { ...testView({ name: 'claude' }).problem, experiment: 'method-code' },
      },
    );
    const result = await acts.proposeHypotheses(view, []);

    expect(result.fatalError).toBeUndefined();
    expect(result.proposals.map((p) => [p.title, p.edits])).toEqual([
      [
        'return one',
        [{ kind: 'search_replace', file: 'method.py', search: 'return 0', replace: 'return 1' }],
      ],
      [
        'return two',
        [{ kind: 'search_replace', file: 'method.py', search: 'return 0', replace: 'return 2' }],
      ],
    ]);
    expect(result.dropped).toEqual([
      expect.objectContaining({
        title: 'misquoted',
        fate: 'repaired',
        cause: 'invalid',
        reason: expect.stringMatching(
          /^sent back for repair: edits do not apply to the source of the baseline: method\.py: edit 1/,
        ),
      }),
    ]);

    const calls = fake.requests.slice(n0).filter((r) => r.path.split('?')[0] === '/v1/messages');
    expect(calls).toHaveLength(2);
    const first = calls[0]!.body;
    const system = JSON.stringify(first.system);
    expect(system).toContain('train(x) returns a prediction for x');
    expect(system).toContain('def train(x):\\n    return 0');
    const item = first.output_config.format.schema.properties.hypotheses.items;
    expect(item.required).toContain('edits');
    // The repair message carries the reason.
    expect(JSON.stringify(calls[1]!.body.messages.at(-1))).toMatch(/edits do not apply/);
  });

  it('send an edit that applies but does not compile back for repair, with file, line and error', async () => {
    const n0 = fake.requests.length;
    fake.script(
      {
        kind: 'json',
        body: {
          hypotheses: [
            hyp('unclosed', [{ file: 'method.py', search: 'return 0', replace: 'return (0' }]),
          ],
          insight: '',
        },
      },
      {
        kind: 'json',
        body: {
          hypotheses: [
            hyp('closed', [{ file: 'method.py', search: 'return 0', replace: 'return (3)' }]),
          ],
          insight: '',
        },
      },
    );
    const acts = createStrategyActivities({
      anthropic: () => new Anthropic({ apiKey: 'test-key', baseURL: fake.url }),
      claude: { maxRetries: 0, timeoutMs: 10_000 },
      code: { registry, store: new SourceStore({ cacheDir: tmp }) },
    });
    const view = testView(
      { name: 'claude', settings: { model: 'claude-haiku-4-5', agents: 1, hypothesesPerAgent: 1 } },
      {
        count: 1,
        code: {},
        problem: { ...testView({ name: 'claude' }).problem, experiment: 'method-code' },
      },
    );
    const result = await acts.proposeHypotheses(view, []);

    expect(result.proposals.map((p) => p.title)).toEqual(['closed']);
    const why =
      "edits apply to the source of the baseline but the result does not compile: method.py line 2: SyntaxError: '(' was never closed";
    expect(result.dropped).toEqual([
      expect.objectContaining({
        title: 'unclosed',
        fate: 'repaired',
        cause: 'invalid',
        reason: expect.stringContaining(`sent back for repair: ${why}`),
      }),
    ]);
    const calls = fake.requests.slice(n0).filter((r) => r.path.split('?')[0] === '/v1/messages');
    expect(calls).toHaveLength(2);
    expect(JSON.stringify(calls[1]!.body.messages.at(-1))).toContain(
      "method.py line 2: SyntaxError: '(' was never closed",
    );
  });

  it('on the OpenEvolve layout, see the EVOLVE-BLOCKs and repair an edit outside them', async () => {
    const binPacking = await loadCommandExperiment(
      path.join(import.meta.dirname, '..', 'experiments', 'bin-packing', 'experiment.yaml'),
    );
    if (!isCodeExperiment(binPacking)) throw new Error('bin-packing is not a code experiment');
    const n0 = fake.requests.length;
    const edit = (search: string, replace: string) => [
      { file: 'initial_program.py', search, replace },
    ];
    fake.script(
      {
        kind: 'json',
        body: {
          hypotheses: [
            hyp(
              'import outside',
              edit('# EVOLVE-BLOCK-START\n', 'import os\n# EVOLVE-BLOCK-START\n'),
            ),
          ],
          insight: '',
        },
      },
      {
        kind: 'json',
        body: {
          hypotheses: [hyp('sort inside', edit('order = list(', 'order = sorted('))],
          insight: '',
        },
      },
    );
    const acts = createStrategyActivities({
      anthropic: () => new Anthropic({ apiKey: 'test-key', baseURL: fake.url }),
      claude: { maxRetries: 0, timeoutMs: 10_000 },
      code: {
        registry: ExperimentRegistry.of(binPacking),
        store: new SourceStore({ cacheDir: tmp }),
      },
    });
    const view = testView(
      { name: 'claude', settings: { model: 'claude-haiku-4-5', agents: 1, hypothesesPerAgent: 1 } },
      {
        count: 1,
        code: {},
        problem: { ...testView({ name: 'claude' }).problem, experiment: 'bin-packing' },
      },
    );
    const result = await acts.proposeHypotheses(view, []);

    expect(result.proposals.map((p) => p.title)).toEqual(['sort inside']);
    const why =
      'edits to the source of the baseline: initial_program.py line 2: edits outside the EVOLVE-BLOCK-START/END regions are refused';
    expect(result.dropped).toEqual([
      expect.objectContaining({
        title: 'import outside',
        fate: 'repaired',
        cause: 'invalid',
        reason: expect.stringContaining(`sent back for repair: ${why}`),
      }),
    ]);
    const calls = fake.requests.slice(n0).filter((r) => r.path.split('?')[0] === '/v1/messages');
    expect(calls).toHaveLength(2);
    const system = JSON.parse(JSON.stringify(calls[0]!.body.system)) as { text: string }[];
    const text = system.map((b) => b.text).join('\n');
    // The interface, the editable file, the markers in the source shown, and the rule.
    expect(text).toContain('Files you may edit: initial_program.py.');
    expect(text).toContain('pack(sizes, capacity, options) -&gt; bins');
    expect(text).toMatch(/# EVOLVE-BLOCK-START\n\n\ndef pack\(sizes, capacity, options\):/);
    expect(text).toContain('# EVOLVE-BLOCK-END');
    expect(text).toContain(
      'EVOLVE-BLOCKs: in initial_program.py, only the text between a `# EVOLVE-BLOCK-START` line and the next `# EVOLVE-BLOCK-END` line may change. Edits outside these blocks',
    );
    expect(text).toMatch(/Edits outside these blocks.* are refused and come back to you/);
    expect(JSON.stringify(calls[1]!.body.messages.at(-1))).toContain(
      'edits outside the EVOLVE-BLOCK-START/END regions are refused',
    );
  });
});
