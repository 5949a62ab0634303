/**
 * One-time installs, cached under the state folder: the Temporal CLI binary and the project's
 * Python virtual environment. Each step is idempotent and says what it does.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureHarnessSecret } from '../experiments/lib/secret.js';
import { paths, PROJECT_ROOT } from './paths.js';
import { withProgress } from './progress.js';

const execFileAsync = promisify(execFile);

/** Temporal CLI version installed from source when no binary is found. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export type Log = (line: string) => void;

export interface ResolvedBinary {
  path: string;
  /** How the binary was found: env, PATH, cache, go-install, download. */
  source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go-install' | 'download';
}

async function which(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await fs.promises.access(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Runs a command as the step `step`, with progress (stack/progress.ts): what is waited for is the
 * command, its pid and its latest line of output.
 */
function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; log: Log; cwd?: string; step: string; note?: string },
): Promise<void> {
  let child: ReturnType<typeof spawn> | undefined;
  let tail = '';
  const waitingFor = () => {
    const last = tail.trimEnd().split('\n').pop()?.trim();
    return `${path.basename(command)} (pid ${child?.pid ?? '?'})${last ? `, last output: ${last.slice(0, 100)}` : ''}`;
  };
  return withProgress(
    opts.log,
    opts.step,
    waitingFor,
    () =>
      new Promise<void>((resolve, reject) => {
        child = spawn(command, args, {
          env: opts.env ?? process.env,
          cwd: opts.cwd,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const keep = (chunk: Buffer) => {
          tail = (tail + chunk.toString()).slice(-4000);
        };
        child.stdout!.on('data', keep);
        child.stderr!.on('data', keep);
        child.once('error', reject);
        child.once('close', (code) => {
          if (code === 0) resolve();
          else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${tail}`));
        });
      }),
    opts.note ? { note: opts.note } : {},
  );
}

/** How to get Go, which builds the Temporal CLI from source. */
const GO_FIX = 'https://go.dev/doc/install; on Debian or Ubuntu: apt-get install golang-go';
const GO_MISSING = `Go is not installed (no \`go\` on PATH), so the Temporal CLI cannot be built from source: install it (${GO_FIX}), or put a \`temporal\` binary on PATH, or set TEMPORAL_CLI_PATH`;

/**
 * Finds or installs the Temporal CLI, in this order: TEMPORAL_CLI_PATH, `temporal` on PATH, the
 * cached build under the state folder, `go install` from source (Go module proxy), and last a
 * download of the release archive (needs general internet access).
 */
export async function resolveTemporalBinary(log: Log = () => {}): Promise<ResolvedBinary> {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} does not exist`);
    return { path: fromEnv, source: 'TEMPORAL_CLI_PATH' };
  }
  const onPath = await which('temporal');
  if (onPath) return { path: onPath, source: 'PATH' };
  const cached = path.join(paths.bin, 'temporal');
  if (fs.existsSync(cached)) return { path: cached, source: 'cache' };

  fs.mkdirSync(paths.bin, { recursive: true });
  const go = await which('go');
  const errors: string[] = [];
  if (go) {
    try {
      await run(go, ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`], {
        env: { ...process.env, CGO_ENABLED: '0', GOBIN: paths.bin },
        log,
        step: `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with go install`,
        note: 'first run only, about 7 minutes on 2 cores',
      });
      if (fs.existsSync(cached)) return { path: cached, source: 'go-install' };
      errors.push('go install finished but produced no binary');
    } catch (err) {
      errors.push(`go install failed: ${(err as Error).message}`);
    }
  } else {
    errors.push(GO_MISSING);
    log(`${GO_MISSING}. Trying the release download instead.`);
  }
  try {
    await withProgress(
      log,
      'Downloading the Temporal CLI release archive',
      'temporal.download',
      () => downloadTemporal(cached),
    );
    return { path: cached, source: 'download' };
  } catch (err) {
    errors.push(`download failed: ${(err as Error).message}`);
  }
  throw new Error(
    `No Temporal CLI found. Tried TEMPORAL_CLI_PATH, PATH, ${cached}, then:\n- ${errors.join('\n- ')}\n` +
      `Install Go (${GO_FIX}) and run again, or put a \`temporal\` binary on PATH, or set TEMPORAL_CLI_PATH.`,
  );
}

async function downloadTemporal(target: string): Promise<void> {
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const platform = process.platform === 'darwin' ? 'darwin' : 'linux';
  const url = `https://temporal.download/cli/archive/${TEMPORAL_CLI_VERSION}?platform=${platform}&arch=${arch}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const tmp = `${target}.tar.gz`;
  fs.writeFileSync(tmp, Buffer.from(await res.arrayBuffer()));
  await execFileAsync('tar', ['-xzf', tmp, '-C', path.dirname(target), 'temporal']);
  fs.rmSync(tmp, { force: true });
  fs.chmodSync(target, 0o755);
}

function requirementsHash(): string {
  return createHash('sha256')
    .update(fs.readFileSync(paths.requirements))
    .digest('hex')
    .slice(0, 16);
}

/** True when the venv exists and was built from the current requirements file. */
export function pythonReady(): boolean {
  const stamp = path.join(paths.venv, '.gaplab-requirements');
  return (
    fs.existsSync(paths.venvPython) &&
    fs.existsSync(stamp) &&
    fs.readFileSync(stamp, 'utf8').trim() === requirementsHash()
  );
}

/** Creates the project's Python venv and installs python/requirements.txt into it (pip). */
export async function ensurePython(log: Log = () => {}): Promise<string> {
  if (pythonReady()) return paths.venvPython;
  const python = process.env.GAPLAB_PYTHON ?? (await which('python3')) ?? (await which('python'));
  if (!python)
    throw new Error(
      'Python 3.10+ is needed for MLflow and Optuna: install python3, or set GAPLAB_PYTHON.',
    );
  if (!fs.existsSync(paths.venvPython)) {
    await run(python, ['-m', 'venv', paths.venv], {
      log,
      step: `Creating the Python environment in ${paths.venv}`,
    });
  }
  await run(
    paths.venvPython,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', paths.requirements],
    {
      log,
      step: 'Installing MLflow, Optuna and scikit-learn into it with pip',
      note: 'first run only, a minute or two',
    },
  );
  // The harness SDK of Python code experiments (python/harness), editable: `import gaplab_harness`
  // works in the venv by hand; workers also put it on each harness's PYTHONPATH.
  await run(
    paths.venvPython,
    [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '-q',
      '--no-deps',
      '-e',
      path.join(PROJECT_ROOT, 'python', 'harness'),
    ],
    { log, step: 'Installing the harness SDK (python/harness) into it' },
  );
  fs.writeFileSync(path.join(paths.venv, '.gaplab-requirements'), requirementsHash());
  return paths.venvPython;
}

/** Everything the stack needs on this machine. */
export async function ensureInstalled(
  log: Log = () => {},
): Promise<{ temporal: ResolvedBinary; python: string }> {
  const [temporal, python] = await Promise.all([resolveTemporalBinary(log), ensurePython(log)]);
  // Code experiments' harness data are keyed by it (experiments/lib/secret.ts); only its id is shown.
  const harness = ensureHarnessSecret();
  log(`Harness secret: ${harness.where} (key id ${harness.keyId})`);
  return { temporal, python };
}

/** Chromium for the browser tests: Debian's package, installed with apt-get when running as root. */
export async function ensureChromium(log: Log = () => {}): Promise<string | null> {
  const found =
    process.env.CHROMIUM_PATH ?? (await which('chromium')) ?? (await which('chromium-browser'));
  if (found) return found;
  const apt = await which('apt-get');
  if (!apt || process.getuid?.() !== 0) {
    log(
      'Chromium is not installed (needed by the browser tests): install the `chromium` package, or set CHROMIUM_PATH.',
    );
    return null;
  }
  log("Installing Chromium from Debian's packages for the browser tests (first run only)...");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run(apt, ['update', '-qq'], { env, log, step: 'apt-get update' });
  await run(apt, ['install', '-y', '-qq', 'chromium'], {
    env,
    log,
    step: 'apt-get install chromium',
  });
  return (await which('chromium')) ?? null;
}

/**
 * The sandbox code experiments' candidates run in: bubblewrap and libseccomp's Python bindings
 * (Debian's `bubblewrap` and `python3-seccomp`, installed with apt-get when running as root),
 * and a cgroup per sandbox. Returns a one-line summary (bwrap's path, the seccomp compiler, the
 * cgroup hierarchy), or null when code experiments will be refused; the log says why. Nothing
 * runs a candidate without all three (experiments/jail.ts), unless GAPLAB_SANDBOX_WITHOUT_CGROUP=1
 * waives the cgroup.
 */
export async function ensureBubblewrap(log: Log = () => {}): Promise<string | null> {
  const jail = await import('../experiments/jail.js');
  const seccompReady = async (): Promise<boolean> => {
    try {
      await jail.compileSeccomp();
      return true;
    } catch {
      return false;
    }
  };
  let bwrap = process.env.GAPLAB_BWRAP ?? (await which('bwrap'));
  const missing = [
    ...(bwrap ? [] : ['bubblewrap']),
    ...((await seccompReady()) ? [] : ['python3-seccomp']),
  ];
  if (missing.length) {
    const apt = await which('apt-get');
    if (!apt || process.getuid?.() !== 0) {
      log(
        `${missing.join(' and ')} not installed: code experiments will be refused. Install the Debian package${missing.length > 1 ? 's' : ''} ${missing.map((m) => `\`${m}\``).join(' and ')}.`,
      );
      return null;
    }
    log(
      `Installing ${missing.join(' and ')} from Debian's packages for the code-experiment sandbox...`,
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run(apt, ['update', '-qq'], { env, log, step: 'apt-get update' });
    await run(apt, ['install', '-y', '-qq', ...missing], {
      env,
      log,
      step: `apt-get install ${missing.join(' ')}`,
    });
    bwrap = await which('bwrap');
  }
  if (!bwrap) return null;
  try {
    await jail.compileSeccomp();
  } catch (e) {
    log(`${(e as Error).message}: code experiments will be refused.`);
    return null;
  }
  let cgroups: string;
  try {
    const l = jail.cgroupLayout();
    const ctrls = Object.entries(l)
      .filter(([k, v]) => k !== 'version' && v)
      .map(([k]) => k);
    cgroups = `cgroup v${l.version} (${ctrls.join(', ')})`;
  } catch (e) {
    if (process.env[jail.NO_CGROUP_ENV] === '1') {
      log(
        `${(e as Error).message}: ${jail.NO_CGROUP_ENV}=1, so candidates run with per-process limits only (the whole sandbox's memory and CPU are not bounded).`,
      );
      cgroups = 'no cgroup (waived)';
    } else {
      log(
        `${(e as Error).message}: code experiments will be refused. Run the worker as root, or in a cgroup v2 it can write with the memory and pids controllers (${jail.NO_CGROUP_ENV}=1 waives this on hosts that cannot).`,
      );
      return null;
    }
  }
  return `${bwrap}, seccomp (libseccomp), ${cgroups}`;
}

/** Where Debian puts PostgreSQL's server programs (`/usr/lib/postgresql/<major>/bin`), newest first. */
function postgresBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  try {
    return fs
      .readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => path.join(root, v, 'bin'));
  } catch {
    return [];
  }
}

/** The folder holding `initdb` and `postgres`, or null: GAPLAB_POSTGRES_BIN, Debian's folder, PATH. */
export async function findPostgres(): Promise<string | null> {
  const dirs = [process.env.GAPLAB_POSTGRES_BIN, ...postgresBinDirs()].filter(
    (d): d is string => !!d,
  );
  for (const dir of dirs) if (fs.existsSync(path.join(dir, 'initdb'))) return dir;
  const initdb = await which('initdb');
  return initdb ? path.dirname(fs.realpathSync(initdb)) : null;
}

/**
 * PostgreSQL for MLflow's backend store (`gaplab setup --postgres`): Debian's `postgresql`
 * package, installed with apt-get when running as root. Returns the folder of its programs.
 */
export async function ensurePostgres(log: Log = () => {}): Promise<string> {
  const found = await findPostgres();
  if (found) return found;
  const apt = await which('apt-get');
  if (!apt || process.getuid?.() !== 0)
    throw new Error(
      'PostgreSQL is not installed: install the `postgresql` package (Debian/Ubuntu), or set GAPLAB_POSTGRES_BIN to the folder holding initdb and postgres.',
    );
  log("Installing PostgreSQL from Debian's packages (first run only)...");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run(apt, ['update', '-qq'], { env, log, step: 'apt-get update' });
  await run(apt, ['install', '-y', '-qq', 'postgresql'], {
    env,
    log,
    step: 'apt-get install postgresql',
  });
  const dir = await findPostgres();
  if (!dir) throw new Error('apt-get installed postgresql but initdb was not found');
  return dir;
}

/** Version of Temporal's Java test server (Maven Central io.temporal:temporal-test-server). */
export const TEMPORAL_TEST_SERVER_VERSION = '1.31.0';

export interface ResolvedTestServer {
  /** An executable taking the test server's arguments (`<port> --enable-time-skipping`). */
  path: string;
  source: 'GAPLAB_TEMPORAL_TEST_SERVER' | 'cache' | 'maven';
}

/** The launcher of the cached test server install, whether it exists or not. */
export function timeSkippingServerPath(): string {
  return path.join(paths.testServer, TEMPORAL_TEST_SERVER_VERSION, 'temporal-test-server');
}

/**
 * Finds or installs Temporal's time-skipping test server, which the tests under
 * test/time-skipping run against (a day of workflow time passes in milliseconds). The SDK normally
 * downloads a native build from temporal.download; this installs the same server from Maven
 * Central instead, where package registries are all a machine may reach: `mvn` copies the jars
 * of io.temporal:temporal-test-server into the state folder and a launcher runs them with `java`.
 * Order: GAPLAB_TEMPORAL_TEST_SERVER (any launcher or native binary), the cached install, Maven
 * (java and mvn on PATH, or Debian's `maven` package installed with apt-get when running as root).
 */
export async function resolveTimeSkippingServer(log: Log = () => {}): Promise<ResolvedTestServer> {
  const fromEnv = process.env.GAPLAB_TEMPORAL_TEST_SERVER;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv))
      throw new Error(`GAPLAB_TEMPORAL_TEST_SERVER=${fromEnv} does not exist`);
    return { path: fromEnv, source: 'GAPLAB_TEMPORAL_TEST_SERVER' };
  }
  const launcher = timeSkippingServerPath();
  if (fs.existsSync(launcher)) return { path: launcher, source: 'cache' };

  let [java, mvn] = [await which('java'), await which('mvn')];
  const apt = await which('apt-get');
  if ((!java || !mvn) && apt && process.getuid?.() === 0) {
    // Debian's maven package brings a Java runtime along.
    log("Installing Java and Maven from Debian's packages for the time-skipping test server...");
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run(apt, ['update', '-qq'], { env, log, step: 'apt-get update' });
    await run(apt, ['install', '-y', '-qq', 'maven'], { env, log, step: 'apt-get install maven' });
    [java, mvn] = [await which('java'), await which('mvn')];
  }
  if (!java || !mvn) {
    const missing = [java ? null : 'java (a JDK or JRE, 11 or newer)', mvn ? null : 'mvn (Maven)'];
    throw new Error(
      `Temporal's time-skipping test server needs ${missing.filter(Boolean).join(' and ')} on PATH ` +
        `to install (Debian: apt-get install maven), or set GAPLAB_TEMPORAL_TEST_SERVER to a test ` +
        `server executable.`,
    );
  }
  log(
    `Installing Temporal's time-skipping test server ${TEMPORAL_TEST_SERVER_VERSION} from Maven Central (first run only, about a minute)...`,
  );
  // Built beside the final folder and renamed into place: an interrupted install leaves no
  // launcher behind, so the next run starts over.
  const dir = path.dirname(launcher);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  fs.writeFileSync(
    path.join(tmp, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>gaplab</groupId>
  <artifactId>temporal-test-server</artifactId>
  <version>${TEMPORAL_TEST_SERVER_VERSION}</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>${TEMPORAL_TEST_SERVER_VERSION}</version>
    </dependency>
  </dependencies>
</project>
`,
  );
  try {
    await run(mvn, ['-q', '-B', 'dependency:copy-dependencies', '-DoutputDirectory=lib'], {
      cwd: tmp,
      log,
      step: 'mvn dependency:copy-dependencies (temporal-test-server)',
    });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(
      `installing Temporal's test server with Maven failed: ${(err as Error).message}`,
    );
  }
  // A client-compiler JVM with a class-data archive of the server's own classes starts in about
  // a second instead of several: the SDK gives the server 5 s to answer, on a busy machine too.
  const flags = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];
  const classpath = `${path.join(dir, 'lib')}/*`;
  const archive = path.join(dir, 'classes.jsa');
  try {
    await dumpClassArchive(java, [...flags, '-cp', classpath], archive);
    flags.push('-Xshare:auto', `-XX:SharedArchiveFile=${archive}`);
  } catch (err) {
    log(`(no class-data archive, the test server starts slower: ${(err as Error).message})`);
  }
  // Written last: a launcher means a complete install.
  fs.writeFileSync(
    launcher,
    `#!/bin/sh\n# Temporal's Java test server ${TEMPORAL_TEST_SERVER_VERSION}, installed by gaplab setup.\n` +
      `exec '${java}' ${flags.join(' ')} -cp '${classpath}' io.temporal.testserver.TestServer "$@"\n`,
    { mode: 0o755 },
  );
  return { path: launcher, source: 'maven' };
}

/** Runs the test server once until it listens, and has the JVM archive the classes it loaded. */
async function dumpClassArchive(java: string, jvmArgs: string[], archive: string): Promise<void> {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const child = spawn(
    java,
    [
      `-XX:ArchiveClassesAtExit=${archive}`,
      ...jvmArgs,
      'io.temporal.testserver.TestServer',
      String(port),
      '--enable-time-skipping',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const open = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (open) break;
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error('the test server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  if (!fs.existsSync(archive)) throw new Error('the JVM wrote no archive');
}
