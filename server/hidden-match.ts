/**
 * Hidden values matched by value in free text: a note "heldout is 82.3 %", a log line
 * `heldout=0.82346`, a flag reason quoting 8.235e-01 all name the value 0.82346.
 *
 * A number in text matches when a value rounds to it at the precision it is written with (to
 * nearest, or cut off), as a plain number (with or without a leading 0), in scientific notation or
 * as a percent, with at least two significant digits. The values are one sorted array and a
 * lookup is a binary search per number in the text, so 100,000 values cost about what ten do.
 * Pure, no IO.
 */
/** A number as text writes it: optional sign, digits with an optional fraction or just a fraction, optional exponent, optional percent. */
const NUMBER_TOKEN = /(?<![\d.])(-?)(\d+(?:\.\d+)?|\.\d+)(?:[eE]([-+]?\d{1,3}))?(?![\d])(\s?%)?/g;

/** Numbers written with fewer significant digits (0.8, 1, 5e-3) say too little to withhold. */
export const MIN_SIGNIFICANT_DIGITS = 2;

/**
 * A set of values, matched in text at any rounding of two significant digits or more. Immutable;
 * build a new one to change the values.
 */
export class ValueMatcher {
  /** Absolute values, finite and non-zero, ascending. */
  private readonly sorted: Float64Array;

  constructor(values: Iterable<number>) {
    const kept: number[] = [];
    for (const v of values) if (Number.isFinite(v) && v !== 0) kept.push(Math.abs(v));
    this.sorted = Float64Array.from(kept).sort();
  }

  static readonly EMPTY = new ValueMatcher([]);

  get size(): number {
    return this.sorted.length;
  }

  /** Whether some value v has lo <= v < hi. */
  private within(lo: number, hi: number): boolean {
    const a = this.sorted;
    let i = 0;
    let j = a.length;
    while (i < j) {
      const m = (i + j) >>> 1;
      if (a[m]! < lo) i = m + 1;
      else j = m;
    }
    return i < a.length && a[i]! < hi;
  }

  /**
   * Whether the number written as `digits` (`\d+(\.\d+)?` or `\.\d+`), with the exponent and
   * percent sign that followed it, is a rounding of one of the values.
   */
  matches(digits: string, exponent: string | undefined, percent: boolean): boolean {
    if (this.sorted.length === 0) return false;
    const dot = digits.indexOf('.');
    // Trailing zeros of a whole number (80, 100) are no precision.
    const significant = (dot < 0 ? digits.replace(/0+$/, '') : digits.replace('.', '')).replace(
      /^0+/,
      '',
    ).length;
    if (significant < MIN_SIGNIFICANT_DIGITS) return false;
    const decimals = dot < 0 ? 0 : digits.length - dot - 1;
    const exp = (exponent ? Number(exponent) : 0) - (percent ? 2 : 0);
    // The value as written, and the size of its last digit: a value rounded to nearest (either
    // way on a tie) lies within half a last digit of it, a value cut off within one digit above.
    const t = Number(digits) * 10 ** exp;
    const unit = 10 ** (exp - decimals);
    return this.within(t - unit / 2, t + unit);
  }

  /** `s` with every number that one of `matchers` matches replaced by `mark`. */
  static scrub(s: string, matchers: readonly ValueMatcher[], mark: string): string {
    const active = matchers.filter((m) => m.size > 0);
    if (active.length === 0 || !/\d/.test(s)) return s;
    return s.replace(
      NUMBER_TOKEN,
      (
        tok,
        _sign: string,
        digits: string,
        exponent: string | undefined,
        pct: string | undefined,
      ) => (active.some((m) => m.matches(digits, exponent, pct !== undefined)) ? mark : tok),
    );
  }
}
