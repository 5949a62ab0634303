/**
 * The MLflow image and the local venv run the same MLflow and PostgreSQL driver: the image takes
 * its versions from python/requirements.txt (as pip constraints), and the image tag in
 * docker-compose.yml names the MLflow it holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const read = (p: string) => fs.readFileSync(path.join(root, p), 'utf8');

/** `name==version` pins of python/requirements.txt, by lower-case name. */
function requirementPins(): Map<string, string> {
  const pins = new Map<string, string>();
  for (const raw of read('python/requirements.txt').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^([A-Za-z0-9_.-]+)==([^\s;]+)/.exec(line);
    if (m) pins.set(m[1]!.toLowerCase(), m[2]!);
  }
  return pins;
}

/** The Dockerfile's `pip install` commands (continuation lines joined), tokenised. */
function pipInstalls(dockerfile: string): string[][] {
  const joined = dockerfile.replace(/\\\n/g, ' ');
  return [...joined.matchAll(/pip install ([^&\n]+)/g)].map((m) => m[1]!.trim().split(/\s+/));
}

describe('docker/mlflow.Dockerfile', () => {
  const dockerfile = read('docker/mlflow.Dockerfile');
  const pins = requirementPins();
  const installs = pipInstalls(dockerfile);

  it('installs MLflow and psycopg2-binary at the versions python/requirements.txt pins', () => {
    expect(installs.length).toBeGreaterThan(0);
    const packages = new Map<string, string | undefined>();
    for (const args of installs) {
      // Constraints from the requirements file copied into the image pin what is left unpinned.
      const c = args.indexOf('-c');
      const constrained = c >= 0 && /requirements\.txt$/.test(args[c + 1] ?? '');
      if (constrained)
        expect(dockerfile).toMatch(new RegExp(`COPY python/requirements\\.txt ${args[c + 1]}`));
      for (const [i, a] of args.entries()) {
        if (a.startsWith('-') || args[i - 1] === '-c') continue;
        const [name, version] = a.split('==') as [string, string | undefined];
        packages.set(name.toLowerCase(), version ?? (constrained ? pins.get(name) : undefined));
      }
    }
    for (const name of ['mlflow', 'psycopg2-binary']) {
      expect(pins.get(name), `${name} pinned in python/requirements.txt`).toMatch(/^\d/);
      expect(packages.get(name), `${name} in the image`).toBe(pins.get(name));
    }
    for (const [name, version] of packages)
      expect(version, `${name}: pinned or constrained`).toBeDefined();
  });

  it('is tagged in docker-compose.yml with the MLflow version it installs', () => {
    expect(read('docker-compose.yml')).toContain(`image: gaplab/mlflow:${pins.get('mlflow')}`);
  });
});
