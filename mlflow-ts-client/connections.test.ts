import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient } from './client.js';
import { isLoopbackHttp } from './connections.js';

describe('connections to a loopback MLflow', () => {
  const seen: {
    connection: string | undefined;
    authorization: string | undefined;
    socket: number;
  }[] = [];
  const sockets = new Map<object, number>();
  let base = '';
  const server = http.createServer((req, res) => {
    if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size);
    seen.push({
      connection: req.headers.connection,
      authorization: req.headers.authorization,
      socket: sockets.get(req.socket)!,
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('is what a client on a loopback http URI uses: every request a fresh connection', async () => {
    const before = seen.length;
    const client = new MlflowClient({
      trackingUri: base,
      retries: { attempts: 1 },
      headers: { authorization: 'Bearer t' },
    });
    await client.getExperimentByName('a').catch(() => undefined);
    await client.getExperimentByName('b').catch(() => undefined);
    const mine = seen.slice(before);
    expect(mine.length).toBe(2);
    expect(mine.every((s) => s.connection === 'close' && s.authorization === 'Bearer t')).toBe(
      true,
    );
    expect(mine[0]!.socket).not.toBe(mine[1]!.socket);
  });

  it('knows loopback http from the rest', () => {
    expect(isLoopbackHttp('http://127.0.0.1:5050')).toBe(true);
    expect(isLoopbackHttp('http://localhost:5000/')).toBe(true);
    expect(isLoopbackHttp('http://[::1]:5000')).toBe(true);
    expect(isLoopbackHttp('https://127.0.0.1:5050')).toBe(false);
    expect(isLoopbackHttp('http://mlflow.internal:5000')).toBe(false);
    expect(isLoopbackHttp('not a url')).toBe(false);
  });
});
