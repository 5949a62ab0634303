import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupAlive } from '../experiments/runner.js';
import { processStartTime, reapOrphans } from './process-guard.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-guard-'));
const started: number[] = [];
afterAll(() => {
  for (const g of started) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A process group like an experiment's: a shell and a sleeping grandchild. */
function experimentGroup(): number {
  const child = spawn('sh', ['-c', 'sleep 60 & sleep 60; wait'], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  started.push(child.pid!);
  return child.pid!;
}

function record(pgid: number, workerPid: number, workerStart: number | undefined): void {
  fs.writeFileSync(
    path.join(dir, `${pgid}.json`),
    JSON.stringify({ pgid, leaderStart: processStartTime(pgid), workerPid, workerStart }),
  );
}

describe('reaping what dead workers left', () => {
  it("kills a dead worker's groups and keeps a live worker's", async () => {
    // A pid that existed and is gone: a dead worker.
    const dead = spawnSync('true').pid!;
    const orphan = experimentGroup();
    const owned = experimentGroup();
    await new Promise((r) => setTimeout(r, 200));
    record(orphan, dead, 1);
    record(owned, process.pid, processStartTime(process.pid));

    expect(reapOrphans(dir)).toEqual([orphan]);
    for (let i = 0; i < 50 && groupAlive(orphan); i++) await new Promise((r) => setTimeout(r, 50));
    expect(groupAlive(orphan)).toBe(false);
    expect(groupAlive(owned)).toBe(true);
    expect(fs.existsSync(path.join(dir, `${orphan}.json`))).toBe(false);
    expect(fs.existsSync(path.join(dir, `${owned}.json`))).toBe(true);
  });

  it('never kills a group whose leader pid now belongs to another process', () => {
    const other = experimentGroup();
    // Registered with another start time: the pid was reused since.
    fs.writeFileSync(
      path.join(dir, `${other}.json`),
      JSON.stringify({ pgid: other, leaderStart: 1, workerPid: 999_999_999, workerStart: 1 }),
    );
    expect(reapOrphans(dir)).toEqual([]);
    expect(groupAlive(other)).toBe(true);
    expect(fs.existsSync(path.join(dir, `${other}.json`))).toBe(false);
  });
});
