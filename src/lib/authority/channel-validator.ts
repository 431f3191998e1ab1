/**
 * Validity of a channel document's entries, incrementally: O(entry), independent of history size.
 *
 * An entry is valid when its dependencies are valid, and the channel rules allow it under the
 * authority state at the space-document heads the writer had seen (its `context`) — and, for every
 * valid space entry R that took something from the writer and is not in that context's causal past
 * (a concurrent or later removal, demotion or ban), either the entry is still allowed once R is
 * applied, or it lies inside the channel cut-off R recorded (the heads its author had seen). So a
 * banned member cannot write later, nor back-date by claiming an old context.
 *
 * When the space gains a new such R, the channel is rebuilt from its entries (see Space).
 */
import * as A from '@automerge/automerge';
import type { ChannelId } from '../identity/ids.js';
import { checkEntry } from './entry-check.js';
import { externalDeps, type OpenedEntry } from './opened-entry.js';
import { PathIndex } from './paths.js';
import type { RuleSet } from './rules.js';
import type { SpaceEvaluation } from './space-validator.js';
import { invalid, notYet, VALID, type Verdict } from './verdict.js';

export interface ChannelDecision<T> {
	doc: A.Doc<T>;
	accepted: OpenedEntry[];
	invalid: Map<string, string>;
	waiting: Map<string, string>;
}

/**
 * Validates a document that lives beside the space document — a channel, or an app's own document
 * type — against a rule table, at the space context each entry names.
 */
export class ChannelValidator<T = unknown> {
	#paths = new PathIndex();
	#rootChanges: A.DecodedChange[];
	#validChanges: Set<string>;
	#invalidChanges = new Set<string>();
	#depsOf = new Map<string, string[]>();
	#cutoffCache = new Map<string, Set<string> | undefined>();

	/**
	 * @param channel the channel whose permissions and cut-offs apply (undefined: space-wide rules)
	 * @param root    the saved deterministic root of the document type
	 */
	constructor(
		readonly channel: ChannelId | undefined,
		private readonly rules: RuleSet<T>,
		root: Uint8Array,
		private readonly space: () => SpaceEvaluation | undefined
	) {
		this.#rootChanges = A.getAllChanges(A.load(root)).map((c) => A.decodeChange(c));
		this.#validChanges = new Set(this.#rootChanges.map((c) => c.hash));
		for (const c of this.#rootChanges) this.#paths.register(c);
	}

	#seeded = false;

	/**
	 * A replica resumed from its saved document holds changes this validator never saw: they were
	 * validated before being saved, so they are valid here, and their objects resolve to paths. Read
	 * once, on the first decision (most channels opened see no new entry).
	 */
	#seed(doc: A.Doc<T>) {
		if (this.#seeded) return;
		this.#seeded = true;
		for (const change of A.getAllChanges(doc)) {
			const d = A.decodeChange(change);
			if (this.#validChanges.has(d.hash)) continue;
			this.#paths.register(d);
			this.#validChanges.add(d.hash);
			this.#depsOf.set(d.hash, d.deps);
		}
	}

	/** Decides on entries (any order), applying the valid ones to `doc`. */
	evaluate(entries: readonly OpenedEntry[], doc: A.Doc<T>): ChannelDecision<T> {
		this.#seed(doc);
		for (const e of entries) for (const d of e.decoded) this.#depsOf.set(d.hash, d.deps);
		const invalidMap = new Map<string, string>();
		const waiting = new Map<string, string>();
		const accepted: OpenedEntry[] = [];
		// valid changes are applied in runs, only when a rule needs to read the document (or at the end)
		const unapplied: A.Change[] = [];
		const current = () => {
			if (unapplied.length) [doc] = A.applyChanges(doc, unapplied.splice(0));
			return doc;
		};
		let remaining = [...entries];
		let progress = true;
		while (remaining.length && progress) {
			progress = false;
			const next: OpenedEntry[] = [];
			for (const entry of remaining) {
				const deps = externalDeps(entry);
				if (deps.some((d) => this.#invalidChanges.has(d))) {
					this.#reject(entry, invalidMap, 'depends on an invalid change');
					progress = true;
					continue;
				}
				if (!deps.every((d) => this.#validChanges.has(d))) {
					next.push(entry);
					continue;
				}
				const verdict = this.#check(entry, current);
				if (verdict.valid) {
					unapplied.push(...entry.changes);
					for (const d of entry.decoded) {
						this.#paths.register(d);
						this.#validChanges.add(d.hash);
					}
					accepted.push(entry);
					progress = true;
				} else if (verdict.final) {
					this.#reject(entry, invalidMap, verdict.reason);
					progress = true;
				} else waiting.set(entry.id, verdict.reason);
			}
			remaining = next;
		}
		for (const entry of remaining)
			if (!waiting.has(entry.id)) waiting.set(entry.id, 'missing-dependencies');
		return { doc: current(), accepted, invalid: invalidMap, waiting };
	}

	/** Checks a local change against the current state before it is applied (and, if allowed,
	 * registers the objects it creates, for the next local change of the same batch). */
	checkLocal(entry: Pick<OpenedEntry, 'header' | 'decoded' | 'context'>, doc: A.Doc<T>): Verdict {
		this.#seed(doc);
		const verdict = this.#check({ ...entry, id: 'local', changes: [] }, () => doc);
		if (verdict.valid) for (const d of entry.decoded) this.#paths.register(d);
		return verdict;
	}

	/** Records a sealed local entry as valid (its changes are already in the document). */
	recordLocal(entry: OpenedEntry): void {
		for (const d of entry.decoded) {
			this.#paths.register(d);
			this.#validChanges.add(d.hash);
			this.#depsOf.set(d.hash, d.deps);
		}
	}

	#reject(entry: OpenedEntry, map: Map<string, string>, reason: string) {
		map.set(entry.id, reason);
		for (const d of entry.decoded) this.#invalidChanges.add(d.hash);
	}

	#check(entry: OpenedEntry, doc: () => A.Doc<T>): Verdict {
		const space = this.space();
		if (!space) return notYet('space not readable yet');
		const state = space.stateAt(entry.context);
		if (state === 'missing') return notYet('space context not received yet');
		if (state === 'invalid') return invalid('written in an invalid space context');
		const check = checkEntry(
			this.rules,
			this.#paths,
			state,
			doc,
			entry.header,
			entry.decoded,
			this.channel
		);
		if (!check.verdict.valid) return check.verdict;
		const signer = check.signer!;
		for (const reduction of space.reductions) {
			if (!reduction.users.has(signer) || space.precedes(reduction.entry.id, entry.context))
				continue;
			const merged = space.stateAt([
				...entry.context,
				...reduction.entry.decoded.map((d) => d.hash)
			]);
			if (merged !== 'missing' && merged !== 'invalid') {
				const again = checkEntry(
					this.rules,
					this.#paths,
					merged,
					doc,
					entry.header,
					entry.decoded,
					this.channel
				);
				if (again.verdict.valid) continue;
			}
			const cutoff = this.channel ? reduction.removed.get(signer)?.[this.channel] : undefined;
			if (!cutoff) return invalid('written after its author lost that right');
			const inside = this.#ancestorsOf(cutoff);
			if (!inside) return notYet('removal cut-off not received yet');
			if (!entry.decoded.every((d) => inside.has(d.hash)))
				return invalid('written after its author was removed');
		}
		return VALID;
	}

	/** Every change hash in the causal past of (and including) `heads`, or undefined if incomplete. */
	#ancestorsOf(heads: readonly string[]): Set<string> | undefined {
		const key = [...heads].sort().join(',');
		if (this.#cutoffCache.has(key) && this.#cutoffCache.get(key)) return this.#cutoffCache.get(key);
		const seen = new Set<string>();
		const stack = [...heads];
		while (stack.length) {
			const h = stack.pop()!;
			if (seen.has(h)) continue;
			const deps =
				this.#depsOf.get(h) ?? (this.#rootChanges.some((c) => c.hash === h) ? [] : undefined);
			if (!deps) return undefined;
			seen.add(h);
			stack.push(...deps);
		}
		this.#cutoffCache.set(key, seen);
		return seen;
	}
}
