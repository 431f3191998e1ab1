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
 *
 * Automerge's (actor, seq) discipline is decided by a ChangeLog (change-log.ts) before anything is
 * applied: an equivocating entry is invalid, a change waits for its actor's previous one and for the
 * ops it supersedes. A run of valid changes that Automerge still refuses is taken apart instead of
 * failing the batch: the validator asks for a rebuild (`rebuild`), and its successor (`successor()`,
 * sharing the log) applies those entries one by one on a copy and refuses those that do not apply.
 */
import * as A from '@automerge/automerge';
import type { ChannelId } from '../identity/ids.js';
import { concatBytes } from '../util/bytes.js';
import { sameHeads } from '../util/heads.js';
import { actorFor } from './actors.js';
import { ChangeLog } from './change-log.js';
import { checkEntry } from './entry-check.js';
import { externalDeps, inDependencyOrder, type OpenedEntry } from './opened-entry.js';
import { PathIndex } from './paths.js';
import type { RuleSet } from './rules.js';
import type { SpaceEvaluation } from './space-validator.js';
import { invalid, notYet, VALID, type Verdict } from './verdict.js';

/**
 * Changes in a run at least this long, onto the bare root, are loaded rather than applied. Below it
 * the two cost about the same, and applying keeps the objects of what did not change (which the
 * channel's message list reuses); a load makes every object anew.
 */
const LOAD_RUN = 64;

export interface ChannelDecision<T> {
	doc: A.Doc<T>;
	accepted: OpenedEntry[];
	invalid: Map<string, string>;
	waiting: Map<string, string>;
	/**
	 * The document must be rebuilt from the entries (by `successor()`): a change already applied no
	 * longer stands (an equivocation seen late), one refused for equivocation now does, or
	 * Automerge refused a run of changes (the document passed in may be unusable).
	 */
	rebuild: boolean;
}

/** What a validator and its successors share: the change log and entries that would not apply. */
interface Shared {
	log: ChangeLog;
	/** Entries whose changes Automerge refused in a run: applied one by one, on a copy, next time. */
	suspects: Set<string>;
	/** Entries whose changes Automerge refused on their own. */
	unappliable: Set<string>;
}

/**
 * Validates a document that lives beside the space document — a channel, or an app's own document
 * type — against a rule table, at the space context each entry names.
 */
export class ChannelValidator<T = unknown> {
	#paths = new PathIndex();
	#rootChanges: A.DecodedChange[];
	#rootHeads: A.Heads;
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
		private readonly root: Uint8Array,
		private readonly space: () => SpaceEvaluation | undefined,
		shared?: Shared
	) {
		const rootDoc = A.load(root);
		this.#rootChanges = A.getAllChanges(rootDoc).map((c) => A.decodeChange(c));
		this.#rootHeads = A.getHeads(rootDoc);
		this.#validChanges = new Set(this.#rootChanges.map((c) => c.hash));
		for (const c of this.#rootChanges) this.#paths.register(c);
		this.#shared = shared ?? { log: new ChangeLog(), suspects: new Set(), unappliable: new Set() };
		this.#shared.log.record(this.#rootChanges);
	}

	readonly #shared: Shared;
	/** Changes refused as equivocations (re-decided if the log later lets them stand). */
	#equivocations = new Set<string>();

	/** A fresh validator for a rebuild, knowing what this one learnt about changes. */
	successor(): ChannelValidator<T> {
		return new ChannelValidator<T>(this.channel, this.rules, this.root, this.space, this.#shared);
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
			this.#shared.log.record([d]);
		}
	}

	/** Decides on entries (any order), applying the valid ones to `doc`. */
	evaluate(entries: readonly OpenedEntry[], doc: A.Doc<T>): ChannelDecision<T> {
		this.#seed(doc);
		const { log, suspects, unappliable } = this.#shared;
		for (const e of entries) {
			for (const d of e.decoded) this.#depsOf.set(d.hash, d.deps);
			// only a signer's own actors count: anyone else's entry is refused by the rules anyway
			const actor = actorFor(e.header.author, e.header.session);
			if (e.decoded.every((d) => d.actor === actor)) log.record(e.decoded);
		}
		let rebuild = false;
		// a late second version, or a late witness, can re-decide a slot decided before
		for (const h of log.contested())
			if (this.#validChanges.has(h) ? !log.stands(h) : this.#equivocations.has(h) && log.stands(h))
				rebuild = true;
		const invalidMap = new Map<string, string>();
		const waiting = new Map<string, string>();
		const accepted: OpenedEntry[] = [];
		// valid changes are applied in runs, only when a rule needs to read the document (or at the end)
		const unapplied: OpenedEntry[] = [];
		let broken = false;
		const current = () => {
			if (unapplied.length && !broken) {
				const run = unapplied.splice(0);
				try {
					doc = this.#withChanges(
						doc,
						run.flatMap((e) => e.changes)
					);
				} catch {
					// Automerge refused what every check allowed: take the run apart in a rebuild
					broken = rebuild = true;
					for (const e of run) suspects.add(e.id);
				}
			}
			return doc;
		};
		let remaining = inDependencyOrder(entries);
		let progress = true;
		while (remaining.length && progress) {
			progress = false;
			const next: OpenedEntry[] = [];
			for (const entry of remaining) {
				if (unappliable.has(entry.id)) {
					this.#reject(entry, invalidMap, 'refused by Automerge');
					progress = true;
					continue;
				}
				const discipline = this.#discipline(entry);
				if (discipline.standing === 'invalid') {
					if (discipline.reason === 'equivocation')
						for (const d of entry.decoded) this.#equivocations.add(d.hash);
					this.#reject(entry, invalidMap, discipline.reason!);
					progress = true;
					continue;
				}
				if (discipline.standing === 'waiting') {
					next.push(entry);
					continue;
				}
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
				waiting.delete(entry.id);
				const verdict = this.#check(entry, current);
				if (verdict.valid && suspects.has(entry.id) && !this.#applies(entry, current())) {
					unappliable.add(entry.id);
					this.#reject(entry, invalidMap, 'refused by Automerge');
					progress = true;
				} else if (verdict.valid) {
					unapplied.push(entry);
					for (const d of entry.decoded) {
						this.#paths.register(d);
						this.#validChanges.add(d.hash);
					}
					accepted.push(entry);
					progress = true;
				} else if (verdict.final) {
					this.#reject(entry, invalidMap, verdict.reason);
					progress = true;
				} else {
					waiting.set(entry.id, verdict.reason);
					// what it waits for may be in this batch: another round once something was accepted
					if (verdict.inDocument) next.push(entry);
				}
			}
			remaining = next;
		}
		for (const entry of remaining)
			if (!waiting.has(entry.id)) waiting.set(entry.id, 'missing-dependencies');
		return { doc: current(), accepted, invalid: invalidMap, waiting, rebuild };
	}

	/**
	 * `doc` with `changes` applied. A long run onto the bare root (a new device's first read, a
	 * rebuild) is loaded as one document from the root and the changes, which Automerge reads
	 * without making a patch per op (with the replica deciding a first read in one go: a quarter
	 * off a 10,000-message cold sync, docs/benchmarks.md).
	 */
	#withChanges(doc: A.Doc<T>, changes: A.Change[]): A.Doc<T> {
		if (changes.length < LOAD_RUN || !sameHeads(A.getHeads(doc), this.#rootHeads))
			return A.applyChanges(doc, changes)[0];
		return A.load<T>(concatBytes(this.root, ...changes), { actor: A.getActorId(doc) });
	}

	/** Automerge's (actor, seq) discipline for every change of an entry (see change-log.ts). */
	#discipline(entry: OpenedEntry): { standing: 'valid' | 'waiting' | 'invalid'; reason?: string } {
		const own = new Set(entry.decoded.map((d) => d.hash));
		for (const d of entry.decoded) {
			const result = this.#shared.log.standing(
				d,
				own,
				(h) => this.#validChanges.has(h),
				(h) => this.#invalidChanges.has(h)
			);
			if (result.standing !== 'valid') return result;
		}
		return { standing: 'valid' };
	}

	/** Whether Automerge takes an entry's changes (tried on a copy: a refusal can spoil the document). */
	#applies(entry: OpenedEntry, doc: A.Doc<T>): boolean {
		try {
			A.applyChanges(A.clone(doc), entry.changes);
			return true;
		} catch {
			return false;
		}
	}

	/** Checks a local change against the current state before it is applied (and, if allowed,
	 * registers the objects it creates, for the next local change of the same batch). */
	checkLocal(
		entry: Pick<OpenedEntry, 'header' | 'decoded' | 'context'>,
		doc: A.Doc<T>,
		whole?: A.Doc<T>
	): Verdict {
		// (a change made in a history segment is judged on the segment's plaintext; what the replica
		// resumed from is the whole document)
		this.#seed(whole ?? doc);
		const verdict = this.#check({ ...entry, id: 'local', changes: [] }, () => doc);
		if (verdict.valid) for (const d of entry.decoded) this.#paths.register(d);
		return verdict;
	}

	/** Records a sealed local entry as valid (its changes are already in the document). */
	recordLocal(entry: OpenedEntry): void {
		this.#shared.log.record(entry.decoded);
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
			const removal = reduction.removed.get(signer);
			const cutoff = this.channel
				? (removal ?? reduction.restricted.get(signer))?.[this.channel]
				: undefined;
			if (!cutoff) return invalid('written after its author lost that right');
			const inside = this.#ancestorsOf(cutoff);
			// inside the cut-off is decided by the part of it this device holds; outside only by all
			// of it. (A reader without a channel's history never holds the cut-off's older heads: what
			// the removed member wrote in the segments it reads is still found inside.)
			if (entry.decoded.every((d) => inside.seen.has(d.hash))) continue;
			if (!inside.complete) return notYet('removal cut-off not received yet');
			return invalid(
				removal
					? 'written after its author was removed'
					: 'written after its author lost that right'
			);
		}
		return VALID;
	}

	/**
	 * The change hashes in the causal past of (and including) `heads` that this validator knows,
	 * and whether that is all of it (`complete`: no change on the way is unknown here).
	 */
	#ancestorsOf(heads: readonly string[]): { seen: Set<string>; complete: boolean } {
		const key = [...heads].sort().join(',');
		const cached = this.#cutoffCache.get(key);
		if (cached) return { seen: cached, complete: true };
		const seen = new Set<string>();
		const stack = [...heads];
		let complete = true;
		while (stack.length) {
			const h = stack.pop()!;
			if (seen.has(h)) continue;
			const deps =
				this.#depsOf.get(h) ?? (this.#rootChanges.some((c) => c.hash === h) ? [] : undefined);
			if (!deps) {
				complete = false;
				continue;
			}
			seen.add(h);
			stack.push(...deps);
		}
		if (complete) this.#cutoffCache.set(key, seen);
		return { seen, complete };
	}
}
