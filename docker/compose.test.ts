/**
 * docker-compose.yml cannot run here (no Docker engine), so this checks its wiring: every
 * service the app needs, pinned images, health checks, and addresses that match the services
 * and the settings the app reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ENV } from '../server/config.js';

const root = path.resolve(import.meta.dirname, '..');
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  deploy?: { replicas?: number };
  secrets?: string[];
  volumes?: string[];
}
const compose = YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
};
const s = compose.services;

describe('docker-compose.yml', () => {
  it('has every service the app needs', () => {
    expect(Object.keys(s).sort()).toEqual([
      'mlflow',
      'mlflow-users',
      'postgresql',
      'server',
      'temporal',
      'temporal-ui',
      'worker',
    ]);
  });

  it('pins every image and builds from files that exist', () => {
    for (const [name, svc] of Object.entries(s)) {
      expect(svc.image, name).toMatch(/^[\w./-]+:\d[\w.-]*$/);
      if (svc.build)
        expect(fs.existsSync(path.join(root, svc.build.context, svc.build.dockerfile)), name).toBe(
          true,
        );
    }
  });

  it('health-checks the services others wait for, and dependants wait for health', () => {
    for (const name of ['postgresql', 'temporal', 'mlflow', 'server'])
      expect(s[name]!.healthcheck?.test.length, name).toBeGreaterThan(0);
    for (const [name, svc] of Object.entries(s)) {
      for (const [dep, cond] of Object.entries(svc.depends_on ?? {})) {
        expect(s[dep], `${name} depends on unknown ${dep}`).toBeDefined();
        if (s[dep]!.healthcheck)
          expect(cond.condition, `${name} -> ${dep}`).toBe('service_healthy');
      }
    }
  });

  it('wires the server and the workers to Temporal and MLflow by service name and port', () => {
    const mlflowPort = s.mlflow!.command!.find((a) => a.startsWith('--port='))!.split('=')[1];
    for (const name of ['server', 'worker']) {
      const env = s[name]!.environment!;
      expect(env[ENV.temporalAddress], name).toBe('temporal:7233');
      expect(env[ENV.mlflowUri], name).toBe(`http://mlflow:${mlflowPort}`);
      expect(s[name]!.depends_on).toHaveProperty('temporal');
      expect(s[name]!.depends_on).toHaveProperty('mlflow');
    }
    expect(s['temporal-ui']!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
    // One harness secret for every worker replica: compose refuses to start without it.
    expect(s.worker!.environment!.GAPLAB_HARNESS_SECRET).toMatch(
      /^\$\{GAPLAB_HARNESS_SECRET:\?.+\}$/,
    );
    expect(s.temporal!.environment!.POSTGRES_SEEDS).toBe('postgresql');
  });

  it('keeps MLflow on PostgreSQL (its own database) with a volume for artifacts', () => {
    const backend = s.mlflow!.command!.find((a) => a.startsWith('--backend-store-uri='))!;
    expect(backend).toMatch(/^--backend-store-uri=postgresql:\/\/.*@postgresql:5432\/mlflow$/);
    expect(fs.readFileSync(path.join(root, 'docker/postgres/init.sql'), 'utf8')).toMatch(
      /CREATE DATABASE mlflow/,
    );
    expect(s.mlflow!.command).toContain('--serve-artifacts');
    expect(s.mlflow!.volumes!.some((v) => v.endsWith(':/mlflow/artifacts'))).toBe(true);
  });

  it('runs MLflow with its own authentication, no anonymous reads, gaplab as a service account', () => {
    expect(s.mlflow!.command).toContain('--app-name=basic-auth');
    const ini = s.mlflow!.environment!.MLFLOW_AUTH_CONFIG_PATH!;
    const mount = s.mlflow!.volumes!.find((v) => v.endsWith(`:${ini}:ro`))!;
    const text = fs.readFileSync(path.join(root, mount.split(':')[0]!), 'utf8');
    expect(text).toMatch(/^default_permission = NO_PERMISSIONS$/m);
    expect(text).not.toMatch(/admin_password/);
    expect(s.mlflow!.environment!.MLFLOW_AUTH_ADMIN_PASSWORD).toMatch(
      /^\$\{MLFLOW_ADMIN_PASSWORD:\?/,
    );
    for (const name of ['server', 'worker']) {
      expect(s[name]!.environment!.MLFLOW_TRACKING_USERNAME, name).toBe('gaplab');
      expect(s[name]!.environment!.MLFLOW_TRACKING_PASSWORD, name).toMatch(
        /^\$\{MLFLOW_SERVICE_PASSWORD:\?/,
      );
    }
    expect(s.server!.depends_on!['mlflow-users']!.condition).toBe('service_completed_successfully');
  });

  it('scales workers by replicas and never exposes a server without tokens', () => {
    expect(s.worker!.deploy!.replicas).toBeGreaterThanOrEqual(2);
    expect(s.server!.command).toContain('0.0.0.0');
    expect(s.server!.environment![ENV.tokensFile]).toBe('/run/secrets/gaplab-tokens');
    expect(compose.secrets['gaplab-tokens']!.file).toBe('./docker/tokens.yaml');
    expect(fs.existsSync(path.join(root, 'docker/tokens.example.yaml'))).toBe(true);
  });

  it('publishes ports on the loopback interface only', () => {
    for (const [name, svc] of Object.entries(s))
      for (const p of svc.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:/);
  });
});
