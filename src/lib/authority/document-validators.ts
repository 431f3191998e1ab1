/**
 * The authority layer as the sync layer sees it: one ReplicaValidator per document type.
 */
import type * as A from '@automerge/automerge';
import type { ChannelId, UserId } from '../identity/ids.js';
import { VerifiedCards, type CardCache } from './card-cache.js';
import { ChannelValidator } from './channel-validator.js';
import type { Genesis } from './genesis.js';
import type { OpenedEntry } from './opened-entry.js';
import { CHANNEL_DOC_ROOT, type ChannelDoc, type SpaceDoc } from './schema.js';
import { channelRules } from './channel-rules.js';
import type { RuleSet } from './rules.js';
import { SpaceValidator, type SpaceEvaluation } from './space-validator.js';
import { notYet, type ReplicaValidator, type ValidationResult, type Verdict } from './verdict.js';

export class SpaceDocumentValidator implements ReplicaValidator<SpaceDoc> {
	#validator: SpaceValidator | undefined;
	/** The cards this space's rules read (card-cache.ts); `cache`: the client's shared one. */
	readonly #cards: VerifiedCards;

	constructor(
		private readonly actor: string,
		private readonly self: () => UserId,
		cache?: CardCache
	) {
		this.#cards = new VerifiedCards(cache);
	}

	/** The genesis makes the space checkable; until it arrives every entry waits. */
	setGenesis(genesis: Genesis): void {
		this.#validator ??= new SpaceValidator(genesis, this.actor, this.#cards);
	}

	/** Verifies cards a local change is about to carry, so that its check finds them. */
	verifyCards(cards: Iterable<Uint8Array>): Promise<void> {
		return this.#cards.verify(cards);
	}

	get evaluation(): SpaceEvaluation | undefined {
		return this.#validator?.last;
	}

	async evaluate(
		all: ReadonlyMap<string, OpenedEntry>,
		fresh: OpenedEntry[],
		doc: A.Doc<SpaceDoc>
	): Promise<ValidationResult<SpaceDoc>> {
		if (!this.#validator)
			return {
				doc,
				invalid: new Map(),
				waiting: new Map(fresh.map((e) => [e.id, 'no genesis yet'])),
				recomputed: false
			};
		const result = await this.#validator.evaluate(all, fresh, doc);
		return {
			doc: result.doc,
			invalid: result.invalid,
			waiting: result.waiting,
			recomputed: result.recomputed
		};
	}

	checkLocal(entry: Pick<OpenedEntry, 'header' | 'decoded'>, before: A.Doc<SpaceDoc>): Verdict {
		if (!this.#validator) return notYet('no genesis yet');
		return this.#validator.checkLocal(entry.header, entry.decoded, before);
	}

	recordLocal(entry: OpenedEntry, doc: A.Doc<SpaceDoc>): void {
		this.#validator?.recordLocal(entry, doc, this.self());
	}
}

/** Channels and app-declared document types: a rule table, checked at each entry's space context. */
export class RuleDocumentValidator<T> implements ReplicaValidator<T> {
	readonly #validator: ChannelValidator<T>;

	constructor(
		channel: ChannelId | undefined,
		private readonly rules: RuleSet<T>,
		private readonly root: Uint8Array,
		private readonly space: () => SpaceEvaluation | undefined,
		validator?: ChannelValidator<T>
	) {
		this.#validator = validator ?? new ChannelValidator<T>(channel, rules, root, space);
	}

	successor(): RuleDocumentValidator<T> {
		const next = this.#validator.successor();
		return new RuleDocumentValidator<T>(next.channel, this.rules, this.root, this.space, next);
	}

	async evaluate(_all: ReadonlyMap<string, OpenedEntry>, fresh: OpenedEntry[], doc: A.Doc<T>) {
		const decision = this.#validator.evaluate(fresh, doc);
		return {
			doc: decision.doc,
			invalid: decision.invalid,
			waiting: decision.waiting,
			recomputed: false,
			rebuild: decision.rebuild
		};
	}

	checkLocal(
		entry: Pick<OpenedEntry, 'header' | 'decoded' | 'context'>,
		before: A.Doc<T>,
		whole?: A.Doc<T>
	): Verdict {
		return this.#validator.checkLocal(entry, before, whole);
	}

	recordLocal(entry: OpenedEntry): void {
		this.#validator.recordLocal(entry);
	}
}

export const channelValidator = (channel: ChannelId, space: () => SpaceEvaluation | undefined) =>
	new RuleDocumentValidator<ChannelDoc>(channel, channelRules, CHANNEL_DOC_ROOT, space);
