/**
 * The HTTP API over a real test env: the real server on a free loopback port with one person per
 * role, a request helper that acts as one of them, and a reader of server-sent event streams.
 */
import { TokenTable } from '../../server/auth.js';
import { startServer, type RunningServer } from '../../server/server.js';
import type { TestEnv } from './env.js';

/** The bearer token of each person. */
export const HTTP_TOKENS = {
  pi: 'it-pi-token-0123456789',
  researcher: 'it-researcher-token-0123',
  viewer: 'it-viewer-token-01234567',
} as const;
export type Who = keyof typeof HTTP_TOKENS;

export interface HttpReply {
  status: number;
  /** The parsed body when the reply is JSON; undefined otherwise. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Headers;
}

export interface TestServer {
  server: RunningServer;
  /** Where the server listens, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /**
   * One request as `who` (anonymous when null) to `path` under the server's root (`/api/...`);
   * a body that is not a string is sent as JSON.
   */
  call(
    who: Who | null,
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<HttpReply>;
  close(): Promise<void>;
}

/** Starts the real server over the env's service and MLflow. */
export async function startTestServer(
  env: TestEnv,
  config: { sseIntervalMs: number; lineageTtlMs: number },
): Promise<TestServer> {
  const server = await startServer({
    service: env.service,
    mlflow: env.mlflow,
    tokens: new TokenTable([
      { token: HTTP_TOKENS.pi, name: 'Pat PI', role: 'pi' },
      { token: HTTP_TOKENS.researcher, name: 'Rae Researcher', role: 'researcher' },
      { token: HTTP_TOKENS.viewer, name: 'Vic Viewer', role: 'viewer' },
    ]),
    config: {
      port: 0,
      temporalAddress: env.temporalAddress,
      mlflowUri: env.mlflowUri,
      ...config,
    },
    env: {},
    logger: false,
    print: () => {},
    closeGraceMs: 2000,
  });
  return {
    server,
    url: server.url,
    async call(who, method, path, body, contentType = 'application/json') {
      const headers: Record<string, string> = who
        ? { authorization: `Bearer ${HTTP_TOKENS[who]}` }
        : {};
      if (body !== undefined) headers['content-type'] = contentType;
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers,
        ...(body !== undefined
          ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
          : {}),
      });
      const text = await res.text();
      const json =
        res.headers.get('content-type')?.includes('json') && text
          ? (JSON.parse(text) as unknown)
          : undefined;
      return { status: res.status, json, text, headers: res.headers };
    },
    close: () => server.close(),
  };
}

export interface SseEvent {
  event: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  id?: string;
}

/** The events of a server-sent event stream as they arrive; comments and keep-alives are skipped. */
export async function* sseEvents(
  body: ReadableStream<Uint8Array> | null,
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const fields = Object.fromEntries(
        block
          .split('\n')
          .filter((l) => !l.startsWith(':') && l.includes(':'))
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
      );
      if (fields['event'])
        yield {
          event: fields['event'],
          data: JSON.parse(fields['data'] ?? 'null'),
          ...(fields['id'] ? { id: fields['id'] } : {}),
        };
    }
  }
}
