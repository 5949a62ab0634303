/**
 * A local fake of the Anthropic Messages API (POST /v1/messages and /v1/messages/count_tokens)
 * for tests: a real HTTP server on 127.0.0.1 that the real SDK talks to. It records every request
 * and answers messages from a script of replies, then from a default generator that proposes
 * valid hypotheses read off the prompt's machine-readable `<search_space>` and `<baseline>`
 * blocks. count_tokens answers as a tokenizer would for the reply that will be served: when the
 * next reply reports the default usage, its prompt tokens (so the default replies report exactly
 * what was counted); otherwise the number of characters of the prompt (system, messages and
 * output schema), more than any real tokenizer gives. `billed` lists the usage of every message
 * request the fake processed, including those whose client gave up before the answer came (a
 * real API bills them too).
 *
 *   const fake = await startFakeAnthropic();
 *   fake.script({ kind: 'error', status: 429 }, { kind: 'json', body: {...} });
 *   const client = new Anthropic({ apiKey: 'test', baseURL: fake.url });
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Free-form JSON as received; tests probe request bodies field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface FakeUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: Json;
  /** The body as sent. */
  raw: string;
}

export type FakeReply =
  /** A 200 whose text block is JSON.stringify(body). */
  | { kind: 'json'; body: unknown; usage?: Partial<FakeUsage>; stopReason?: string }
  /** A 200 whose text block is `text` as is (invalid JSON, hostile prose...). */
  | { kind: 'text'; text: string; usage?: Partial<FakeUsage>; stopReason?: string }
  /** A 200 whose whole message body is `message` (no usage, tool_use blocks, negative counts...). */
  | { kind: 'message'; message: Json }
  /** An API error: 429 rate_limit_error, 529 overloaded_error, 401 authentication_error, ... */
  | {
      kind: 'error';
      status: number;
      type?: string;
      message?: string;
      headers?: Record<string, string>;
    }
  /** The default generator's valid reply. */
  | { kind: 'default'; usage?: Partial<FakeUsage> }
  /** Waits, then answers with `then` (for timeouts). */
  | { kind: 'delay'; ms: number; then: FakeReply }
  /** Computed from the request. */
  | ((request: RecordedRequest) => FakeReply);

export interface FakeAnthropic {
  /** Base URL for the SDK's `baseURL`. */
  url: string;
  /** Every request received, in order (retries included). */
  requests: RecordedRequest[];
  /** Appends replies to the queue; once it is empty, the default generator answers. */
  script(...replies: FakeReply[]): void;
  /** Drops the replies still scripted. */
  clear(): void;
  /** Message requests only (POST /v1/messages), in order, retries included. */
  messageRequests(): RecordedRequest[];
  /** count_tokens requests only. */
  countRequests(): RecordedRequest[];
  /** What count_tokens answers. @default the next reply's default prompt tokens, else countPromptChars */
  countTokens: (body: Json) => number;
  /** The usage of every message request processed (answered, or given up on by its client). */
  billed: FakeUsage[];
  /** When set, count_tokens answers with this HTTP error status instead of a count. */
  countStatus?: number | undefined;
  /** Usage the default generator and replies without `usage` report. */
  defaultUsage: FakeUsage;
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

/** Every text of a request (system and messages), concatenated. */
export function requestText(body: Json): string {
  const parts: string[] = [];
  const take = (content: unknown) => {
    if (typeof content === 'string') parts.push(content);
    else if (Array.isArray(content))
      for (const b of content) if (b && typeof b.text === 'string') parts.push(b.text);
  };
  take(body?.system);
  for (const m of body?.messages ?? []) take(m.content);
  return parts.join('\n');
}

/** Reads a JSON block `<tag>...</tag>` out of the prompt. */
function block(text: string, tag: string): unknown {
  const m = new RegExp(`<${tag}>\\s*([\\s\\S]*?)\\s*</${tag}>`).exec(text);
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!);
  } catch {
    return undefined;
  }
}

/** Characters of a request's prompt and output schema: an over-count, as a stand-in for a tokenizer. */
export function countPromptChars(body: Json): number {
  return requestText(body).length + JSON.stringify(body?.output_config ?? {}).length;
}

let counter = 0;

/**
 * Valid proposals from the prompt: for each hypothesis, one numeric parameter moved to a fresh
 * point of its range (or a categorical/boolean flipped), relative to the baseline.
 */
export function defaultProposals(body: Json): { hypotheses: unknown[]; insight: string } {
  const text = requestText(body);
  const space = (block(text, 'search_space') as Json[] | undefined) ?? [];
  const baseline = (block(text, 'baseline') as Record<string, unknown> | undefined) ?? {};
  // The last "exactly N" wins: a repair message asks again with the missing count.
  const counts = [...text.matchAll(/exactly (\d+) (?:corrected )?hypothes/g)];
  const n = Number(counts.at(-1)?.[1] ?? 1);
  const free = space.filter((p) => !p.condition);
  const hypotheses = [];
  for (let i = 0; i < n; i++) {
    counter++;
    const p = free[(counter + i) % Math.max(1, free.length)];
    const changes: { param: string; value: unknown }[] = [];
    if (p) {
      const u = ((counter * 0.6180339887) % 1) * 0.9 + 0.05;
      if (p.kind === 'float')
        changes.push({
          param: p.name,
          value: p.log
            ? Math.exp(Math.log(p.low) + u * (Math.log(p.high) - Math.log(p.low)))
            : p.low + u * (p.high - p.low),
        });
      else if (p.kind === 'int')
        changes.push({ param: p.name, value: Math.round(p.low + u * (p.high - p.low)) });
      else if (p.kind === 'boolean') changes.push({ param: p.name, value: !baseline[p.name] });
      else
        changes.push({
          param: p.name,
          value: p.choices.find((c: unknown) => c !== baseline[p.name]) ?? p.choices[0],
        });
    }
    hypotheses.push({
      title: `fake idea ${counter}`,
      rationale: 'generated by the fake Messages API',
      parentTrialId: null,
      changes,
      expectedEffect: 'none in particular',
    });
  }
  return { hypotheses, insight: `fake insight ${counter}` };
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const queue: FakeReply[] = [];
  const requests: RecordedRequest[] = [];
  let served = 0;
  const fake: FakeAnthropic = {
    url: '',
    requests,
    script: (...replies) => void queue.push(...replies),
    clear: () => void queue.splice(0),
    messageRequests: () => requests.filter((r) => r.path.split('?')[0] === '/v1/messages'),
    countRequests: () =>
      requests.filter((r) => r.path.split('?')[0] === '/v1/messages/count_tokens'),
    countTokens: (body: Json) => {
      const next = queue.find((r) => typeof r === 'function' || r.kind !== 'error');
      const plain = (r: FakeReply | undefined): boolean =>
        r !== undefined &&
        typeof r !== 'function' &&
        (r.kind === 'delay'
          ? plain(r.then)
          : (r.kind === 'default' || r.kind === 'json' || r.kind === 'text') && !r.usage);
      if (next === undefined || plain(next)) {
        const u = fake.defaultUsage;
        return u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens;
      }
      return countPromptChars(body);
    },
    billed: [],
    defaultUsage: {
      input_tokens: 1200,
      output_tokens: 300,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The SDK keeps connections alive; without this close() waits for them to idle out.
        server.closeAllConnections();
      }),
  };

  /** Records what a reply bills: the usage of a 200 with text (default, json or text). */
  const bill = (reply: FakeReply): void => {
    if (typeof reply === 'function' || !['default', 'json', 'text'].includes(reply.kind)) return;
    const own = 'usage' in reply ? reply.usage : undefined;
    fake.billed.push({ ...fake.defaultUsage, ...(own ?? {}) });
  };

  const send = (
    res: http.ServerResponse,
    req: RecordedRequest,
    reply: FakeReply,
    billed = false,
  ): void => {
    if (typeof reply === 'function') return send(res, req, reply(req), billed);
    if (reply.kind === 'delay') {
      let then = reply.then;
      while (typeof then === 'function') then = then(req);
      // Billed when processed: a delayed answer is billed even if its client gives up waiting.
      if (!billed) bill(then);
      const timer = setTimeout(() => send(res, req, then, true), reply.ms);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    if (!billed) bill(reply);
    if (res.destroyed) return;
    if (reply.kind === 'message') {
      res.writeHead(200, {
        'content-type': 'application/json',
        'request-id': `req_fake_${served}`,
      });
      res.end(JSON.stringify(reply.message));
      return;
    }
    if (reply.kind === 'error') {
      const type = reply.type ?? ERROR_TYPES[reply.status] ?? 'api_error';
      res.writeHead(reply.status, {
        'content-type': 'application/json',
        'request-id': `req_fake_${served}`,
        // Keep SDK retries fast in tests unless the reply says otherwise.
        'retry-after-ms': '10',
        ...reply.headers,
      });
      res.end(
        JSON.stringify({
          type: 'error',
          error: { type, message: reply.message ?? `fake ${type}` },
          request_id: `req_fake_${served}`,
        }),
      );
      return;
    }
    const text =
      reply.kind === 'json'
        ? JSON.stringify(reply.body)
        : reply.kind === 'text'
          ? reply.text
          : JSON.stringify(defaultProposals(req.body));
    const usage = { ...fake.defaultUsage, ...(reply.usage ?? {}) };
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake_${served}` });
    res.end(
      JSON.stringify({
        id: `msg_fake_${served}`,
        type: 'message',
        role: 'assistant',
        model: req.body?.model ?? 'unknown',
        content: [{ type: 'text', text, citations: null }],
        stop_reason: reply.kind === 'default' ? 'end_turn' : (reply.stopReason ?? 'end_turn'),
        stop_sequence: null,
        usage: { ...usage, cache_creation: null, server_tool_use: null, service_tier: 'standard' },
      }),
    );
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Json;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        raw,
      };
      requests.push(recorded);
      served++;
      const route = (req.url ?? '').split('?')[0];
      if (req.method === 'POST' && route === '/v1/messages/count_tokens' && fake.countStatus) {
        send(res, recorded, { kind: 'error', status: fake.countStatus });
        return;
      }
      if (req.method === 'POST' && route === '/v1/messages/count_tokens' && body) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ input_tokens: fake.countTokens(body) }));
        return;
      }
      if (req.method !== 'POST' || route !== '/v1/messages') {
        send(res, recorded, {
          kind: 'error',
          status: 404,
          message: `no route ${req.method} ${req.url}`,
        });
        return;
      }
      if (!body) {
        send(res, recorded, { kind: 'error', status: 400, message: 'body is not JSON' });
        return;
      }
      send(res, recorded, queue.shift() ?? { kind: 'default' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
