import { describe, expect, it } from 'vitest';
import { permission } from './roles.js';

describe('role permissions in the UI', () => {
  it('lets a viewer do nothing and says why', () => {
    for (const a of [
      'submitProblem',
      'setCriteria',
      'startCampaign',
      'pause',
      'resume',
      'inject',
      'addNote',
      'changeBudgets',
      'stop',
      'decide',
      'clearFlag',
    ] as const) {
      const p = permission('viewer', a);
      expect(p.ok).toBe(false);
      expect(p.reason).toMatch(/signed in as viewer/);
    }
  });
  it('lets a researcher start and steer but not govern', () => {
    expect(permission('researcher', 'startCampaign').ok).toBe(true);
    expect(permission('researcher', 'inject').ok).toBe(true);
    expect(permission('researcher', 'stop')).toEqual({
      ok: false,
      reason: 'Only a PI can stop campaigns; you are signed in as researcher.',
    });
    expect(permission('researcher', 'setCriteria').ok).toBe(false);
  });
  it('lets a PI do everything', () => {
    for (const a of [
      'setCriteria',
      'changeBudgets',
      'stop',
      'decide',
      'clearFlag',
      'inject',
    ] as const)
      expect(permission('pi', a).ok).toBe(true);
  });
});
