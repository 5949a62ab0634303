/**
 * The images run a Node that package.json's engines accept: the dependencies declare Node 22,
 * and an image on another major installs with warnings or fails at run time.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
// semver ships no types of its own; this is the one function used.
const semver = createRequire(import.meta.url)('semver') as {
  satisfies(version: string, range: string): boolean;
};

/** The version of each `FROM node:<version>[-variant]` line of a Dockerfile. */
function nodeImageVersions(dockerfile: string): string[] {
  return [...dockerfile.matchAll(/^FROM\s+(?:--\S+\s+)*node:(\d+(?:\.\d+){0,2})\S*/gm)].map(
    (m) => m[1]!,
  );
}

/** The lowest release a tag such as `22.23` may resolve to (`22.23.0`). */
const lowest = (tag: string) => [...tag.split('.'), '0', '0'].slice(0, 3).join('.');

describe('the Node version of the Docker images', () => {
  const engines = (
    JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      engines: { node: string };
    }
  ).engines.node;
  const dockerfiles = fs
    .readdirSync(path.join(root, 'docker'))
    .filter((f) => f === 'Dockerfile' || f.endsWith('.Dockerfile'))
    .map((f) => path.join('docker', f));

  it('reads the tag of a FROM line', () => {
    expect(nodeImageVersions('FROM node:20.20-bookworm-slim\nRUN x\nFROM node:24 AS b\n')).toEqual([
      '20.20',
      '24',
    ]);
    expect(semver.satisfies(lowest('20.20'), engines)).toBe(false);
  });

  it(`every node image satisfies package.json's engines (${engines})`, () => {
    const found = dockerfiles.flatMap((f) =>
      nodeImageVersions(fs.readFileSync(path.join(root, f), 'utf8')).map((v) => ({ f, v })),
    );
    expect(found.length, 'a Dockerfile builds on a node image').toBeGreaterThan(0);
    for (const { f, v } of found)
      expect(semver.satisfies(lowest(v), engines), `${f}: node:${v} against ${engines}`).toBe(true);
  });
});
