import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('.dockerignore', () => {
  it('keeps secrets and local state out of the build context', () => {
    const lines = fs
      .readFileSync(path.join(import.meta.dirname, '..', '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const p of ['.env', 'docker/tokens.yaml', '.gaplab', 'node_modules'])
      expect(lines, p).toContain(p);
    // The example files document the setup and hold no secret.
    expect(lines).toContain('!.env.example');
    expect(lines).not.toContain('docker/tokens.example.yaml');
  });
});
