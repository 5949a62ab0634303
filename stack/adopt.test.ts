/**
 * A stack never uses a server it did not start unless told to: on a shared machine a healthy
 * server on the stack's port may be someone else's. Servers are faked here (MLflow's health check
 * is one HTTP route); no service starts.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Stack } from './index.js';
import { describeHolder, freePort, portHolder } from './process.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-adopt-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
afterEach(async () => {
  // Health checks may leave connections open; close() waits for them otherwise.
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(server: net.Server): Promise<number> {
  const port = await freePort();
  servers.push(server);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return port;
}

/** Answers MLflow's health check, as a running MLflow server would. */
const fakeMlflow = () =>
  listen(
    http.createServer((req, res) => {
      res.statusCode = req.url === '/health' ? 200 : 404;
      res.end('OK');
    }),
  );

function stackOn(mlflowPort: number, opts: { adopt?: boolean } = {}) {
  const lines: string[] = [];
  const stack = new Stack({
    dir: fs.mkdtempSync(path.join(base, 'stack-')),
    temporalPort: 1,
    mlflowPort,
    mlflowAuth: false,
    log: (l) => lines.push(l),
    ...opts,
  });
  return { stack, lines };
}

describe('stack up on ports that are taken', () => {
  it('refuses a healthy server it did not start, naming who holds the port and the ways on', async () => {
    const port = await fakeMlflow();
    const { stack } = stackOn(port, { adopt: false });
    const error = await stack.upMlflow().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(`answers at http://127.0.0.1:${port}`);
    expect(error?.message).toContain(`pid ${process.pid} (`);
    expect(error?.message).toContain('gaplab stack up --adopt (or GAPLAB_ADOPT=1)');
    expect(error?.message).toContain('GAPLAB_MLFLOW_PORT=<free port>');
    expect(fs.existsSync(path.join(stack.dir, 'run', 'mlflow.pid'))).toBe(false);
  });

  it('uses a server it did not start when told to adopt it, and never stops it', async () => {
    const port = await fakeMlflow();
    const { stack, lines } = stackOn(port, { adopt: true });
    await stack.upMlflow();
    expect(lines.join('\n')).toContain('was not started by this stack: using it as it is (adopt)');
    expect((await stack.status()).services.find((s) => s.name === 'mlflow')).toMatchObject({
      healthy: true,
      owner: 'external',
    });
  });

  it('reuses a healthy server this stack started (its pid file)', async () => {
    const port = await fakeMlflow();
    const { stack, lines } = stackOn(port, { adopt: false });
    // The pid file of a live process: this one (never stopped here: no down()).
    fs.mkdirSync(path.join(stack.dir, 'run'), { recursive: true });
    fs.writeFileSync(path.join(stack.dir, 'run', 'mlflow.pid'), String(process.pid));
    await stack.upMlflow();
    expect(lines.join('\n')).toContain(`started by this stack, pid ${process.pid}`);
  });

  it('refuses a port held by something else, saying what holds it', async () => {
    const port = await listen(net.createServer((s) => s.end()));
    const { stack } = stackOn(port, { adopt: true });
    await expect(stack.upMlflow()).rejects.toThrow(
      new RegExp(
        `port ${port} is in use by pid ${process.pid} \\(.*node.*\\) of user \\S+, which is not a healthy MLflow server: stop it, or start the stack on another port \\(GAPLAB_MLFLOW_PORT=<free port>\\)`,
      ),
    );
  });
});

describe('portHolder', () => {
  it('finds the process listening on a port, and nothing on a free one', async () => {
    const port = await listen(net.createServer());
    const holder = portHolder(port);
    expect(holder?.pid).toBe(process.pid);
    expect(holder?.command).toContain(process.execPath.split('/').pop());
    expect(describeHolder(holder)).toMatch(new RegExp(`^pid ${process.pid} \\(.+\\) of user `));
    expect(portHolder(await freePort())).toBeUndefined();
  });
});
