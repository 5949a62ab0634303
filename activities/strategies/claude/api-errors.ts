/** How a failed Claude API request is told to the campaign: try again later, or stop. */
import { APIConnectionError, APIError } from '@anthropic-ai/sdk';

/** Whether an API error can be fixed by trying again later. */
export function classify(err: unknown): { fatal?: string; transient?: string } {
  // The SDK throws a plain Error at request time when it finds no key at all.
  if (
    !(err instanceof APIError) &&
    err instanceof Error &&
    /authentication method/i.test(err.message)
  ) {
    return {
      fatal: `no Anthropic credentials: set ANTHROPIC_API_KEY for the worker, or use the optuna strategy (${err.message})`,
    };
  }
  if (err instanceof APIConnectionError)
    return { transient: `cannot reach the Claude API: ${err.message}` };
  if (err instanceof APIError) {
    const status = err.status ?? 0;
    const type = (err.error as { error?: { type?: string } } | undefined)?.error?.type ?? 'error';
    const detail = `${status} ${type}: ${(err.error as { error?: { message?: string } } | undefined)?.error?.message ?? err.message}`;
    if (status === 408 || status === 409 || status === 429 || status >= 500)
      return { transient: `Claude API still failing after retries (${detail})` };
    const hint =
      status === 401
        ? ' — check ANTHROPIC_API_KEY'
        : status === 403
          ? ' — the key may not have access to this model'
          : status === 404
            ? ' — check strategy.settings.model'
            : '';
    return { fatal: `Claude API rejected the request (${detail})${hint}` };
  }
  // A bug or an SDK surprise: the campaign stops with a plain reason, the details go to the log.
  console.error('gaplab: unexpected error in the Claude strategy', err);
  return { fatal: 'the Claude strategy failed unexpectedly; the worker log has the details' };
}
