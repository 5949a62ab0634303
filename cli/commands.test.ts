import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InjectBody, StartCampaignBody, StopBody } from '../api/schemas.js';
import { controlBody, proposalOf, startBody } from './commands.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('gaplab propose', () => {
  it('sends the patch as a diff edit and types --set values, in the shape the API takes', async () => {
    const file = path.join(tmp, 'change.diff');
    const diff = '--- a/method.py\n+++ b/method.py\n@@ -1 +1 @@\n-x\n+y\n';
    await writeFile(file, diff);
    const body = proposalOf({
      title: 'T',
      patch: file,
      parent: 't0003',
      set: ['lr=0.01', 'epochs=20', 'aux=true', 'mode=soft', 'empty='],
    });
    expect(body).toEqual({
      title: 'T',
      parentTrialId: 't0003',
      changes: { lr: 0.01, epochs: 20, aux: true, mode: 'soft', empty: '' },
      edits: [{ kind: 'diff', diff }],
    });
    expect(InjectBody.safeParse(body).success).toBe(true);
  });

  it('names the option that is wrong', async () => {
    expect(() => proposalOf({ title: 'T', set: ['lr'] })).toThrow('--set lr: expected name=value');
    expect(() => proposalOf({ title: 'T', patch: path.join(tmp, 'missing.diff') })).toThrow(
      /^--patch: cannot read .*missing\.diff: ENOENT/,
    );
    await writeFile(path.join(tmp, 'empty.diff'), '\n');
    expect(() => proposalOf({ title: 'T', patch: path.join(tmp, 'empty.diff') })).toThrow(
      /--patch: .*empty\.diff is empty/,
    );
  });
});

describe('gaplab start', () => {
  it('--paused asks the API to start the campaign paused, in the shape the API takes', () => {
    const body = startBody('branin', { strategy: 'random', seed: 3, paused: true });
    expect(body).toEqual({
      problemId: 'branin',
      strategy: { name: 'random' },
      seed: 3,
      paused: true,
    });
    expect(StartCampaignBody.safeParse(body).success).toBe(true);
    expect(startBody('branin', { strategy: 'random' })).not.toHaveProperty('paused');
  });

  it('--webhook and --webhook-pi-only become the notify setting the API takes', () => {
    const body = startBody('branin', {
      strategy: 'random',
      webhook: 'https://hooks.slack.com/services/T0/B0/x',
      webhookPiOnly: true,
    });
    expect(body.notify).toEqual({ url: 'https://hooks.slack.com/services/T0/B0/x', piOnly: true });
    expect(StartCampaignBody.safeParse(body).success).toBe(true);
    expect(startBody('branin', { strategy: 'random' })).not.toHaveProperty('notify');
    expect(() => startBody('branin', { strategy: 'random', webhookPiOnly: true })).toThrow(
      '--webhook-pi-only needs --webhook <url>',
    );
  });
});

describe('gaplab stop', () => {
  it('--let-running-finish asks the API not to cancel running work, in the shape the API takes', () => {
    const body = controlBody({ reason: 'enough', letRunningFinish: true });
    expect(body).toEqual({ reason: 'enough', cancelRunning: false });
    expect(StopBody.safeParse(body).success).toBe(true);
    expect(controlBody({})).toEqual({});
  });
});
