/**
 * Whether another user can reach a path: every folder above it searchable (x) by that user, the
 * path itself readable. A root worker hands paths to unprivileged users (the sandbox's uid, the
 * `postgres` user); a checkout inside a root-owned 0700 folder (/root, `mktemp -d`) is out of
 * their reach, and the callers then place what those users need somewhere they can reach.
 */
import fs from 'node:fs';
import path from 'node:path';

function allows(st: fs.Stats, uid: number, gids: readonly number[], bit: number): boolean {
  if (uid === 0) return true;
  if (st.uid === uid) return (st.mode & (bit << 6)) !== 0;
  if (gids.includes(st.gid)) return (st.mode & (bit << 3)) !== 0;
  return (st.mode & bit) !== 0;
}

/**
 * True when `uid` (with groups `gids`) can traverse to `target` and read it (and list it, for a
 * folder). Symlinks on the way are followed as the kernel would (the resolved path is checked).
 */
export function reachableBy(target: string, uid: number, gids: readonly number[]): boolean {
  let real: string;
  try {
    real = fs.realpathSync(target);
  } catch {
    return false;
  }
  const parts = real.split('/').filter(Boolean);
  let dir = '/';
  for (const part of parts) {
    if (!allows(fs.statSync(dir), uid, gids, 1)) return false;
    dir = path.join(dir, part);
  }
  const st = fs.statSync(real);
  return allows(st, uid, gids, 4) && (!st.isDirectory() || allows(st, uid, gids, 1));
}

/**
 * True when `uid` can search every folder from / down to `dir`, or, when `dir` does not exist
 * yet, down to its nearest existing ancestor (the rest is created for that user).
 */
export function searchableBy(dir: string, uid: number, gids: readonly number[]): boolean {
  let p = path.resolve(dir);
  while (!fs.existsSync(p)) p = path.dirname(p);
  const real = fs.realpathSync(p);
  let at = '/';
  for (const part of ['', ...real.split('/').filter(Boolean)]) {
    at = path.join(at, part);
    if (!allows(fs.statSync(at), uid, gids, 1)) return false;
  }
  return true;
}
