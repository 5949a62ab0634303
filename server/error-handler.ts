/**
 * The API's one error mapping: every failure becomes `{ error, message, issues? }` with the
 * right status. Bad input is always a 4xx naming the field; 5xx details stay in the server log
 * (clients get a request id to quote).
 */
import { ServiceError as TemporalRpcError } from '@temporalio/client';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  isResponseSerializationError,
} from 'fastify-type-provider-zod';
import { ZodError } from 'zod';
import { formatPath } from '../domain/errors.js';
import { mergeTypoIssues } from '../domain/messages.js';
import { FAILURE_TYPE_NAMES, typedFailureOf } from '../domain/failure-types.js';
import { MlflowError } from '../mlflow-ts-client/index.js';
import type { ErrorBody, ErrorIssue } from '../api/schemas.js';
import { HTTP_STATUS } from './errors.js';

/**
 * Stable error codes of common 4xx statuses raised by fastify and its plugins: the failure type
 * of that status where there is one, else a name of fastify's own.
 */
const CODE_BY_STATUS: Record<number, string> = {
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
};
// The table's order decides a shared status: 400 is InvalidInput.
for (const type of FAILURE_TYPE_NAMES) CODE_BY_STATUS[HTTP_STATUS[type]] ??= type;

type Location = NonNullable<ErrorIssue['in']>;
const LOCATIONS = new Set<string>(['body', 'querystring', 'params', 'headers']);

/**
 * Field issues from a service message such as `criteria.budgets: set at least one budget; x: bad`.
 * Parts without a path-like prefix are reported at `(root)`.
 */
export function issuesFromMessage(message: string): ErrorIssue[] {
  return message
    .split('; ')
    .filter((p) => p.trim() !== '')
    .map((part) => {
      const m = /^([A-Za-z0-9_.\-[\]()]+): (.+)$/s.exec(part);
      return m ? { path: m[1]!, message: m[2]! } : { path: '(root)', message: part };
    });
}

const pointerToPath = (instancePath: string) => {
  const parts = instancePath.split('/').filter((p) => p !== '');
  return parts.length === 0 ? '(root)' : parts.join('.');
};

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  /** 5xx: log the error with its stack. */
  internal: boolean;
}

export function toErrorResponse(err: unknown, requestId: string): ErrorResponse {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = (err as { validationContext?: string }).validationContext;
    const loc = where && LOCATIONS.has(where) ? (where as Location) : undefined;
    const issues = mergeTypoIssues(
      err.validation.map((v) => ({
        path: pointerToPath(v.instancePath),
        ...(loc ? { in: loc } : {}),
        message: v.message ?? 'invalid',
      })),
    );
    return {
      status: 400,
      body: {
        error: 'InvalidInput',
        message: issues.map((i) => `${loc ? `${loc}.` : ''}${i.path}: ${i.message}`).join('; '),
        issues,
      },
      internal: false,
    };
  }
  // A failure typed by name, however wrapped: a ServiceError's code, a workflow's
  // ApplicationFailure, a TypedFailure. The status comes from the name, never from the message.
  const typed = err instanceof ZodError ? undefined : typedFailureOf(err);
  if (typed !== undefined) {
    const { type } = typed;
    const message = typed.message || type;
    return {
      status: HTTP_STATUS[type],
      body: {
        error: type,
        message,
        ...(type === 'InvalidInput' ? { issues: issuesFromMessage(message) } : {}),
      },
      internal: false,
    };
  }
  if (err instanceof ZodError) {
    const issues = mergeTypoIssues(
      err.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    );
    return {
      status: 400,
      body: {
        error: 'InvalidInput',
        message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
        issues,
      },
      internal: false,
    };
  }
  if (err instanceof MlflowError && (err.retryable || err.status === undefined)) {
    return {
      status: 503,
      body: { error: 'Unavailable', message: 'MLflow is unreachable; try again shortly' },
      internal: false,
    };
  }
  if (err instanceof TemporalRpcError) {
    // gRPC UNAVAILABLE (14) and DEADLINE_EXCEEDED (4): the Temporal server is down or overloaded.
    const code = (err.cause as { code?: number } | undefined)?.code;
    if (code === 14 || code === 4)
      return {
        status: 503,
        body: { error: 'Unavailable', message: 'Temporal is unreachable; try again shortly' },
        internal: false,
      };
    // RESOURCE_EXHAUSTED (8): e.g. Temporal's per-run update limits (10 in flight, 2000 in all).
    if (code === 8)
      return {
        status: 429,
        body: { error: 'RateLimited', message: 'too many updates in this run, retry shortly' },
        internal: false,
      };
  }
  if (typeof err === 'object' && err !== null && !isResponseSerializationErrorSafe(err)) {
    const status = (err as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const message = (err as Error).message || 'bad request';
      const code = CODE_BY_STATUS[status] ?? 'BadRequest';
      return {
        status,
        body: {
          error: code,
          message,
          ...(status === 400 ? { issues: [{ path: '(root)', message }] } : {}),
        },
        internal: false,
      };
    }
  }
  return {
    status: 500,
    body: {
      error: 'Internal',
      message: `internal error; the server log has the details (request ${requestId})`,
    },
    internal: true,
  };
}

function isResponseSerializationErrorSafe(err: object): boolean {
  try {
    return (
      err instanceof Error &&
      isResponseSerializationError(err as never) &&
      (err as { code?: string }).code === 'FST_ERR_RESPONSE_SERIALIZATION'
    );
  } catch {
    return false;
  }
}

/** The fastify error handler. */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const res = toErrorResponse(err, request.id);
  if (res.internal) request.log.error({ err }, 'request failed');
  else if (res.status >= 500) request.log.warn({ err: (err as Error).message }, res.body.message);
  if (res.status === 401) void reply.header('www-authenticate', 'Bearer realm="gaplab"');
  void reply.code(res.status).type('application/json; charset=utf-8').send(res.body);
}
