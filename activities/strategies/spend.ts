/** What a strategy spends on paid calls; shared by the base interface and the claude agents. */

/**
 * What an activity attempt has spent, in nano-dollars: `charged` is settled, `reserved` is the
 * bound of requests in flight (a request cut off mid-flight may have been billed, so the next
 * attempt counts it as charged).
 */
export interface Spend {
  chargedNano: number;
  reservedNano: number;
}

export interface SpendRecord {
  /** What earlier attempts spent or may have spent (their charges and reservations). */
  carriedNano: number;
  /** Called with this attempt's running totals (carried included) after every change. */
  record(spend: Spend): void;
}
