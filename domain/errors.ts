/**
 * Named domain errors. Each carries readonly context so callers (HTTP error handler, workflow
 * failure mapping) can decide what to report and whether a retry could help: none of these can
 * be fixed by retrying, they all describe bad input.
 */

/** One problem found in an input, located by its path (zod-style: keys and array indices). */
export interface Issue {
  path: (string | number)[];
  message: string;
}

/** Renders a path as `a.b.0.c`; the empty path as `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map((p) => String(p)).join('.');
}

/** Base class: sets `name` to the concrete class name so logs and error mappers can match on it. */
export abstract class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Thrown when PGR is undefined: the optimum equals the baseline, or an input is not finite. */
export class UndefinedPgrError extends DomainError {
  constructor(
    readonly score: number,
    readonly baseline: number,
    readonly optimum: number,
    reason: string,
  ) {
    super(`PGR is undefined (score ${score}, baseline ${baseline}, optimum ${optimum}): ${reason}`);
  }
}

/** Thrown when a statistic gets too few values or values that are not finite numbers. */
export class InsufficientDataError extends DomainError {
  constructor(
    readonly what: string,
    message: string,
  ) {
    super(`${what}: ${message}`);
  }
}

/** Thrown when a configuration does not fit the search space; the message names each parameter. */
export class InvalidConfigError extends DomainError {
  constructor(
    readonly issues: readonly Issue[],
    readonly source = 'configuration',
  ) {
    super(
      `invalid ${source}: ${issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')}`,
    );
  }
}

/**
 * Thrown when a document (problem spec, criteria, API body) fails validation. The message is
 * the source name followed by zod's prettified report; `issues` keeps the field paths.
 */
export class ValidationError extends DomainError {
  constructor(
    readonly source: string,
    readonly issues: readonly Issue[],
    message: string,
  ) {
    super(message);
  }
}
