/**
 * Property: which members of a space are valid is a function of its entries alone — never of what
 * else the process verified first. Rules read member cards synchronously, from the cards their
 * validator verified (authority/card-cache.ts); a shared cache across validators is only an
 * optimisation. Here a hostile peer floods the client's shared card cache with the cards of another
 * space (genuine cards and junk), before, between and during the deliveries of a space whose owner
 * admits Bob and into which Carol joins with an invite; the outcome must equal validating that space
 * alone.
 *
 * The shared cache is built with a capacity from 0 to 8 (its real default is 10,000) so that a few
 * cards exceed it — even the guild's own three: the old module-level cache emptied itself after
 * inserting a batch that took it past 50,000 cards, losing that batch's own cards, and this small
 * capacity stands in for that threshold. (Run against that old behaviour with this capacity, the
 * property fails within a few runs: the join or the admission is refused.)
 *
 * The validators are driven directly, as the replica drives them: with opened entries (signature
 * checked and decrypted by the sync layer, sync/replica.ts), the set so far and the fresh ones. Every
 * card is genuine (identity-signed, with its device certificates) or junk that fails to verify.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as A from '@automerge/automerge';
import { actorFor } from '../../src/lib/authority/actors.js';
import { CardCache, VerifiedCards } from '../../src/lib/authority/card-cache.js';
import { createGenesis, type Genesis } from '../../src/lib/authority/genesis.js';
import { inviteKeys, newInviteSecret, signInviteProof } from '../../src/lib/authority/invites.js';
import type { OpenedEntry } from '../../src/lib/authority/opened-entry.js';
import { atom, SPACE_DOC_ROOT, type SpaceDoc } from '../../src/lib/authority/schema.js';
import { SpaceValidator } from '../../src/lib/authority/space-validator.js';
import { hash } from '../../src/lib/crypto/primitives.js';
import type { EntryHeader } from '../../src/lib/encryption/entry.js';
import { issueUserCard, type UserCard } from '../../src/lib/identity/certificates.js';
import { Identity } from '../../src/lib/identity/identity.js';
import type { UserId } from '../../src/lib/identity/ids.js';
import { MemorySecretStore } from '../../src/lib/identity/secret-store.js';
import { hex, randomBytes } from '../../src/lib/util/bytes.js';

/** Stands in for the old 50,000-card threshold (see the header). */
const SMALL_CAPACITY = 8;

interface Writer {
	identity: Identity;
	session: Uint8Array;
	actor: string;
	seq: number;
}

async function writer(name: string): Promise<Writer> {
	const { identity } = await Identity.create(new MemorySecretStore(), name);
	const session = randomBytes(8);
	return { identity, session, actor: actorFor(identity.deviceKey, session), seq: 0 };
}

/** One entry of `by`, made on `doc` (the writer's view), as the replica hands it to a validator. */
function entry(
	by: Writer,
	genesis: Genesis,
	doc: A.Doc<SpaceDoc>,
	fn: A.ChangeFn<SpaceDoc>
): { entry: OpenedEntry; doc: A.Doc<SpaceDoc> } {
	const after = A.change(A.clone(doc, { actor: by.actor }), fn);
	const change = A.getLastLocalChange(after)!;
	const header: EntryHeader = {
		space: genesis.spaceBytes,
		document: genesis.spaceBytes,
		epoch: new Uint8Array(16),
		author: by.identity.deviceKey,
		session: by.session,
		seq: ++by.seq,
		prev: new Uint8Array(32),
		nonce: new Uint8Array(24)
	};
	const opened: OpenedEntry = {
		id: hex.encode(hash(change)),
		header,
		changes: [change],
		decoded: [A.decodeChange(change)],
		context: []
	};
	return { entry: opened, doc: after };
}

const founding = (owner: Writer, card: UserCard, genesis: Genesis) => (d: SpaceDoc) => {
	d.name = 'Guild';
	d.createdAt = genesis.createdAt;
	d.members[owner.identity.userId] = {
		card: card.bytes,
		addedAt: genesis.createdAt,
		addedBy: atom(owner.identity.userId),
		roles: {}
	};
};

interface Cast {
	owner: Writer;
	bob: Writer;
	carol: Writer;
	mallory: Writer;
	/** The space under test: the owner founds it, admits Bob, makes an invite; Carol joins with it. */
	guild: { genesis: Genesis; entries: OpenedEntry[] };
	/** Another space (Mallory's) whose entries carry the cards that flood the cache. */
	other: { genesis: Genesis; founding: OpenedEntry; doc: A.Doc<SpaceDoc> };
	/** Genuine cards of Mallory (one per issue time) and junk that only looks like a card. */
	genuine: Uint8Array[];
}

let cast: Cast;

beforeAll(async () => {
	const [owner, bob, carol, mallory] = await Promise.all(
		['owner', 'bob', 'carol', 'mallory'].map((n) => writer(n))
	);
	const root = A.load<SpaceDoc>(SPACE_DOC_ROOT);
	const genesisOf = (w: Writer) =>
		createGenesis(w.identity.userKey, (m) => w.identity.signAsIdentity(m), w.identity.certificate);

	const genesis = await genesisOf(owner!);
	const [ownerCard, bobCard, carolCard] = await Promise.all(
		[owner!, bob!, carol!].map((w) => w.identity.card())
	);
	const invite = inviteKeys(newInviteSecret());
	const entries: OpenedEntry[] = [];
	let doc = root;
	const add = (by: Writer, fn: A.ChangeFn<SpaceDoc>) => {
		const made = entry(by, genesis, doc, fn);
		entries.push(made.entry);
		doc = made.doc;
	};
	add(owner!, founding(owner!, ownerCard!, genesis));
	add(owner!, (d) => {
		d.members[bob!.identity.userId] = {
			card: bobCard!.bytes,
			addedAt: Date.now(),
			addedBy: atom(owner!.identity.userId),
			roles: {}
		};
	});
	add(owner!, (d) => {
		d.invites[invite.id] = {
			key: invite.signingKey,
			encryptionKey: invite.encryptionKey,
			roles: {},
			maxUses: 0,
			expiresAt: 0,
			createdBy: atom(owner!.identity.userId),
			createdAt: Date.now(),
			uses: {}
		};
	});
	const me = carol!.identity.userId;
	add(carol!, (d) => {
		d.members[me] = {
			card: carolCard!.bytes,
			addedAt: Date.now(),
			addedBy: atom(me),
			roles: {},
			invite: {
				id: atom(invite.id),
				proof: signInviteProof(invite, genesis.spaceBytes, carol!.identity.userKey)
			}
		};
		d.invites[invite.id]!.uses[me] = true;
	});

	const otherGenesis = await genesisOf(mallory!);
	const malloryCard = await mallory!.identity.card();
	const other = entry(mallory!, otherGenesis, root, founding(mallory!, malloryCard, otherGenesis));
	const genuine: Uint8Array[] = [];
	for (let i = 0; i < 3 * SMALL_CAPACITY; i++)
		genuine.push(
			(
				await issueUserCard(
					mallory!.identity.userKey,
					(m) => mallory!.identity.signAsIdentity(m),
					malloryCard.encryptionKey,
					malloryCard.encryptionGeneration,
					[mallory!.identity.certificate],
					malloryCard.issuedAt + 1 + i
				)
			).bytes
		);
	cast = {
		owner: owner!,
		bob: bob!,
		carol: carol!,
		mallory: mallory!,
		guild: { genesis, entries },
		other: { genesis: otherGenesis, founding: other.entry, doc: other.doc },
		genuine
	};
}, 60_000);

/** Bytes that start like a card ('CHU') and fail to verify: what a hostile peer floods with. */
const junkCard = (i: number) => new Uint8Array([0x43, 0x48, 0x55, 1, ...randomBytes(60 + (i % 7))]);

/** A validator of one space as a replica drives it: entries arrive in batches, waiting ones retried. */
class Driven {
	readonly validator: SpaceValidator;
	readonly all = new Map<string, OpenedEntry>();
	#doc: A.Doc<SpaceDoc>;
	#waiting = new Set<string>();
	last: Awaited<ReturnType<SpaceValidator['evaluate']>> | undefined;

	constructor(genesis: Genesis, cache: CardCache) {
		const actor = hex.encode(randomBytes(16));
		this.validator = new SpaceValidator(genesis, actor, new VerifiedCards(cache));
		this.#doc = A.load<SpaceDoc>(SPACE_DOC_ROOT, { actor });
	}

	async deliver(entries: readonly OpenedEntry[]) {
		for (const e of entries) this.all.set(e.id, e);
		const fresh = [...entries, ...[...this.#waiting].map((id) => this.all.get(id)!)];
		this.last = await this.validator.evaluate(this.all, fresh, this.#doc);
		this.#doc = this.last.doc;
		this.#waiting = new Set(this.last.waiting.keys());
	}
}

/** What the space decided: its members, its valid entries and why the others are not. */
function outcome(driven: Driven) {
	const last = driven.last!;
	return {
		members: Object.keys(last.doc.members ?? {}).sort(),
		valid: last.valid.map((e) => e.id).sort(),
		invalid: [...last.invalid].sort(),
		waiting: [...last.waiting.keys()].sort()
	};
}

type Step = { kind: 'flood'; genuine: number; junk: number } | { kind: 'deliver'; count: number };

const step: fc.Arbitrary<Step> = fc.oneof(
	fc.record({
		kind: fc.constant('flood' as const),
		genuine: fc.integer({ min: 0, max: 3 * SMALL_CAPACITY }),
		junk: fc.integer({ min: 0, max: 2 * SMALL_CAPACITY })
	}),
	fc.record({ kind: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 4 }) })
);

describe('card verdicts depend on the entries alone', () => {
	it('✓ validated alone, the owner, Bob (admitted) and Carol (joined with an invite) are members', async () => {
		const alone = new Driven(cast.guild.genesis, new CardCache());
		await alone.deliver(cast.guild.entries);
		const users: UserId[] = [cast.owner, cast.bob, cast.carol].map((w) => w.identity.userId);
		expect(outcome(alone).members).toEqual([...users].sort());
		expect(outcome(alone).invalid).toEqual([]);
	});

	it('✓ whatever another space floods the shared cache with, before or between deliveries, the same members are valid', async () => {
		const alone = new Driven(cast.guild.genesis, new CardCache());
		await alone.deliver(cast.guild.entries);
		const expected = outcome(alone);

		await fc.assert(
			fc.asyncProperty(
				fc.array(step, { minLength: 1, maxLength: 8 }),
				// the order the guild's entries arrive in (indices into them)
				fc.shuffledSubarray([...cast.guild.entries.keys()], {
					minLength: cast.guild.entries.length,
					maxLength: cast.guild.entries.length
				}),
				fc.integer({ min: 0, max: SMALL_CAPACITY }),
				async (steps, arrival, capacity) => {
					const order = arrival.map((i) => cast.guild.entries[i]!);
					// one client: its shared cache, its two space validators
					const cache = new CardCache({ capacity });
					const guild = new Driven(cast.guild.genesis, cache);
					const other = new Driven(cast.other.genesis, cache);
					await other.deliver([cast.other.founding]);
					let otherDoc = cast.other.doc;
					let next = 0;
					let junk = 0;
					const deliver = (count: number) => guild.deliver(order.slice(next, (next += count)));
					for (const s of steps) {
						if (s.kind === 'deliver') {
							if (next < order.length) await deliver(s.count);
							continue;
						}
						// Mallory's batch: one entry carrying genuine cards and junk
						const cards = [
							...cast.genuine.slice(0, s.genuine),
							...Array.from({ length: s.junk }, () => junkCard(junk++))
						];
						const made = entry(cast.mallory, cast.other.genesis, otherDoc, (d) => {
							cards.forEach((card, i) => {
								d.members[`user_flood${junk}x${i}`] = {
									card,
									addedAt: 1,
									addedBy: atom(cast.mallory.identity.userId),
									roles: {}
								};
							});
						});
						otherDoc = made.doc;
						await other.deliver([made.entry]);
					}
					while (next < order.length) await deliver(1);
					expect(outcome(guild)).toEqual(expected);
					expect(cache.size).toBeLessThanOrEqual(capacity);
				}
			),
			{ numRuns: 100 }
		);
	}, 120_000);
});
