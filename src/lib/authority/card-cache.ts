/**
 * Member cards, verified. Rules are synchronous; signature checks are not. So a validator verifies
 * the cards its entries carry before it runs the rules, and hands the rules what it verified — a
 * `VerifiedCards` — in their context (`RuleContext.cards`). A card's verdict (the user whose identity
 * key signed it and every certificate on it, or none) is a function of the card's bytes alone, and a
 * validator's `VerifiedCards` only ever gains verdicts, never drops one: whatever else the process
 * verified first, a decision reads the same verdicts, so validity stays a function of the entries.
 *
 * A `CardCache` shared by the validators of one client (an explicit object, made once per client and
 * passed down) saves verifying a card twice — the same member in two spaces, a space opened again.
 * It is an optimisation only: it may evict anything, and a miss costs one more verification, never a
 * different verdict, because no decision reads it.
 */
import type { UserId } from '../identity/ids.js';
import { verifyUserCard } from '../identity/certificates.js';
import { hash } from '../crypto/primitives.js';
import { hex } from '../util/bytes.js';

/** A card's verdict: the user it verifies for, or `false` (bad signature, not a card). */
type CardVerdict = UserId | false;

/** What a rule reads (`RuleContext.cards`): the cards verified for the decision it is part of. */
export interface CardVerdicts {
	/** The user this card verifies for, if it was verified for this decision and does. */
	userOf(card: Uint8Array): UserId | undefined;
	/** Does this card verify, for this decision, as a card of `user`? */
	isCardOf(card: Uint8Array, user: string): boolean;
}

/** Cards are keyed by their SHA-256 (64 hex characters), not by their bytes (hundreds). */
const keyOf = (card: Uint8Array) => hex.encode(hash(card));

async function verdictOf(card: Uint8Array): Promise<CardVerdict> {
	try {
		return (await verifyUserCard(card)).user;
	} catch {
		return false;
	}
}

/**
 * Verdicts shared across the validators of one client, least recently used evicted first.
 * 10,000 cards is more than the members of every space a client has open at once in the uses
 * Charter aims at (a Discord user's servers), at about 150 bytes per verdict: ~1.5 MB at most.
 */
export const CARD_CACHE_CAPACITY = 10_000;

export class CardCache {
	readonly capacity: number;
	/** Insertion order is recency order: a hit moves its key to the end. */
	readonly #verdicts = new Map<string, Promise<CardVerdict>>();

	constructor(options: { capacity?: number } = {}) {
		this.capacity = options.capacity ?? CARD_CACHE_CAPACITY;
		if (!Number.isInteger(this.capacity) || this.capacity < 0)
			throw new RangeError('card cache capacity must be a non-negative integer');
	}

	get size(): number {
		return this.#verdicts.size;
	}

	/** The verdict on one card: from the cache, or verified now (and kept, evicting the oldest). */
	verdict(card: Uint8Array): Promise<CardVerdict> {
		const key = keyOf(card);
		let verdict = this.#verdicts.get(key);
		if (verdict) this.#verdicts.delete(key);
		else verdict = verdictOf(card);
		// (an in-flight promise is cached too: two validators asking at once verify the card once)
		if (this.capacity > 0) this.#verdicts.set(key, verdict);
		while (this.#verdicts.size > this.capacity)
			this.#verdicts.delete(this.#verdicts.keys().next().value!);
		return verdict;
	}
}

/**
 * The cards one validator has verified, card → user, read synchronously by the rules. It grows with
 * the cards of the entries it decides (and of the local changes about to carry one), which that
 * validator holds anyway, and is garbage with it; it never evicts, so no decision misses a card it
 * verified for that decision. A card it never verified is reported as not verifying.
 */
export class VerifiedCards implements CardVerdicts {
	readonly #verdicts = new Map<string, CardVerdict>();

	/** `cache`: the client's shared cache, consulted before verifying (an optimisation only). */
	constructor(private readonly cache?: CardCache) {}

	/** Verifies the cards not verified here yet; resolves once every one of them has its verdict. */
	async verify(cards: Iterable<Uint8Array>): Promise<void> {
		const pending: Promise<void>[] = [];
		const asked = new Set<string>();
		for (const card of cards) {
			const key = keyOf(card);
			if (this.#verdicts.has(key) || asked.has(key)) continue;
			asked.add(key);
			const verdict = this.cache ? this.cache.verdict(card) : verdictOf(card);
			pending.push(verdict.then((v) => void this.#verdicts.set(key, v)));
		}
		await Promise.all(pending);
	}

	userOf(card: Uint8Array): UserId | undefined {
		return this.#verdicts.get(keyOf(card)) || undefined;
	}

	isCardOf(card: Uint8Array, user: string): boolean {
		return this.userOf(card) === user;
	}

	get size(): number {
		return this.#verdicts.size;
	}
}

/** For documents whose rules read no card (channels, app documents): nothing verified. */
export const NO_CARDS: CardVerdicts = {
	userOf: () => undefined,
	isCardOf: () => false
};
