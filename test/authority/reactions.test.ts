/**
 * Story: in Ada's book club people react to messages.
 * - Ben and Cy react 👍 to Ada's message, Ben also 🎉: everyone sees two 👍 (Ben's and Cy's) and one
 *   🎉, in the order they were first used; Ben takes his 👍 back.
 * - Cy cannot take Ben's reaction away — not through the app, and not with a change he writes himself
 *   past the app — nor react in Ben's name, nor with a reaction past MAX_REACTION; Ada, the owner
 *   (MANAGE_MESSAGES), removes Cy's.
 * - Ada denies ADD_REACTIONS to Ben in #general (a channel overwrite): his app refuses to react, and a
 *   reaction he forges is refused by every peer.
 * - Ben reacts while, concurrently, Ada denies him ADD_REACTIONS: his reaction is invalid on every
 *   peer, in every delivery order (a fresh device of Ada's reads the same as everyone).
 */
import { describe, expect, it } from 'vitest';
import { MAX_REACTION, type Channel } from '../../src/lib/index.js';
import { forge } from '../support/hostile.js';
import {
	inEveryDeliveryOrder,
	shutdown,
	syncAll,
	userOf,
	bookClub as setupBookClub
} from '../support/personas.js';

type ChannelDocShape = { buckets: Record<string, Record<string, Record<string, unknown>>> };

const bookClub = async () => {
	const club = await setupBookClub('Chapter 3 tonight?');
	return { ...club, first: club.first! };
};

/** What a member sees of one message's reactions: emoji → users, in order. */
const reactionsOf = (channel: Channel, id: string) =>
	(channel.messages.find((m) => m.id === id)?.reactions ?? []).map((r) => ({
		emoji: r.emoji,
		count: r.count,
		users: [...r.users]
	}));

const bucketOf = (channel: Channel, id: string) =>
	Object.entries(
		(channel as unknown as { replica: { doc: ChannelDocShape } }).replica.doc.buckets
	).find(([, b]) => b[id])![0];

describe('reactions', () => {
	it('✓ members react and take their own reaction back; everyone sees counts and who reacted', async () => {
		const { cast, people, space, first, general } = await bookClub();
		try {
			await general(cast.ben).react(first.id, '👍');
			await general(cast.cy).react(first.id, '👍');
			await general(cast.ben).react(first.id, '🎉');
			// ✓ reacting twice with one emoji changes nothing
			await general(cast.ben).react(first.id, '🎉');
			await syncAll(people, space.id);
			const ben = userOf(cast.ben);
			const cy = userOf(cast.cy);
			for (const p of people) {
				// ✓ every peer: two 👍 (Ben first), one 🎉, in the order first used
				expect(reactionsOf(general(p), first.id)).toEqual([
					{ emoji: '👍', count: 2, users: [ben, cy] },
					{ emoji: '🎉', count: 1, users: [ben] }
				]);
				expect(general(p).rejections).toEqual([]);
			}
			// ✓ `mine` says which are this user's own
			const seenByCy = general(cast.cy).messages.find((m) => m.id === first.id)!.reactions!;
			expect(seenByCy.map((r) => r.mine)).toEqual([true, false]);

			await general(cast.ben).unreact(first.id, '👍');
			await syncAll(people, space.id);
			for (const p of people)
				expect(reactionsOf(general(p), first.id)).toEqual([
					{ emoji: '👍', count: 1, users: [cy] },
					{ emoji: '🎉', count: 1, users: [ben] }
				]);
		} finally {
			await shutdown(people);
		}
	});

	it("✓ only the member, or MANAGE_MESSAGES, removes a reaction; nobody reacts in another's name or past the limit", async () => {
		const { cast, people, space, first, general } = await bookClub();
		try {
			const ben = userOf(cast.ben);
			const cy = userOf(cast.cy);
			await general(cast.ben).react(first.id, '👍');
			await general(cast.cy).react(first.id, '😂');
			await syncAll(people, space.id);
			// ✓ Cy's app refuses to remove Ben's reaction, and a reaction past the limit or with a space
			await expect(general(cast.cy).unreact(first.id, '👍', ben)).rejects.toMatchObject({
				code: 'not-authorized'
			});
			await expect(
				general(cast.cy).react(first.id, 'x'.repeat(MAX_REACTION + 1))
			).rejects.toMatchObject({ code: 'invalid-argument' });
			await expect(general(cast.cy).react(first.id, 'two words')).rejects.toMatchObject({
				code: 'invalid-argument'
			});
			// Cy writes them himself, past the app, under his own genuine keys
			const bucket = bucketOf(general(cast.cy), first.id);
			const channel = general(cast.cy);
			await forge<ChannelDocShape>(
				cast.cy.client,
				cast.cy.client.space(space.id)!,
				{ channel },
				(d) => {
					delete d.buckets[bucket]![first.id]![`reaction:${ben}:👍`];
				}
			);
			await forge<ChannelDocShape>(
				cast.cy.client,
				cast.cy.client.space(space.id)!,
				{ channel },
				(d) => {
					d.buckets[bucket]![first.id]![`reaction:${ben}:👎`] = Date.now();
				}
			);
			await forge<ChannelDocShape>(
				cast.cy.client,
				cast.cy.client.space(space.id)!,
				{ channel },
				(d) => {
					d.buckets[bucket]![first.id]![`reaction:${cy}:${'x'.repeat(MAX_REACTION + 1)}`] =
						Date.now();
				}
			);
			await forge<ChannelDocShape>(
				cast.cy.client,
				cast.cy.client.space(space.id)!,
				{ channel },
				(d) => {
					d.buckets[bucket]![first.id]![`reaction:${cy}:🙃`] = 'yes';
				}
			);
			await syncAll(people, space.id);
			for (const p of people) {
				const reasons = general(p)
					.rejections.map((r) => r.reason)
					.sort();
				// ✓ every peer refuses all four and shows what was there
				expect(reasons).toEqual(
					[
						'needs MANAGE_MESSAGES',
						'a member adds only their own reactions',
						`a reaction is at most ${MAX_REACTION} characters`,
						'a reaction is a time'
					].sort()
				);
				expect(reactionsOf(general(p), first.id)).toEqual([
					{ emoji: '👍', count: 1, users: [ben] },
					{ emoji: '😂', count: 1, users: [cy] }
				]);
			}
			// ✓ Ada, the owner (MANAGE_MESSAGES), removes Cy's
			await general(cast.ada).unreact(first.id, '😂', cy);
			await syncAll(people, space.id);
			for (const p of people)
				expect(reactionsOf(general(p), first.id)).toEqual([
					{ emoji: '👍', count: 1, users: [ben] }
				]);
		} finally {
			await shutdown(people);
		}
	});

	it('✓ a member denied ADD_REACTIONS in a channel cannot react there, on any peer', async () => {
		const { cast, people, space, first, general } = await bookClub();
		try {
			const ben = userOf(cast.ben);
			const cy = userOf(cast.cy);
			await general(cast.cy).react(first.id, '👍');
			// ✓ @everyone has ADD_REACTIONS in a new space, and a channel overwrite can deny it
			expect(space.roles.find((r) => r.id === 'everyone')!.permissions).toContain('ADD_REACTIONS');
			await space.setChannelPermissions(
				space.channels[0]!.id,
				{ user: ben },
				{ deny: ['ADD_REACTIONS'] }
			);
			await syncAll(people, space.id);
			expect(cast.ben.client.space(space.id)!.can('ADD_REACTIONS', space.channels[0]!.id)).toBe(
				false
			);
			// ✓ Ben's app refuses, naming the permission
			await expect(general(cast.ben).react(first.id, '🎉')).rejects.toMatchObject({
				code: 'not-authorized',
				message: expect.stringMatching(/ADD_REACTIONS/)
			});
			// ✓ he forges it: every peer refuses it
			const channel = general(cast.ben);
			const bucket = bucketOf(channel, first.id);
			await forge<ChannelDocShape>(
				cast.ben.client,
				cast.ben.client.space(space.id)!,
				{ channel },
				(d) => {
					d.buckets[bucket]![first.id]![`reaction:${ben}:🎉`] = Date.now();
				}
			);
			await syncAll(people, space.id);
			for (const p of people) {
				expect(general(p).rejections.map((r) => r.reason)).toEqual(['needs ADD_REACTIONS']);
				expect(reactionsOf(general(p), first.id)).toEqual([{ emoji: '👍', count: 1, users: [cy] }]);
			}
		} finally {
			await shutdown(people);
		}
	});
});

describe('reactions and a concurrent loss of ADD_REACTIONS', () => {
	it('✓ property: a reaction written concurrently with the overwrite that denies it is invalid on every peer, in every delivery order', async () => {
		const { cast, people, space, first, general, phrase } = await bookClub();
		try {
			const ben = userOf(cast.ben);
			const cy = userOf(cast.cy);
			// offline from each other: Ada denies Ben ADD_REACTIONS, while Ben and Cy react
			await space.setChannelPermissions(
				space.channels[0]!.id,
				{ user: ben },
				{
					deny: ['ADD_REACTIONS']
				}
			);
			await general(cast.ben).react(first.id, '👍');
			await general(cast.cy).react(first.id, '👍');
			await syncAll(people, space.id);
			const picture = (channel: Channel) => reactionsOf(channel, first.id);
			for (const p of people) {
				// ✓ Ben's reaction is refused everywhere (his own device too), Cy's stands
				expect(picture(general(p))).toEqual([{ emoji: '👍', count: 1, users: [cy] }]);
				expect(general(p).rejections.map((r) => r.reason)).toEqual([
					'written after its author lost that right'
				]);
			}
			// ✓ a fresh device of Ada's: the same as every peer's, whatever the delivery order
			await inEveryDeliveryOrder(people, phrase, space.id, (seen) => {
				expect(picture(seen)).toEqual([{ emoji: '👍', count: 1, users: [cy] }]);
			});
		} finally {
			await shutdown(people);
		}
	});
});
