/**
 * A member tries to freeze a channel (or the space) with nothing but her own genuine device keys:
 * two entries, both correctly signed, carrying two different Automerge changes with the same
 * (actor, seq) under the actor her device must use. Before the fix both passed the rules, Automerge
 * threw "duplicate seq" when applying them, both stayed pending and every later batch that met them
 * threw again: members stopped receiving each other and a newcomer read nothing.
 *
 * Now an equivocation is decided (protocol.md §7.3): a version stands only if another device built
 * on it (the smallest such hash if several were), so two versions sent at once both fall, and a
 * second version of a change others already replied to falls alone. Hand-crafted changes that
 * Automerge would refuse (a gap in the seqs, an op superseding no known op) wait or are refused,
 * one entry at a time. In every case the owner and the members keep writing and a newcomer reads
 * the same valid history, whatever order the entries reach them in.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import type { Channel, Space, SpaceId } from '../../src/lib/index.js';
import { atom, type ChannelDoc, type SpaceDoc } from '../../src/lib/authority/schema.js';
import { forge } from '../support/hostile.js';
import {
	deliver,
	personas,
	picture,
	shutdown,
	syncAll,
	userOf,
	type Persona
} from '../support/personas.js';
import { randomBytes } from '../../src/lib/util/bytes.js';

let cleanup: Persona[] = [];
afterEach(async () => {
	await shutdown(cleanup);
	cleanup = [];
});

async function setup() {
	const cast = await personas('owner', 'bob', 'mallory', 'carol');
	cleanup = Object.values(cast);
	const space = await cast.owner.client.createSpace({ name: 'Reading room' });
	for (const p of [cast.bob, cast.mallory]) await space.addMember(await p.client.memberCard());
	const honest = [cast.owner, cast.bob, cast.mallory];
	await syncAll(honest, space.id);
	await space.channels[0]!.send('welcome');
	await syncAll(honest, space.id);
	return { cast, space, id: space.id, people: honest };
}

const spaceOf = (p: Persona, id: SpaceId): Space => p.client.space(id)!;
const general = (p: Persona, id: SpaceId): Channel => spaceOf(p, id).channels[0]!;
const texts = (p: Persona, id: SpaceId) => general(p, id).messages.map((m) => m.text);
const channelDoc = (c: Channel) =>
	(c as unknown as { replica: { doc: A.Doc<ChannelDoc> } }).replica.doc;

/** Mallory's message `text` under message id `id`, as a change made on `from`. */
const mallorySays = (user: string, id: string, text: string) => (d: ChannelDoc) => {
	d.buckets['m.0'] ??= {};
	d.buckets['m.0']![id] = { author: atom(user), text: new A.ImmutableString(text), createdAt: 1 };
};

/** Mallory writes one change, in two versions, under one actor and seq of her own device. */
async function equivocate(
	{ cast, id }: { cast: Record<string, Persona>; id: SpaceId },
	from: A.Doc<ChannelDoc>,
	session: Uint8Array,
	version: 'one' | 'two'
) {
	const mallory = cast.mallory!;
	await forge<ChannelDoc>(
		mallory.client,
		spaceOf(mallory, id),
		{ channel: general(mallory, id), session, from },
		mallorySays(userOf(mallory), `m.${version}`, `version ${version}`)
	);
}

/** Everyone keeps writing; a newcomer, fed in reverse order, reads the same as everyone. */
async function channelStaysUsable(
	{ cast, space, id, people }: Awaited<ReturnType<typeof setup>>,
	expected: string[]
) {
	await general(cast.owner, id).send('owner after');
	await general(cast.bob, id).send('bob after');
	await syncAll(people, id);
	const want = [...expected, 'owner after', 'bob after'].sort();
	for (const p of people) {
		// ✓ each member reads every valid message, and no version that does not stand
		expect([...texts(p, id)].sort()).toEqual(want);
	}
	await space.addMember(await cast.carol.client.memberCard());
	await syncAll(people, id);
	await deliver(cast.owner, cast.carol, id, { shuffle: (n) => [...Array(n).keys()].reverse() });
	// ✓ the newcomer, given the entries in reverse order, reads the same history
	expect([...texts(cast.carol, id)].sort()).toEqual(want);
	expect(picture(spaceOf(cast.carol, id)).messages).toEqual(
		picture(spaceOf(cast.owner, id)).messages
	);
	await general(cast.carol, id).send('carol joins in');
	await syncAll([...people, cast.carol], id);
	// ✓ and writes, and is read
	expect(texts(cast.owner, id)).toContain('carol joins in');
	// ✓ the owner can still change the space and ban the equivocator
	await space.rename('Reading room, still');
	await space.ban(userOf(cast.mallory));
	await syncAll([...people, cast.carol], id);
	expect(spaceOf(cast.bob, id).bans.map((b) => b.user)).toEqual([userOf(cast.mallory)]);
	expect(spaceOf(cast.carol, id).name).toBe('Reading room, still');
}

const equivocations = (p: Persona, id: SpaceId) =>
	general(p, id).rejections.filter((r) => r.reason === 'equivocation').length;

describe('a member equivocating with her own device keys', () => {
	it('✓ two versions sent at once: both are invalid everywhere, the channel keeps flowing', async () => {
		const cast = await setup();
		const { id } = cast;
		const base = channelDoc(general(cast.cast.mallory, id));
		const session = randomBytes(8);
		await equivocate(cast, base, session, 'one');
		await equivocate(cast, base, session, 'two');
		await syncAll(cast.people, id);
		await channelStaysUsable(cast, ['welcome']);
		// ✓ the owner and Bob both decided the pair: both invalid, for equivocation
		for (const p of [cast.cast.owner, cast.cast.bob]) expect(equivocations(p, id)).toBe(2);
	});

	it('✓ a second version of a message others replied to: only the second is invalid', async () => {
		const cast = await setup();
		const { id } = cast;
		const base = channelDoc(general(cast.cast.mallory, id));
		const session = randomBytes(8);
		await equivocate(cast, base, session, 'one');
		await syncAll(cast.people, id);
		await general(cast.cast.bob, id).send('bob replies to version one');
		await syncAll(cast.people, id);
		await equivocate(cast, base, session, 'two');
		await syncAll(cast.people, id);
		await channelStaysUsable(cast, ['welcome', 'version one', 'bob replies to version one']);
		// ✓ the version Bob built on stands; the late one is refused
		for (const p of [cast.cast.owner, cast.cast.bob]) expect(equivocations(p, id)).toBe(1);
	});

	it('✓ a second version of a message nobody built on: both fall, the applied one is taken back', async () => {
		const cast = await setup();
		const { id } = cast;
		const base = channelDoc(general(cast.cast.mallory, id));
		const session = randomBytes(8);
		await equivocate(cast, base, session, 'one');
		await syncAll(cast.people, id);
		// ✓ version one was read by everyone
		expect(texts(cast.cast.owner, id)).toContain('version one');
		await equivocate(cast, base, session, 'two');
		await syncAll(cast.people, id);
		for (const p of cast.people) await general(p, id).settled();
		// ✓ what a newcomer given both would decide: neither stands (the channel was rebuilt)
		expect(texts(cast.cast.owner, id)).not.toContain('version one');
		expect(texts(cast.cast.bob, id)).not.toContain('version one');
		await channelStaysUsable(cast, ['welcome']);
	});

	it('✓ changes Automerge would refuse (a seq gap, superseding an unknown op) never poison later batches', async () => {
		const cast = await setup();
		const { id } = cast;
		const mallory = cast.cast.mallory;
		await forge<ChannelDoc>(
			mallory.client,
			spaceOf(mallory, id),
			{ channel: general(mallory, id), craft: () => ({ seq: 3 }) },
			mallorySays(userOf(mallory), 'm.gap', 'a seq gap')
		);
		await forge<ChannelDoc>(
			mallory.client,
			spaceOf(mallory, id),
			{
				channel: general(mallory, id),
				craft: (c) => ({ ops: c.ops.map((op) => ({ ...op, pred: [`99@${'ab'.repeat(16)}`] })) })
			},
			mallorySays(userOf(mallory), 'm.pred', 'superseding nothing')
		);
		await syncAll(cast.people, id);
		await channelStaysUsable(cast, ['welcome']);
	});
});

describe('a member equivocating in the space document', () => {
	it('✓ two versions of one space change: both invalid, the owner keeps changing the space', async () => {
		const cast = await setup();
		const { id, space } = cast;
		const mallory = cast.cast.mallory;
		const theirs = spaceOf(mallory, id);
		const base = theirs.document;
		const session = randomBytes(8);
		for (const nickname of ['Mal', 'Lory'])
			await forge<SpaceDoc>(mallory.client, theirs, { session, from: base }, (d) => {
				(d.members[userOf(mallory)] as unknown as { nickname: unknown }).nickname = atom(nickname);
			});
		await syncAll(cast.people, id);
		// ✓ neither nickname stands anywhere, and both are refused for equivocation
		for (const p of [cast.cast.owner, cast.cast.bob]) {
			const me = spaceOf(p, id).members.find((m) => m.user === userOf(mallory));
			expect(me?.nickname ?? '').toBe('');
			expect(spaceOf(p, id).rejections.filter((r) => r.reason === 'equivocation')).toHaveLength(2);
		}
		await space.rename('Renamed after');
		await syncAll(cast.people, id);
		expect(spaceOf(cast.cast.bob, id).name).toBe('Renamed after');
		await channelStaysUsable(cast, ['welcome']);
	});
});
