/**
 * Validity of the space document's entries: a pure function of the set of entries received.
 *
 * 1. Entries are ordered topologically by their change dependencies (ties: entry hash), and each
 *    is checked against the authority state materialised from valid entries in its causal past,
 *    with what the rules need of that past beyond the document (a CausalContext: rotations pending,
 *    the newest time written by given members — for epoch namings and invite expiry).
 *    An entry depending on an invalid one is invalid (cascade); one depending on an unknown change
 *    waits.
 * 2. Strong removal: every valid entry R that takes something away from users (removes, bans,
 *    demotes, denies, or rotates the user's own identity key — strong rotation) is taken in priority order — the signer's rank, then seniority (earlier
 *    admission), then the smaller hash. Each entry C by an affected user that is concurrent with R
 *    must also be valid in the state that includes R; else it is invalid. Entries concurrent with a
 *    kick or ban that re-admit or unban that user are invalid (no concurrent re-add). A removal
 *    invalidated this way no longer counts (mutual removal: the higher-ranked remover wins).
 * 3. Step 2 runs once over the causally valid set, removals in priority order; a removal that
 *    was itself invalidated (or depends on an invalidated entry) is skipped. Then the pass of
 *    step 1 runs again with those entries forced invalid, cascading to their dependants.
 *
 * Entries that extend the current heads have no concurrent entries, so they take a fast path: one
 * check against the current state, no recomputation.
 *
 * Automerge's (actor, seq) discipline is decided, never thrown (change-log.ts): in a pass, an entry
 * carrying an equivocated change that does not stand, a change whose actor's previous change is not
 * valid before it, or an op superseding an op of no valid change, is invalid; an entry Automerge still
 * refuses is invalid too, and the pass starts again without it. Each pass starts from the root, so
 * all of this is a function of the entries.
 */
import * as A from '@automerge/automerge';
import type { ChannelId, UserId } from '../identity/ids.js';
import type { Genesis } from './genesis.js';
import { actorFor } from './actors.js';
import { ChangeLog } from './change-log.js';
import { checkEntry } from './entry-check.js';
import { externalDeps, type OpenedEntry } from './opened-entry.js';
import { PathIndex } from './paths.js';
import { asString, EVERYONE, SPACE_DOC_ROOT, type SpaceDoc } from './schema.js';
import { spaceRules } from './space-rules.js';
import { currentEpochNaming } from './epochs.js';
import { SpaceState, type CausalContext } from './state.js';
import { VerifiedCards } from './card-cache.js';
import { base58, toBytes } from '../util/bytes.js';
import { channelIdBytes } from '../identity/ids.js';
import { Permission } from './permissions.js';
import { MAGIC } from '../crypto/domains.js';

const CARD_MAGIC = MAGIC.userCard;

export interface Reduction {
	entry: OpenedEntry;
	signer: UserId;
	/**
	 * Users who lost membership or any permission through this entry, or whose identity key it
	 * rotated (what the old key certified loses its power).
	 */
	users: Set<UserId>;
	/** Users kicked or banned by this entry, with the channel cut-offs recorded for them. */
	removed: Map<UserId, Record<ChannelId, string[]>>;
	/**
	 * Users who stay members but lose a permission through this entry, with the channel cut-offs
	 * its writer recorded for them (`restrict` records; none: every channel change of theirs that
	 * needs the lost permission and is not in the entry's causal past is judged as written after).
	 */
	restricted: Map<UserId, Record<ChannelId, string[]>>;
	/** Per document (base58 id), users who could read it before this entry and cannot after. */
	lostRead: Map<string, Set<UserId>>;
}

/**
 * An entry that lets members read a channel they could not read before, without
 * READ_MESSAGE_HISTORY there (a join, an addition, a role or an overwrite that grants VIEW_CHANNEL):
 * the channel needs a new epoch, named in this entry or after it, so that the first key those
 * members get is of an epoch that starts after they came in (protocol §7, history visibility).
 */
export interface FreshRead {
	entry: OpenedEntry;
	/** Channel documents (base58 ids) that need a new epoch, with the members who came in. */
	documents: Map<string, Set<UserId>>;
}

/** A key a member may read with and nobody sealed them: see `SpaceEvaluation.owedKeys`. */
export interface OwedKey {
	/** The document (base58 id: the space's or a channel's). */
	document: string;
	/** The epoch (base58 id). */
	epoch: string;
	user: UserId;
}

export interface SpaceEvaluation {
	doc: A.Doc<SpaceDoc>;
	state: SpaceState;
	valid: OpenedEntry[];
	invalid: Map<string, string>;
	waiting: Map<string, string>;
	reductions: Reduction[];
	/** Entries that let members without READ_MESSAGE_HISTORY into a channel, in causal order. */
	freshReads: FreshRead[];
	/** State at given heads of the valid space document, or why it cannot be had. */
	stateAt(heads: readonly string[]): SpaceState | 'missing' | 'invalid';
	/** Is the entry `entryId` in the causal past of (or one of the entries of) `heads`? */
	precedes(entryId: string, heads: readonly string[]): boolean;
	/**
	 * Documents (base58 ids) whose current epoch some removed reader can still open: a removal took
	 * read access away and no epoch of that document was set after it. Any member holding the key
	 * completes the rotation. Also channels a member without READ_MESSAGE_HISTORY came into with no
	 * epoch named since (a FreshRead): any reader completes it — the newcomer too, with every other
	 * member offline, since a new epoch needs no old key.
	 */
	pendingRotations(): string[];
	/**
	 * Whether epoch `epoch` of `document` was named after a member without READ_MESSAGE_HISTORY
	 * came into it: what is written under it starts, or belongs to, a later history segment (the
	 * newcomer reads none of what came before — docs/protocol.md §8.3).
	 */
	cutBefore(document: string, epoch: string): boolean;
	/**
	 * Epochs named concurrently with a member's coming into a document (admitted, or given
	 * VIEW_CHANNEL) that the member may read now with its history: neither the namer (who did not
	 * know them) nor whoever let them in (who did not know the epoch) sealed it to them, so any
	 * reader holding the key does (docs/protocol.md §8 "Keys owed"). Only the document's current
	 * epoch is owed. A member without READ_MESSAGE_HISTORY is owed none: a pending rotation gives
	 * them a new epoch instead.
	 */
	owedKeys(): OwedKey[];
}

const ROOT = A.load<SpaceDoc>(SPACE_DOC_ROOT);
/** Space entries may carry their signer's own (identity-signed) card: new devices, newcomers. */
const SELF = { selfCertifiedDevices: true };
const ROOT_CHANGES = A.getAllChanges(ROOT).map((c) => A.decodeChange(c));
const ROOT_HASHES = new Set(ROOT_CHANGES.map((c) => c.hash));
const MEMBERS_OBJECT = A.getObjectId(ROOT, 'members');
const BANS_OBJECT = A.getObjectId(ROOT, 'bans');

export class SpaceValidator {
	#last: SpaceEvaluation | undefined;
	#paths = new PathIndex();
	#order: OpenedEntry[] = [];
	#ancestors = new Map<string, Set<string>>();
	#changeEntry = new Map<string, string>();
	#signers = new Map<string, UserId>();
	#epochSetters = new Map<string, Set<string>>();
	/** The epoch each setter named, by `<document> <entry id>`. */
	#epochNamed = new Map<string, string>();
	/** Who came into which document (base58) through each valid entry (`arrivalsOf`). */
	#arrivals = new Map<string, Map<string, Set<UserId>>>();
	#log = logOf([]);
	/** Entries Automerge refused although every check allowed them (kept refused: a pure fact). */
	#unappliable = new Set<string>();
	/** Entries whose cards are in `cards` (every entry ever decided here, and so every card). */
	#cardsRead = new Set<string>();

	/**
	 * `cards`: the cards this validator verified; the rules read nothing else (card-cache.ts). A
	 * local change carrying a card needs it verified here first (`cards.verify`).
	 */
	constructor(
		readonly genesis: Genesis,
		private readonly actor: string,
		readonly cards: VerifiedCards = new VerifiedCards()
	) {
		for (const d of ROOT_CHANGES) this.#paths.register(d);
	}

	get last(): SpaceEvaluation | undefined {
		return this.#last;
	}

	/**
	 * Re-evaluates with `fresh` entries added to `all` (which already contains them). `doc` is the
	 * replica's current document: valid entries plus this device's own changes.
	 */
	async evaluate(
		all: ReadonlyMap<string, OpenedEntry>,
		fresh: readonly OpenedEntry[],
		doc: A.Doc<SpaceDoc>
	): Promise<SpaceEvaluation & { recomputed: boolean }> {
		// Every card any decision below reads — a recomputation reads them all — is verified before
		// anything is decided; `cards` never forgets one, so only entries new here are read.
		const unread = new Map<string, OpenedEntry>();
		for (const entries of [fresh, all.values()])
			for (const entry of entries) if (!this.#cardsRead.has(entry.id)) unread.set(entry.id, entry);
		await this.cards.verify(cardsIn(unread.values()));
		for (const id of unread.keys()) this.#cardsRead.add(id);
		if (this.#last && fresh.length && this.#extendsHeads(fresh, doc)) {
			const fast = this.#fastPath(fresh, doc);
			if (fast) return { ...fast, recomputed: false };
		}
		// (a failed fast path may have spoilt `doc`: the recomputation starts from the root)
		return { ...this.#recompute(all), recomputed: true };
	}

	/** The space rule table applied to one entry, against a state and the document it derives from. */
	#check(state: SpaceState, before: SpaceDoc, entry: Pick<OpenedEntry, 'header' | 'decoded'>) {
		return checkEntry(
			spaceRules,
			this.#paths,
			state,
			() => before,
			entry.header,
			entry.decoded,
			undefined,
			{ ...SELF, cards: this.cards }
		);
	}

	/** Checks a local change against the state of `before` (registering its objects if allowed). */
	checkLocal(header: OpenedEntry['header'], decoded: A.DecodedChange[], before: A.Doc<SpaceDoc>) {
		const state = SpaceState.derive(this.genesis, before);
		// a local change extends everything this device holds: all of it is its causal past
		state.causal = this.#causal(
			() => true,
			this.#last?.valid ?? [],
			this.#last?.reductions ?? [],
			this.#last?.freshReads ?? []
		);
		const { verdict } = this.#check(state, before, {
			header,
			decoded
		});
		if (verdict.valid) for (const d of decoded) this.#paths.register(d);
		return verdict;
	}

	/** Records a sealed local entry (already in `doc`) as valid. */
	recordLocal(entry: OpenedEntry, doc: A.Doc<SpaceDoc>, signer: UserId): void {
		this.#log.record(entry.decoded);
		this.#claimChanges(entry);
		this.#recordAncestors(entry);
		this.#signers.set(entry.id, signer);
		this.#recordEpochSetter(entry, this.#paths.resolveBatch(entry.decoded));
		const deps = externalDeps(entry);
		const beforeDoc = A.view(doc, deps);
		const afterDoc = A.view(doc, [...deps, ...entry.decoded.map((d) => d.hash)]);
		const last = this.#last;
		const state = SpaceState.derive(this.genesis, doc);
		const reduction = reductionOf(
			entry,
			signer,
			SpaceState.derive(this.genesis, beforeDoc),
			SpaceState.derive(this.genesis, afterDoc),
			beforeDoc,
			afterDoc,
			this.genesis.spaceBytes
		);
		const stateBefore = SpaceState.derive(this.genesis, beforeDoc);
		const stateAfter = SpaceState.derive(this.genesis, afterDoc);
		const fresh = freshReadOf(entry, stateBefore, stateAfter);
		this.#recordArrivals(entry, stateBefore, stateAfter);
		this.#last = this.#evaluation(
			doc,
			state,
			[...(last?.valid ?? []), entry],
			last?.invalid ?? new Map(),
			last?.waiting ?? new Map(),
			[...(last?.reductions ?? []), ...(reduction ? [reduction] : [])],
			[...(last?.freshReads ?? []), ...(fresh ? [fresh] : [])]
		);
	}

	#extendsHeads(fresh: readonly OpenedEntry[], doc: A.Doc<SpaceDoc>): boolean {
		let heads = new Set(A.getHeads(doc));
		for (const entry of fresh) {
			const deps = externalDeps(entry);
			if (deps.length !== heads.size || !deps.every((d) => heads.has(d))) return false;
			heads = new Set(
				entry.decoded
					.filter((d) => !entry.decoded.some((o) => o.deps.includes(d.hash)))
					.map((d) => d.hash)
			);
		}
		return true;
	}

	#fastPath(fresh: readonly OpenedEntry[], current: A.Doc<SpaceDoc>): SpaceEvaluation | undefined {
		let doc = current;
		const valid = [...this.#last!.valid];
		const invalid = new Map(this.#last!.invalid);
		const waiting = new Map(this.#last!.waiting);
		let state = SpaceState.derive(this.genesis, doc);
		const reductions = [...this.#last!.reductions];
		const freshReads = [...this.#last!.freshReads];
		for (const entry of fresh) {
			state.causal = this.#causal(() => true, valid, reductions, freshReads);
			recordBound(this.#log, entry);
			if (
				!this.#keepsDiscipline(
					entry,
					(h) => A.hasHeads(doc, [h]),
					() => false
				)
			)
				return undefined;
			const check = this.#check(state, doc, entry);
			// An invalid entry takes its dependants with it; let the full pass decide.
			if (!check.verdict.valid || !this.#claimChanges(entry)) return undefined;
			const beforeDoc = doc;
			try {
				[doc] = A.applyChanges(doc, entry.changes);
			} catch {
				return undefined;
			}
			this.#recordEpochSetter(entry, check.ops);
			for (const d of entry.decoded) this.#paths.register(d);
			const after = SpaceState.derive(this.genesis, doc);
			const reduction = reductionOf(
				entry,
				check.signer!,
				state,
				after,
				beforeDoc,
				doc,
				this.genesis.spaceBytes
			);
			if (reduction) reductions.push(reduction);
			const freshRead = freshReadOf(entry, state, after);
			if (freshRead) freshReads.push(freshRead);
			this.#recordArrivals(entry, state, after);
			state = after;
			valid.push(entry);
			this.#signers.set(entry.id, check.signer!);
			this.#order.push(entry);
			this.#recordAncestors(entry);
			waiting.delete(entry.id);
		}
		this.#last = this.#evaluation(doc, state, valid, invalid, waiting, reductions, freshReads);
		return this.#last;
	}

	#recordEpochSetter(
		entry: OpenedEntry,
		ops: readonly { path: string[]; kind: string; value?: unknown }[] | undefined
	) {
		for (const op of ops ?? [])
			if (op.path[0] === 'epochs' && op.path.length === 2 && op.kind === 'put') {
				const set = this.#epochSetters.get(op.path[1]!) ?? new Set();
				set.add(entry.id);
				this.#epochSetters.set(op.path[1]!, set);
				if (typeof op.value === 'string')
					this.#epochNamed.set(`${op.path[1]} ${entry.id}`, op.value);
			}
	}

	#recordArrivals(entry: OpenedEntry, before: SpaceState, after: SpaceState): void {
		const arrivals = arrivalsOf(before, after, base58.encode(this.genesis.spaceBytes));
		if (arrivals) this.#arrivals.set(entry.id, arrivals);
	}

	#claimChanges(entry: OpenedEntry): boolean {
		for (const d of entry.decoded) {
			const owner = this.#changeEntry.get(d.hash);
			if (owner && owner !== entry.id) return false;
		}
		for (const d of entry.decoded) this.#changeEntry.set(d.hash, entry.id);
		return true;
	}

	#recordAncestors(entry: OpenedEntry) {
		const set = new Set<string>();
		for (const dep of externalDeps(entry)) {
			const owner = this.#changeEntry.get(dep);
			if (!owner) continue;
			set.add(owner);
			for (const a of this.#ancestors.get(owner) ?? []) set.add(a);
		}
		this.#ancestors.set(entry.id, set);
	}

	#recompute(all: ReadonlyMap<string, OpenedEntry>): SpaceEvaluation {
		// Which entry made each change; a change claimed by two entries belongs to the smaller id.
		this.#changeEntry = new Map();
		const duplicates = new Map<string, string>();
		for (const entry of [...all.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
			if (!this.#claimChanges(entry)) duplicates.set(entry.id, 'duplicate changes');
		}
		// Topological order over entry dependencies; unknown dependencies make an entry wait.
		const waiting = new Map<string, string>();
		const depsOf = new Map<string, string[]>();
		for (const entry of all.values()) {
			if (duplicates.has(entry.id)) continue;
			const deps: string[] = [];
			for (const dep of externalDeps(entry)) {
				if (ROOT_HASHES.has(dep)) continue;
				const owner = this.#changeEntry.get(dep);
				if (!owner || duplicates.has(owner)) waiting.set(entry.id, 'missing-dependencies');
				else deps.push(owner);
			}
			depsOf.set(entry.id, deps);
		}
		const order = topologicalOrder(all, depsOf, waiting);
		this.#order = order;
		this.#log = logOf(all.values());
		this.#ancestors = new Map();
		for (const entry of order) {
			const set = new Set<string>();
			for (const d of depsOf.get(entry.id)!) {
				set.add(d);
				for (const a of this.#ancestors.get(d)!) set.add(a);
			}
			this.#ancestors.set(entry.id, set);
		}

		// Causal validity first; then strong removal, taken once, in priority order, over that set.
		const causal = this.#safePass(order, depsOf, new Map());
		const forced = this.#strongRemoval(causal);
		for (const [id, reason] of this.#inviteLimits(causal))
			if (!forced.has(id)) forced.set(id, reason);
		const result = forced.size ? this.#safePass(order, depsOf, forced) : causal;
		for (const [id, reason] of duplicates) result.invalid.set(id, reason);
		this.#last = this.#evaluation(
			result.doc,
			SpaceState.derive(this.genesis, result.doc),
			result.valid,
			result.invalid,
			waiting,
			result.reductions,
			result.freshReads
		);
		return this.#last;
	}

	/** A pass; an entry Automerge refuses is refused for good and the pass starts again without it. */
	#safePass(order: OpenedEntry[], depsOf: Map<string, string[]>, forced: Map<string, string>) {
		for (;;) {
			const all = new Map(forced);
			for (const id of this.#unappliable) if (!all.has(id)) all.set(id, 'refused by Automerge');
			const result = this.#pass(order, depsOf, all);
			if (typeof result !== 'string') return result;
			this.#unappliable.add(result);
		}
	}

	/** Whether every change of an entry keeps Automerge's (actor, seq) discipline (change-log.ts). */
	#keepsDiscipline(
		entry: OpenedEntry,
		isValid: (hash: string) => boolean,
		isInvalid: (hash: string) => boolean
	): string | true {
		const own = new Set(entry.decoded.map((d) => d.hash));
		for (const d of entry.decoded) {
			const { standing, reason } = this.#log.standing(d, own, isValid, isInvalid);
			if (standing !== 'valid') return reason ?? 'breaks the actor discipline';
		}
		return true;
	}

	/** One pass in topological order; the id of an entry Automerge refused, if one was. */
	#pass(order: OpenedEntry[], depsOf: Map<string, string[]>, forced: Map<string, string>) {
		let doc = A.load<SpaceDoc>(SPACE_DOC_ROOT, { actor: this.actor });
		this.#paths = new PathIndex();
		for (const d of ROOT_CHANGES) this.#paths.register(d);
		this.#signers = new Map();
		this.#epochSetters = new Map();
		this.#epochNamed = new Map();
		this.#arrivals = new Map();
		const valid: OpenedEntry[] = [];
		const validIds = new Set<string>();
		const validChanges = new Set<string>();
		const invalid = new Map<string, string>();
		const reductions: Reduction[] = [];
		const freshReads: FreshRead[] = [];
		for (const entry of order) {
			const forcedReason = forced.get(entry.id);
			if (forcedReason) {
				invalid.set(entry.id, forcedReason);
				continue;
			}
			if (depsOf.get(entry.id)!.some((d) => !validIds.has(d))) {
				invalid.set(entry.id, 'depends on an invalid change');
				continue;
			}
			// in a pass, what is not valid before an entry never will be: no waiting here
			const discipline = this.#keepsDiscipline(
				entry,
				(h) => ROOT_HASHES.has(h) || validChanges.has(h),
				() => true
			);
			if (discipline !== true) {
				invalid.set(entry.id, discipline);
				continue;
			}
			const heads = externalDeps(entry);
			const before = A.view(doc, heads);
			const state = SpaceState.derive(this.genesis, before);
			const past = this.#ancestors.get(entry.id)!;
			state.causal = this.#causal((id) => past.has(id), valid, reductions, freshReads);
			const check = this.#check(state, before, entry);
			if (!check.verdict.valid) {
				invalid.set(entry.id, check.verdict.reason);
				continue;
			}
			try {
				[doc] = A.applyChanges(doc, entry.changes);
			} catch {
				return entry.id;
			}
			this.#recordEpochSetter(entry, check.ops);
			for (const d of entry.decoded) this.#paths.register(d);
			valid.push(entry);
			validIds.add(entry.id);
			for (const d of entry.decoded) validChanges.add(d.hash);
			this.#signers.set(entry.id, check.signer!);
			const afterDoc = A.view(doc, [...heads, ...entry.decoded.map((d) => d.hash)]);
			const after = SpaceState.derive(this.genesis, afterDoc);
			const reduction = reductionOf(
				entry,
				check.signer!,
				state,
				after,
				before,
				afterDoc,
				this.genesis.spaceBytes
			);
			if (reduction) reductions.push(reduction);
			const freshRead = freshReadOf(entry, state, after);
			if (freshRead) freshReads.push(freshRead);
			this.#recordArrivals(entry, state, after);
		}
		return { doc, valid, invalid, reductions, freshReads };
	}

	/**
	 * The causal past of an entry as the rules need it (epochs, invite expiry): `inPast` says which
	 * entries precede it; `valid` and `reductions` are the valid entries and removals decided so far
	 * (a superset of its valid causal past, in topological order).
	 */
	#causal(
		inPast: (id: string) => boolean,
		valid: readonly OpenedEntry[],
		reductions: readonly Reduction[],
		freshReads: readonly FreshRead[]
	): CausalContext {
		return {
			rotationPending: (document, current) =>
				freshReads.some(
					(f) =>
						inPast(f.entry.id) &&
						f.documents.has(document) &&
						!this.#namedAfter(document, f.entry.id, current, inPast)
				) ||
				reductions.some(
					(r) =>
						inPast(r.entry.id) &&
						(r.lostRead.get(document)?.size ?? 0) > 0 &&
						![...(this.#epochSetters.get(document) ?? [])].some(
							(s) => inPast(s) && (s === r.entry.id || !!this.#ancestors.get(s)?.has(r.entry.id))
						)
				),
			latestTime: (by) => {
				let latest = 0;
				for (const entry of valid) {
					if (!inPast(entry.id)) continue;
					const signer = this.#signers.get(entry.id);
					if (!signer || !by(signer)) continue;
					for (const d of entry.decoded) latest = Math.max(latest, (d.time ?? 0) * 1000);
				}
				return latest;
			}
		};
	}

	/**
	 * Whether the current epoch of `document` (`current`) was named at or after entry `entryId`: a
	 * newcomer without the history holds the key of every epoch named after they came in, so only
	 * then do they hold the one writers use. (A naming concurrent with their join may win by rank:
	 * the rotation stays pending until one after the join is current.)
	 */
	#namedAfter(
		document: string,
		entryId: string,
		current: string | undefined,
		inPast: (id: string) => boolean = () => true
	): boolean {
		return [...(this.#epochSetters.get(document) ?? [])].some(
			(s) =>
				inPast(s) &&
				(s === entryId || !!this.#ancestors.get(s)?.has(entryId)) &&
				(current === undefined || this.#epochNamed.get(`${document} ${s}`) === current)
		);
	}

	#strongRemoval(result: {
		doc: A.Doc<SpaceDoc>;
		valid: OpenedEntry[];
		reductions: Reduction[];
	}): Map<string, string> {
		const forced = new Map<string, string>();
		const { doc } = result;
		const priority = (r: Reduction) => {
			const state = SpaceState.derive(this.genesis, A.view(doc, externalDeps(r.entry)));
			return { rank: state.rank(r.signer), seniority: state.members.get(r.signer)?.addedAt ?? 0 };
		};
		const ordered = result.reductions
			.map((r) => ({ r, p: priority(r) }))
			.sort(
				(a, b) =>
					b.p.rank - a.p.rank ||
					a.p.seniority - b.p.seniority ||
					(a.r.entry.id < b.r.entry.id ? -1 : 1)
			)
			.map((x) => x.r);
		const out = (id: string) =>
			forced.has(id) || [...(this.#ancestors.get(id) ?? [])].some((a) => forced.has(a));
		for (const reduction of ordered) {
			const rId = reduction.entry.id;
			if (out(rId)) continue; // overruled by a removal of higher priority
			const rAncestors = this.#ancestors.get(rId)!;
			for (const entry of result.valid) {
				if (entry.id === rId || out(entry.id)) continue;
				if (rAncestors.has(entry.id) || this.#ancestors.get(entry.id)?.has(rId)) continue; // not concurrent
				const signer = this.#signers.get(entry.id)!;
				if (readmits(entry, reduction.removed)) {
					forced.set(entry.id, 'concurrent with the removal of that member');
					continue;
				}
				if (!reduction.users.has(signer)) continue;
				const heads = [...externalDeps(entry), ...reduction.entry.decoded.map((d) => d.hash)];
				const before = A.view(doc, heads);
				const state = SpaceState.derive(this.genesis, before);
				const check = this.#check(state, before, entry);
				if (!check.verdict.valid)
					forced.set(entry.id, `concurrent removal: ${check.verdict.reason}`);
			}
		}
		return forced;
	}

	/**
	 * Joins are checked at their causal point, so two concurrent joins can each take the last use of
	 * an invite, and a join can race its invite's revocation. Both resolve here, deterministically:
	 * the first `maxUses` joins in topological order (ties by entry hash) keep their place, and joins
	 * concurrent with a revocation of their invite are void. Concurrent creations of one invite id
	 * (sequential ones are refused by the rules) keep only the first.
	 */
	#inviteLimits(result: { doc: A.Doc<SpaceDoc>; valid: OpenedEntry[] }): Map<string, string> {
		const forced = new Map<string, string>();
		const joins = new Map<string, OpenedEntry[]>();
		const revocations = new Map<string, OpenedEntry[]>();
		const creations = new Map<string, OpenedEntry[]>();
		for (const entry of result.valid) {
			for (const op of this.#paths.resolveBatch(entry.decoded) ?? []) {
				if (op.kind === 'make' && op.path[0] === 'invites' && op.path.length === 2)
					creations.set(op.path[1]!, [...(creations.get(op.path[1]!) ?? []), entry]);
				if (op.kind !== 'put' || op.path[0] !== 'invites') continue;
				const id = op.path[1]!;
				const bucket =
					op.path[2] === 'uses' && op.path.length === 4
						? joins
						: op.path[2] === 'revoked'
							? revocations
							: undefined;
				if (bucket) bucket.set(id, [...(bucket.get(id) ?? []), entry]);
			}
		}
		// an invite exists once: of concurrent creations of one id, the first in topological order
		// (ties by entry hash) stands; the others are void, and so is whatever depends on them
		for (const list of creations.values())
			for (const extra of list.slice(1)) forced.set(extra.id, 'that invite already exists');
		for (const [id, list] of joins) {
			const maxUses = result.doc.invites?.[id]?.maxUses ?? 0;
			if (maxUses) for (const extra of list.slice(maxUses)) forced.set(extra.id, 'invite used up');
			for (const revocation of revocations.get(id) ?? [])
				for (const join of list) {
					const concurrent =
						!this.#ancestors.get(revocation.id)?.has(join.id) &&
						!this.#ancestors.get(join.id)?.has(revocation.id);
					if (concurrent) forced.set(join.id, 'invite revoked concurrently');
				}
		}
		return forced;
	}

	#evaluation(
		doc: A.Doc<SpaceDoc>,
		state: SpaceState,
		valid: OpenedEntry[],
		invalid: Map<string, string>,
		waiting: Map<string, string>,
		reductions: Reduction[],
		freshReads: FreshRead[]
	): SpaceEvaluation {
		const cache = new Map<string, SpaceState>();
		const changeEntry = this.#changeEntry;
		const validIds = new Set(valid.map((e) => e.id));
		const ancestors = this.#ancestors;
		const setters = this.#epochSetters;
		const named = this.#epochNamed;
		const arrivals = this.#arrivals;
		const spaceKey = base58.encode(this.genesis.spaceBytes);
		return {
			doc,
			state,
			valid,
			invalid,
			waiting,
			reductions,
			freshReads,
			stateAt: (heads) => {
				for (const h of heads) {
					if (ROOT_HASHES.has(h)) continue;
					const owner = changeEntry.get(h);
					if (!owner) return 'missing';
					if (!validIds.has(owner)) return invalid.has(owner) ? 'invalid' : 'missing';
				}
				const key = [...heads].sort().join(',');
				let s = cache.get(key);
				if (!s) {
					s = SpaceState.derive(
						this.genesis,
						heads.length ? A.view(doc, [...heads]) : A.view(doc, A.getHeads(ROOT))
					);
					if (cache.size > 64) cache.clear();
					cache.set(key, s);
				}
				return s;
			},
			precedes: (entryId, heads) =>
				heads.some((h) => {
					const owner = changeEntry.get(h);
					return owner === entryId || (!!owner && !!ancestors.get(owner)?.has(entryId));
				}),
			pendingRotations: () => {
				const pending = new Set<string>();
				for (const r of reductions)
					for (const [document, users] of r.lostRead) {
						if (users.size === 0 || pending.has(document)) continue;
						const after = [...(setters.get(document) ?? [])].some(
							(s) => s === r.entry.id || !!ancestors.get(s)?.has(r.entry.id)
						);
						if (!after) pending.add(document);
					}
				for (const f of freshReads)
					for (const document of f.documents.keys()) {
						if (pending.has(document)) continue;
						const current = currentEpochNaming(doc, document, state)?.epoch;
						if (!this.#namedAfter(document, f.entry.id, current)) pending.add(document);
					}
				return [...pending];
			},
			cutBefore: (document, epoch) =>
				freshReads.some(
					(f) => f.documents.has(document) && this.#namedAfter(document, f.entry.id, epoch)
				),
			owedKeys: () => {
				const channels = new Map(
					[...state.channels.keys()].map((c) => [base58.encode(channelIdBytes(c)), c])
				);
				const reads = (user: UserId, document: string) => {
					if (!state.isMember(user)) return false;
					if (document === spaceKey) return true;
					const channel = channels.get(document);
					return (
						!!channel &&
						state.can(user, Permission.VIEW_CHANNEL, channel) &&
						state.can(user, Permission.READ_MESSAGE_HISTORY, channel)
					);
				};
				// only a document's current epoch is owed: one key per member and document, however
				// many epochs anyone names concurrently with a coming-in (no sealing to amplify)
				const current = new Map<string, string | undefined>();
				const currentOf = (document: string) => {
					if (!current.has(document))
						current.set(document, currentEpochNaming(doc, document, state)?.epoch);
					return current.get(document);
				};
				const owed: OwedKey[] = [];
				for (const [arrival, documents] of arrivals)
					for (const [document, users] of documents)
						for (const setter of setters.get(document) ?? []) {
							const concurrent =
								setter !== arrival &&
								!ancestors.get(setter)?.has(arrival) &&
								!ancestors.get(arrival)?.has(setter);
							const epoch = concurrent ? named.get(`${document} ${setter}`) : undefined;
							if (epoch === undefined || epoch !== currentOf(document)) continue;
							for (const user of users)
								if (reads(user, document)) owed.push({ document, epoch, user });
						}
				return owed;
			}
		};
	}
}

/** A change log of the entries' changes whose actor is bound to their signer, and the root's. */
function logOf(entries: Iterable<OpenedEntry>): ChangeLog {
	const log = new ChangeLog();
	log.record(ROOT_CHANGES);
	for (const entry of entries) recordBound(log, entry);
	return log;
}

function recordBound(log: ChangeLog, entry: OpenedEntry): void {
	const actor = actorFor(entry.header.author, entry.header.session);
	if (entry.decoded.every((d) => d.actor === actor)) log.record(entry.decoded);
}

function topologicalOrder(
	all: ReadonlyMap<string, OpenedEntry>,
	depsOf: Map<string, string[]>,
	waiting: Map<string, string>
): OpenedEntry[] {
	// Anything depending (transitively) on a waiting entry waits too.
	let changed = true;
	while (changed) {
		changed = false;
		for (const [id, deps] of depsOf)
			if (!waiting.has(id) && deps.some((d) => waiting.has(d))) {
				waiting.set(id, 'missing-dependencies');
				changed = true;
			}
	}
	const remaining = new Map<string, number>();
	const children = new Map<string, string[]>();
	for (const [id, deps] of depsOf) {
		if (waiting.has(id)) continue;
		remaining.set(id, deps.length);
		for (const d of deps) children.set(d, [...(children.get(d) ?? []), id]);
	}
	const ready = [...remaining]
		.filter(([, n]) => n === 0)
		.map(([id]) => id)
		.sort();
	const order: OpenedEntry[] = [];
	while (ready.length) {
		const id = ready.shift()!;
		order.push(all.get(id)!);
		for (const child of children.get(id) ?? []) {
			const n = remaining.get(child)! - 1;
			remaining.set(child, n);
			if (n === 0) {
				// keep `ready` sorted so the order is a pure function of the set
				const at = ready.findIndex((r) => r > child);
				ready.splice(at === -1 ? ready.length : at, 0, child);
			}
		}
	}
	return order;
}

/**
 * Members who stay members from `before` to `after` but lose a permission, space-wide or in any
 * channel: the users a change must write a `restrict` record for (with its channel cut-offs), so
 * what they wrote before the loss stays valid.
 */
export function restrictedBy(before: SpaceState, after: SpaceState): UserId[] {
	const users: UserId[] = [];
	for (const user of before.members.keys()) {
		if (!after.isMember(user)) continue;
		if ((before.basePermissions(user) & ~after.basePermissions(user)) !== 0) users.push(user);
		else
			for (const channel of before.channels.keys())
				if ((before.permissions(user, channel) & ~after.permissions(user, channel)) !== 0) {
					users.push(user);
					break;
				}
	}
	return users;
}

/** Users who lose membership or any permission (space-wide or in any channel) through an entry. */
function reductionOf(
	entry: OpenedEntry,
	signer: UserId,
	before: SpaceState,
	after: SpaceState,
	beforeDoc: SpaceDoc,
	afterDoc: SpaceDoc,
	spaceBytes: Uint8Array
): Reduction | undefined {
	const users = new Set<UserId>();
	const lostRead = new Map<string, Set<UserId>>();
	const lose = (document: string, user: UserId) => {
		const set = lostRead.get(document) ?? new Set();
		set.add(user);
		lostRead.set(document, set);
	};
	for (const user of before.members.keys()) {
		if (!after.isMember(user)) lose(base58.encode(spaceBytes), user);
		for (const channel of before.channels.keys())
			if (
				before.can(user, Permission.VIEW_CHANNEL, channel) &&
				!after.can(user, Permission.VIEW_CHANNEL, channel)
			)
				lose(base58.encode(channelIdBytes(channel)), user);
	}
	for (const user of before.members.keys()) if (!after.isMember(user)) users.add(user);
	for (const user of restrictedBy(before, after)) users.add(user);
	// strong rotation: a member whose identity key moved on (a card with a longer rotation chain)
	// loses what the old key could do — their entries concurrent with it are judged again with it
	for (const user of rotatedBy(before, after)) users.add(user);
	const removed = new Map<UserId, Record<ChannelId, string[]>>();
	for (const user of before.members.keys())
		if (!after.isMember(user) || (after.bans.has(user) && !before.bans.has(user)))
			removed.set(user, {});
	for (const user of after.bans) if (!before.bans.has(user)) removed.set(user, {});
	const restricted = new Map<UserId, Record<ChannelId, string[]>>();
	for (const [id, record] of Object.entries(afterDoc.removals ?? {})) {
		const user = asString(record?.user) as UserId | undefined;
		if (beforeDoc.removals?.[id] || !user) continue;
		const restricts = asString(record?.kind) === 'restrict';
		if (restricts ? !users.has(user) || removed.has(user) : !removed.has(user)) continue;
		const cutoffs: Record<ChannelId, string[]> = {};
		for (const [channel, heads] of Object.entries(record.cutoffs ?? {})) {
			const list = asString(heads);
			if (list !== undefined)
				cutoffs[channel as ChannelId] = list.split(',').filter((h) => /^[0-9a-f]{64}$/.test(h));
		}
		(restricts ? restricted : removed).set(user, cutoffs);
	}
	if (users.size === 0 && removed.size === 0) return undefined;
	return { entry, signer, users, removed, restricted, lostRead };
}

/**
 * The channels an entry lets members into without READ_MESSAGE_HISTORY there: members who may read
 * a channel (that existed before) after it and could not before — newly admitted, or newly granted
 * VIEW_CHANNEL by a role or an overwrite — and lack READ_MESSAGE_HISTORY in it after.
 */
export function freshReadOf(
	entry: OpenedEntry,
	before: SpaceState,
	after: SpaceState
): FreshRead | undefined {
	// the common case costs one look: @everyone reads history and no overwrite denies it
	const everyone = after.roles.get(EVERYONE)?.permissions ?? 0;
	const denied = [...after.channels.values()].some((c) =>
		Object.values(c.overwrites ?? {}).some((o) => (o.deny & Permission.READ_MESSAGE_HISTORY) !== 0)
	);
	if (!denied && (everyone & Permission.READ_MESSAGE_HISTORY) !== 0) return undefined;
	let documents: Map<string, Set<UserId>> | undefined;
	for (const channel of after.channels.keys()) {
		if (!before.channels.has(channel)) continue;
		for (const user of after.members.keys()) {
			if (!after.can(user, Permission.VIEW_CHANNEL, channel)) continue;
			if (after.can(user, Permission.READ_MESSAGE_HISTORY, channel)) continue;
			if (before.isMember(user) && before.can(user, Permission.VIEW_CHANNEL, channel)) continue;
			documents ??= new Map();
			const key = base58.encode(channelIdBytes(channel));
			const set = documents.get(key) ?? new Set<UserId>();
			set.add(user);
			documents.set(key, set);
		}
	}
	return documents && { entry, documents };
}

/**
 * Who may read a document after an entry and could not before, by document (base58 id): newly
 * admitted members (the space document and every channel they see), members given VIEW_CHANNEL in
 * a channel that existed before. What they are owed if an epoch was named concurrently:
 * `SpaceEvaluation.owedKeys`.
 */
export function arrivalsOf(
	before: SpaceState,
	after: SpaceState,
	spaceKey: string
): Map<string, Set<UserId>> | undefined {
	let documents: Map<string, Set<UserId>> | undefined;
	const add = (document: string, user: UserId) => {
		documents ??= new Map();
		const set = documents.get(document) ?? new Set<UserId>();
		set.add(user);
		documents.set(document, set);
	};
	for (const user of after.members.keys()) {
		const was = before.isMember(user);
		if (!was) add(spaceKey, user);
		for (const channel of after.channels.keys()) {
			if (!before.channels.has(channel)) continue;
			if (was && before.can(user, Permission.VIEW_CHANNEL, channel)) continue;
			if (after.can(user, Permission.VIEW_CHANNEL, channel))
				add(base58.encode(channelIdBytes(channel)), user);
		}
	}
	return documents;
}

/** Members whose current identity key differs from `before` to `after` (an identity rotation). */
export function rotatedBy(before: SpaceState, after: SpaceState): UserId[] {
	const users: UserId[] = [];
	for (const [user, was] of before.members) {
		const now = after.members.get(user);
		if (now && now.rotations > was.rotations) users.push(user);
	}
	return users;
}

function readmits(entry: OpenedEntry, removed: Map<UserId, unknown>): boolean {
	if (removed.size === 0) return false;
	for (const change of entry.decoded)
		for (const op of change.ops) {
			const key = String(op.key ?? '');
			if (!removed.has(key as UserId)) continue;
			if (op.action === 'makeMap' && op.obj === MEMBERS_OBJECT) return true; // admitted again
			if (op.action === 'del' && op.obj === BANS_OBJECT) return true; // unbanned
		}
	return false;
}

function cardsIn(entries: Iterable<OpenedEntry>): Uint8Array[] {
	const cards: Uint8Array[] = [];
	for (const entry of entries)
		for (const change of entry.decoded)
			for (const op of change.ops) {
				const bytes = op.action === 'set' ? toBytes(op.value) : undefined;
				if (bytes && bytes.length > 3 && CARD_MAGIC.every((b, i) => bytes[i] === b))
					cards.push(bytes);
			}
	return cards;
}
