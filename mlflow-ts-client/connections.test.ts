import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient } from './client.js';
import { freshConnectionFetch, isLoopbackHttp } from './fresh-connection-fetch.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: number;
}

describe('freshConnectionFetch', () => {
  const seen: Seen[] = [];
  const sockets = new Map<object, number>();
  let base = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size);
      seen.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        socket: sockets.get(req.socket)!,
      });
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
      if (req.url === '/empty') return void res.writeHead(204).end();
      res.writeHead(req.url === '/missing' ? 404 : 200, {
        'content-type': 'application/json',
        'retry-after': '3',
      });
      res.end(JSON.stringify({ echo: Buffer.concat(chunks).toString() }));
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the method, headers and body on a connection of its own, and reads the whole answer', async () => {
    const before = seen.length;
    const res = await freshConnectionFetch(`${base}/api?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
      body: '{"a":1}',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toEqual({ echo: '{"a":1}' });
    const bytes = await freshConnectionFetch(`${base}/bytes`, {
      method: 'PUT',
      body: new TextEncoder().encode('héllo'),
    });
    expect(await bytes.json()).toEqual({ echo: 'héllo' });
    const [a, b] = seen.slice(before);
    expect(a).toMatchObject({ method: 'POST', url: '/api?x=1', body: '{"a":1}' });
    expect(a!.headers).toMatchObject({ connection: 'close', authorization: 'Bearer t' });
    expect(b!.headers['content-length']).toBe(String(Buffer.byteLength('héllo')));
    expect(a!.socket).not.toBe(b!.socket);
  });

  it('passes error statuses through and handles an empty 204', async () => {
    expect((await freshConnectionFetch(`${base}/missing`)).status).toBe(404);
    const empty = await freshConnectionFetch(`${base}/empty`);
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
  });

  it('rejects with the signal reason on a timeout, as fetch does', async () => {
    const err = await freshConnectionFetch(`${base}/slow`, {
      signal: AbortSignal.timeout(100),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('TimeoutError');
  });

  it('rejects a refused connection with a TypeError whose cause has the code', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await freshConnectionFetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
  });

  it('is what a client on a loopback http URI uses: every request a fresh connection', async () => {
    const before = seen.length;
    const client = new MlflowClient({ trackingUri: base, retries: { attempts: 1 } });
    await client.health().catch(() => undefined);
    await client.health().catch(() => undefined);
    const mine = seen.slice(before);
    expect(mine.length).toBe(2);
    expect(mine.every((s) => s.headers.connection === 'close')).toBe(true);
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
