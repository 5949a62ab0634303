import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reachableBy, searchableBy } from './access.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-access-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('reachableBy / searchableBy', () => {
  it('a folder below a 0700 folder of another user is out of reach; a 0711 one is not', () => {
    const priv = path.join(base, 'private');
    const open = path.join(base, 'open');
    for (const [dir, mode] of [
      [priv, 0o700],
      [open, 0o711],
    ] as const) {
      fs.mkdirSync(path.join(dir, 'site'), { recursive: true });
      fs.chmodSync(dir, mode);
      fs.chmodSync(path.join(dir, 'site'), 0o755);
    }
    fs.chmodSync(base, 0o755);
    const owner = fs.statSync(base).uid;
    const other = owner === 65534 ? 65533 : 65534;
    expect(reachableBy(path.join(priv, 'site'), other, [other])).toBe(false);
    expect(searchableBy(path.join(priv, 'site', 'later'), other, [other])).toBe(false);
    expect(reachableBy(path.join(open, 'site'), other, [other])).toBe(true);
    expect(searchableBy(path.join(open, 'site', 'later'), other, [other])).toBe(true);
    // Listing needs r on the folder itself: 0711 lets others through, not read it.
    expect(reachableBy(open, other, [other])).toBe(false);
    // The owner gets through its own 0700 folder; a missing path is never reachable.
    expect(reachableBy(path.join(priv, 'site'), owner, [])).toBe(true);
    expect(reachableBy(path.join(base, 'absent'), owner, [])).toBe(false);
  });
});
