/**
 * The lineage page's render timings, which it leaves on `window.__gaplabLineage` for the browser
 * tests and the benchmark. No DOM here: Node code (test/, bench/) imports this type.
 */
export interface LineageTimings {
  nodes: number;
  fetchMs: number;
  layoutMs: number;
  drawMs: number;
  /** ms from navigation start to the first complete frame. */
  readyMs: number;
}
