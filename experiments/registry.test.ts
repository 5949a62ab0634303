import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ExperimentDefinitionError,
  ExperimentRegistry,
  loadRegistry,
  UnknownExperimentError,
} from './registry.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'gaplab-registry-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function put(rel: string, text: string): Promise<string> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

const YAML = `
description: a command experiment
metrics:
  - { name: acc, description: accuracy, direction: maximize }
  - { name: secret_acc, description: held out }
command: ["{python}", "{dir}/train.py", "--root={project}"]
env: { MODE: fast }
`;

describe('loadRegistry', () => {
  it('loads experiment.yaml with placeholders resolved, and problem files next to it', async () => {
    await put('alpha/experiment.yaml', YAML);
    await put('alpha/problem.yaml', 'id: alpha');
    await put('alpha/criteria.yaml', 'metric: acc');
    await put('not-an-experiment/notes.txt', 'ignored');
    const reg = await loadRegistry(root, { placeholders: { python: '/opt/py', project: '/proj' } });
    const e = reg.get('alpha');
    expect(e.runner).toEqual({
      kind: 'command',
      argv: ['/opt/py', path.join(root, 'alpha/train.py'), '--root=/proj'],
      cwd: path.join(root, 'alpha'),
      env: { MODE: 'fast' },
    });
    expect(e.defaultTimeoutSeconds).toBe(600);
    expect(e.problem).toEqual({
      spec: path.join(root, 'alpha/problem.yaml'),
      criteria: path.join(root, 'alpha/criteria.yaml'),
    });
    expect(reg.names()).toEqual(['alpha']);
  });

  it('loads experiment.ts exporting one definition or an array', async () => {
    const types = path.join(import.meta.dirname, 'types.js');
    await put(
      'beta/experiment.ts',
      `import type { ExperimentDefinition } from ${JSON.stringify(types)};
       const mk = (name: string): ExperimentDefinition => ({ name, description: name, metrics: [{ name: 'v', description: '' }],
         defaultTimeoutSeconds: 5, runner: { kind: 'function', run: async () => ({ v: 1 }) } });
       export default [mk('beta-1'), mk('beta-2')];`,
    );
    const reg = await loadRegistry(root);
    expect(reg.names()).toEqual(['beta-1', 'beta-2']);
    expect(reg.get('beta-2').source).toBe(path.join(root, 'beta/experiment.ts'));
  });

  it('names the file and the field of an invalid definition', async () => {
    const file = await put('gamma/experiment.yaml', YAML.replace('name: acc', 'name: "9 bad"'));
    await expect(loadRegistry(root)).rejects.toThrow(ExperimentDefinitionError);
    await expect(loadRegistry(root)).rejects.toThrow(`${file}: metrics[0].name:`);
  });

  it('rejects unknown placeholders and unknown fields', async () => {
    const file = await put(
      'delta/experiment.yaml',
      YAML.replace('{dir}/train.py', '{home}/train.py'),
    );
    await expect(loadRegistry(root)).rejects.toThrow(
      `${file}: command[1]: unknown placeholder {home}`,
    );
    await put('delta/experiment.yaml', `${YAML}\nshell: "rm -rf /"\n`);
    await expect(loadRegistry(root)).rejects.toThrow(/unknown key "shell"/);
  });

  it('rejects a definition without a runnable runner, naming the field', async () => {
    const file = await put(
      'eps/experiment.ts',
      `export default { name: 'eps', description: 'x', metrics: [{ name: 'v', description: '' }], defaultTimeoutSeconds: 5, runner: { kind: 'function', run: 'nope' } };`,
    );
    await expect(loadRegistry(root)).rejects.toThrow(
      `${file}: default.runner.run: must be a function`,
    );
  });

  it('rejects two experiments with one name', async () => {
    await put('one/experiment.yaml', `name: same\n${YAML}`);
    await put('two/experiment.yaml', `name: same\n${YAML}`);
    await expect(loadRegistry(root)).rejects.toThrow(/experiment "same" is also defined in/);
  });
});

describe('ExperimentRegistry', () => {
  const reg = ExperimentRegistry.of({
    name: 'x',
    description: 'desc',
    metrics: [
      { name: 'acc', description: 'a' },
      { name: 'heldout', description: 'h' },
    ],
    defaultTimeoutSeconds: 9,
    runner: { kind: 'command', argv: ['/bin/secret-tool', '--token=abc'] },
  });

  it('get throws UnknownExperimentError listing what is registered', () => {
    expect(() => reg.get('y')).toThrow(UnknownExperimentError);
    expect(() => reg.get('y')).toThrow('unknown experiment "y"; registered experiments: x');
    expect(reg.has('x')).toBe(true);
  });

  it('describe shows an agent no command and no hidden metric', () => {
    const d = reg.describe('x', { hiddenMetrics: ['heldout'] });
    expect(d).toEqual({
      name: 'x',
      description: 'desc',
      metrics: [{ name: 'acc', description: 'a' }],
      defaultTimeoutSeconds: 9,
    });
    expect(JSON.stringify(d)).not.toContain('secret-tool');
  });
});
