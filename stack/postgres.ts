/**
 * A PostgreSQL cluster of the stack's own, for MLflow's backend store (`gaplab stack up
 * --postgres`): created with initdb under the stack's folder, listening on loopback on a port of
 * its own, password-protected, run as the `postgres` system user when gaplab runs as root
 * (PostgreSQL refuses to run as root). SQLite records about 5 trials/s; this is the production
 * path docker-compose.yml takes.
 *
 * When gaplab runs as root from a folder the `postgres` user cannot reach (a checkout under
 * /root or in a `mktemp -d` folder: root-owned, mode 0700), the cluster's `data/` and `run/`
 * live under {@link SYSTEM_CLUSTERS_DIR} instead, in a folder named after the stack folder's
 * path, so the server and initdb can read their files without opening the checkout to others.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { searchableBy } from './access.js';

const execFileAsync = promisify(execFile);

/** The database user MLflow connects as. */
export const POSTGRES_USER = 'gaplab';
export const MLFLOW_DATABASE = 'mlflow';

/**
 * Where a root install keeps clusters the `postgres` user could not reach in the stack's own
 * folder (override: GAPLAB_POSTGRES_SYSTEM_DIR).
 */
export const SYSTEM_CLUSTERS_DIR =
  process.env.GAPLAB_POSTGRES_SYSTEM_DIR ?? '/var/lib/gaplab/postgres';

export interface PostgresClusterOptions {
  /** Folder of the cluster: `data/`, `run/` (socket, password). */
  dir: string;
  host: string;
  port: number;
  /** Folder of initdb, postgres, pg_isready, createdb. */
  binDir: string;
}

/** uid and gid of the `postgres` system user when gaplab runs as root; undefined otherwise. */
function serviceUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line)
    throw new Error(
      'PostgreSQL cannot run as root and there is no `postgres` user: install the postgresql package, or run gaplab as another user',
    );
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function chownTree(p: string, user: { uid: number; gid: number }): void {
  fs.chownSync(p, user.uid, user.gid);
  if (fs.statSync(p).isDirectory())
    for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), user);
}

export class PostgresCluster {
  /** Folder holding `data/` and `run/`: `opts.dir`, or one under SYSTEM_CLUSTERS_DIR (see above). */
  readonly location: string;
  readonly dataDir: string;
  readonly runDir: string;
  private readonly user = serviceUser();

  constructor(private readonly opts: PostgresClusterOptions) {
    const dir = path.resolve(opts.dir);
    this.location =
      this.user && !searchableBy(dir, this.user.uid, [this.user.gid])
        ? path.join(
            SYSTEM_CLUSTERS_DIR,
            createHash('sha256').update(dir).digest('hex').slice(0, 24),
          )
        : dir;
    this.dataDir = path.join(this.location, 'data');
    this.runDir = path.join(this.location, 'run');
  }

  private bin(name: string): string {
    return path.join(this.opts.binDir, name);
  }

  private get passwordFile(): string {
    return path.join(this.runDir, 'password');
  }

  /** The password of the `gaplab` user (created with the cluster). */
  password(): string {
    return fs.readFileSync(this.passwordFile, 'utf8').trim();
  }

  /** SQLAlchemy URI of a database of this cluster (the psycopg2 driver pinned in python/requirements.txt). */
  uri(database = MLFLOW_DATABASE): string {
    return `postgresql+psycopg2://${POSTGRES_USER}:${encodeURIComponent(this.password())}@${this.opts.host}:${this.opts.port}/${database}`;
  }

  /** uid/gid the server runs as (the `postgres` user when gaplab runs as root). */
  get runAs(): { uid: number; gid: number } | undefined {
    return this.user;
  }

  /** Creates the cluster once (initdb); later calls find it in place. */
  async init(): Promise<void> {
    if (this.location !== path.resolve(this.opts.dir)) {
      // Root-owned, searchable, not listable: each cluster's own folder belongs to postgres.
      fs.mkdirSync(SYSTEM_CLUSTERS_DIR, { recursive: true, mode: 0o711 });
      fs.chmodSync(SYSTEM_CLUSTERS_DIR, 0o711);
    }
    fs.mkdirSync(this.runDir, { recursive: true, mode: 0o700 });
    if (fs.existsSync(path.join(this.dataDir, 'PG_VERSION'))) return;
    fs.mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
    if (this.user) chownTree(this.location, this.user);
    await execFileAsync(
      this.bin('initdb'),
      [
        '-D',
        this.dataDir,
        '-U',
        POSTGRES_USER,
        `--pwfile=${this.passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--no-instructions',
      ],
      {
        ...(this.user ?? {}),
        // The worker's own folder may be out of the postgres user's reach.
        cwd: this.location,
        env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
      },
    );
  }

  /** Arguments of the server process: loopback only, its socket in the cluster's folder. */
  serverArgs(): string[] {
    return [
      '-D',
      this.dataDir,
      '-h',
      this.opts.host,
      '-p',
      String(this.opts.port),
      '-k',
      this.runDir,
      // MLflow opens a pool per worker; the default 100 leaves room, fewer buffers fit small machines.
      '-c',
      'shared_buffers=64MB',
    ];
  }

  get serverBinary(): string {
    return this.bin('postgres');
  }

  /** True when the server accepts connections. */
  async ready(): Promise<boolean> {
    try {
      await execFileAsync(this.bin('pg_isready'), [
        '-q',
        '-h',
        this.opts.host,
        '-p',
        String(this.opts.port),
      ]);
      return true;
    } catch {
      return false;
    }
  }

  /** Creates MLflow's database unless it exists. */
  async ensureDatabase(database = MLFLOW_DATABASE): Promise<void> {
    const env = { ...process.env, PGPASSWORD: this.password() };
    const common = ['-h', this.opts.host, '-p', String(this.opts.port), '-U', POSTGRES_USER];
    try {
      await execFileAsync(this.bin('createdb'), [...common, database], { env });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '');
      if (!stderr.includes('already exists')) throw err;
    }
  }
}
