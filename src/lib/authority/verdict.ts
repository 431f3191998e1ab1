import type * as A from '@automerge/automerge';
import type { OpenedEntry } from './opened-entry.js';

/**
 * Validators return verdicts instead of throwing, so one bad entry never fails a whole state.
 * `final: false` means "not yet": the entry waits (kept, not materialised) and is re-evaluated when
 * the authority state or the key ring changes.
 */
export type Verdict =
	| { valid: true }
	| {
			valid: false;
			reason: string;
			final: boolean;
			/**
			 * Not yet, for want of another entry of the same document (a thread's root): the validator
			 * tries it again as soon as an entry of the same batch is accepted, not only on the next batch.
			 */
			inDocument?: true;
	  };

export const VALID: Verdict = { valid: true };
export const invalid = (reason: string): Verdict => ({ valid: false, reason, final: true });
export const notYet = (reason: string): Verdict => ({ valid: false, reason, final: false });
/** Not yet: waits for another entry of the same document (see `inDocument`). */
export const notYetInDocument = (reason: string): Verdict => ({
	valid: false,
	reason,
	final: false,
	inDocument: true
});

/**
 * What a validator decided about a document's entries: the materialised document, and the entries
 * refused or waiting, with their reasons.
 */
export interface ValidationResult<T> {
	doc: A.Doc<T>;
	invalid: Map<string, string>;
	waiting: Map<string, string>;
	/** True when `doc` was rebuilt from scratch (local unsealed changes must be re-applied). */
	recomputed: boolean;
	/** The validator's earlier decisions no longer hold: rebuild from every entry, with `successor()`. */
	rebuild?: boolean;
}

/**
 * The authority layer's side of a replica (sync/replica.ts): the replica moves and seals bytes, this
 * decides validity. It lives here, not in sync/, because authority/ never imports sync/.
 */
export interface ReplicaValidator<T> {
	evaluate(
		all: ReadonlyMap<string, OpenedEntry>,
		fresh: OpenedEntry[],
		doc: A.Doc<T>
	): Promise<ValidationResult<T>>;
	/**
	 * `before` is what the change was made on; `whole`, when that is a history segment's plaintext,
	 * is the document with every segment (what the replica holds).
	 */
	checkLocal(
		entry: Pick<OpenedEntry, 'header' | 'decoded' | 'context'>,
		before: A.Doc<T>,
		whole?: A.Doc<T>
	): Verdict;
	recordLocal(entry: OpenedEntry, doc: A.Doc<T>): void;
	/** A fresh validator for a rebuild that keeps what this one learnt (see `rebuild`). */
	successor?(): ReplicaValidator<T>;
}
