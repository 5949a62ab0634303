/** What a code hypothesis's edits resolved to, as the state keeps it: hashes only. */
export interface ResolvedSourceRef {
  /** The child snapshot's content hash. */
  hash: string;
  /** The snapshot the edits applied to (the initial source's hash for the baseline). */
  parentHash?: string;
}

/** What a proposal's edits came to: a snapshot, a reason they do not apply, or nothing to resolve. */
export type SourceResolution = ResolvedSourceRef | { error: string } | undefined;

/** One resolution per proposal of a strategy call, in order. */
export type SourceResolutions = readonly SourceResolution[];
