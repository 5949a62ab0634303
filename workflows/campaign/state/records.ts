/**
 * The campaign's bounded records: notebook, audit trail and dropped proposals, and the outbox of
 * texts for the campaign's MLflow run (full notes and rationales cut in state, entries evicted
 * from it). The outbox is drained by the workflow before it continues as new or ends; never
 * carried.
 */
import type { Actor } from '../../../domain/schemas.js';
import type { Note } from '../../../domain/strategy.js';
import type { StateContext } from './context.js';
import {
  AUDIT_LIMIT,
  CARRY_BUDGET,
  cut,
  DROPPED_LIMIT,
  jsonSize,
  KEPT_CHARS,
  NOTEBOOK_LIMIT,
  pad,
} from './limits.js';

export class Records {
  /** Texts to write to the campaign's MLflow run, oldest first. */
  private readonly texts: { path: string; text: string }[] = [];
  private seq = 0;
  /** JSON sizes of the bounded lists, kept as they change. */
  private readonly listBytes = new Map<unknown[], number>();

  constructor(private readonly ctx: StateContext) {}

  get outbox(): readonly { path: string; text: string }[] {
    return this.texts;
  }

  /** The first `n` texts of the outbox were written (or are given up): they leave it. */
  archived(n: number): void {
    this.texts.splice(0, n);
  }

  audit(actor: Actor, action: string, detail?: string): void {
    const list = this.ctx.data.audit;
    list.push({
      at: this.ctx.nowIso(),
      actor,
      action,
      ...(detail ? { detail: cut(detail, KEPT_CHARS.auditDetail) } : {}),
    });
    this.evict('audit', list, AUDIT_LIMIT, CARRY_BUDGET.audit);
    this.ctx.bump();
  }

  addNote(note: Omit<Note, 'at'>): void {
    const at = this.ctx.nowIso();
    let text = note.text;
    if (text.length > KEPT_CHARS.note) {
      const path = this.archive('notebook/note', JSON.stringify({ ...note, at }));
      text = cut(text, KEPT_CHARS.note, `full note: MLflow artifact ${path}`);
    }
    this.ctx.data.notebook.push({ ...note, text, at });
    this.evict('notebook', this.ctx.data.notebook, NOTEBOOK_LIMIT, CARRY_BUDGET.notebook);
    this.ctx.bump();
  }

  /** A note from gaplab itself about something that went wrong (at most 5000 characters). */
  addError(text: string, trialId?: string): void {
    this.addNote({
      kind: 'error',
      author: 'gaplab',
      text: text.slice(0, 5000),
      ...(trialId ? { trialId } : {}),
    });
  }

  /** A proposal that will not run, and why. */
  drop(title: string, reason: string): void {
    this.ctx.data.dropped.push({
      title: cut(title, KEPT_CHARS.title),
      reason: cut(reason, KEPT_CHARS.reason),
      at: this.ctx.nowIso(),
    });
    this.evict('dropped', this.ctx.data.dropped, DROPPED_LIMIT, CARRY_BUDGET.dropped);
  }

  /** Queues `text` for the campaign's MLflow run; returns its artifact path. */
  archive(prefix: string, text: string, ext = 'json'): string {
    const path = `${prefix}-${pad(this.ctx.data.runs)}-${String(++this.seq).padStart(5, '0')}.${ext}`;
    this.texts.push({ path, text });
    return path;
  }

  /**
   * Keeps the most recent entries of `list` within `maxCount` and `maxBytes`; the older ones go
   * to MLflow (JSON lines), so nothing is lost and the carried state stays bounded.
   */
  evict<T>(kind: string, list: T[], maxCount: number, maxBytes: number): void {
    // Called after each push: the size is kept up to date instead of re-measured.
    const known = this.listBytes.get(list);
    let bytes = known === undefined ? jsonSize(list) : known + jsonSize(list[list.length - 1]) + 1;
    let n = Math.max(0, list.length - maxCount);
    for (let i = 0; i < n; i++) bytes -= jsonSize(list[i]) + 1;
    while (bytes > maxBytes && n < list.length - 1) bytes -= jsonSize(list[n++]) + 1;
    this.listBytes.set(list, bytes);
    if (n === 0) return;
    const gone = list.splice(0, n);
    this.archive(`${kind}/evicted`, gone.map((e) => JSON.stringify(e)).join('\n'), 'jsonl');
  }
}
