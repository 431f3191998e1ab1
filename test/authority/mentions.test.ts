/**
 * Story: in Ada's book club people mention each other.
 * - Ben mentions Cy: every peer stores whom the message mentions, and it mentions Cy — not Ada, and
 *   never its own author.
 * - @everyone, @here and role mentions need MENTION_EVERYONE: Ben's app refuses them, and the ones he
 *   writes himself past the app are refused by every peer; Ada (the owner) mentions @everyone; once
 *   Ada gives Ben a role with MENTION_EVERYONE he mentions the @readers role, which mentions Cy.
 * - Past the app: mentions added to a message after it was sent, a mention that is no user, role,
 *   everyone or here, and more than MAX_MENTIONS in one message are refused by every peer.
 * - Ben mentions @everyone while, concurrently, Ada denies him MENTION_EVERYONE in the channel: his
 *   message is refused on every peer, in every delivery order.
 */
import { describe, expect, it } from 'vitest';
import * as A from '@automerge/automerge';
import { MAX_MENTIONS } from '../../src/lib/authority/limits.js';
import type { Channel, Space } from '../../src/lib/index.js';
import { forge } from '../support/hostile.js';
import {
	inEveryDeliveryOrder,
	shutdown,
	syncAll,
	userOf,
	type Persona,
	bookClub as setupBookClub
} from '../support/personas.js';

type ChannelDocShape = { buckets: Record<string, Record<string, Record<string, unknown>>> };

const bookClub = () => setupBookClub();

const byText = (channel: Channel, text: string) => channel.messages.find((m) => m.text === text);

/** A message forged by `p` past the app: author = p, with the given extra fields. */
function forgeMessage(p: Persona, space: Space, id: string, fields: Record<string, unknown>) {
	const channel = p.client.space(space.id)!.channels[0]!;
	return forge<ChannelDocShape>(p.client, p.client.space(space.id)!, { channel }, (d) => {
		d.buckets[`forged-${id}`] = {
			[id]: {
				author: new A.ImmutableString(userOf(p)),
				text: new A.ImmutableString(id),
				createdAt: Date.now(),
				...fields
			}
		};
	});
}

describe('mentions', () => {
	it('✓ a member mentions another: stored with the message on every peer, and it mentions them only', async () => {
		const { cast, people, space, general } = await bookClub();
		try {
			const cy = userOf(cast.cy);
			const sent = await general(cast.ben).send('@Cy have you read it?', {
				mentions: { users: [cy] }
			});
			expect(sent.mentions).toEqual({ users: [cy], roles: [], everyone: false, here: false });
			await syncAll(people, space.id);
			for (const p of people) {
				const seen = byText(general(p), '@Cy have you read it?')!;
				// ✓ every peer: the message mentions Cy
				expect(seen.mentions).toEqual({ users: [cy], roles: [], everyone: false, here: false });
				expect(general(p).rejections).toEqual([]);
			}
			// ✓ it mentions Cy, not Ada; a message without mentions mentions nobody
			const seen = (p: Persona) => byText(general(p), '@Cy have you read it?')!;
			expect(general(cast.cy).mentionsMe(seen(cast.cy))).toBe(true);
			expect(general(cast.ada).mentionsMe(seen(cast.ada))).toBe(false);
			// ✓ one's own message never mentions oneself, even with @everyone
			const own = await space.channels[0]!.send('@everyone and me', {
				mentions: { everyone: true }
			});
			expect(space.channels[0]!.mentionsMe(own)).toBe(false);
		} finally {
			await shutdown(people);
		}
	});

	it('✓ @everyone, @here and roles need MENTION_EVERYONE: refused at the API and by every peer; granted by a role, they mention who they should', async () => {
		const { cast, people, space, on, general } = await bookClub();
		try {
			const readers = await space.createRole({ name: 'readers' });
			await space.assignRole(userOf(cast.cy), readers.id);
			await syncAll(people, space.id);
			// ✓ Ben's app refuses each, naming the permission, and writes nothing
			for (const mentions of [{ everyone: true }, { here: true }, { roles: [readers.id] }])
				await expect(general(cast.ben).send('hey all', { mentions })).rejects.toMatchObject({
					code: 'not-authorized',
					message: expect.stringMatching(/MENTION_EVERYONE/)
				});
			// he writes them himself: every peer refuses all three
			await forgeMessage(cast.ben, space, 'everyone', { mentions: { everyone: true } });
			await forgeMessage(cast.ben, space, 'here', { mentions: { here: true } });
			await forgeMessage(cast.ben, space, 'role', { mentions: { [`role:${readers.id}`]: true } });
			await syncAll(people, space.id);
			for (const p of people) {
				expect(general(p).rejections.map((r) => r.reason)).toEqual([
					'needs MENTION_EVERYONE',
					'needs MENTION_EVERYONE',
					'needs MENTION_EVERYONE'
				]);
				expect(general(p).messages).toEqual([]);
			}
			// ✓ the owner mentions @everyone: it mentions Ben and Cy
			await space.channels[0]!.send('Meeting tonight', { mentions: { everyone: true } });
			// ✓ given MENTION_EVERYONE by a role, Ben mentions @readers: it mentions Cy, not Ada
			const announcers = await space.createRole({
				name: 'announcers',
				permissions: ['MENTION_EVERYONE']
			});
			await space.assignRole(userOf(cast.ben), announcers.id);
			await syncAll(people, space.id);
			expect(on(cast.ben).can('MENTION_EVERYONE', space.channels[0]!.id)).toBe(true);
			await general(cast.ben).send('@readers chapter 4!', { mentions: { roles: [readers.id] } });
			await syncAll(people, space.id);
			const meeting = (p: Persona) => byText(general(p), 'Meeting tonight')!;
			const toReaders = (p: Persona) => byText(general(p), '@readers chapter 4!')!;
			expect(general(cast.ben).mentionsMe(meeting(cast.ben))).toBe(true);
			expect(general(cast.cy).mentionsMe(meeting(cast.cy))).toBe(true);
			expect(general(cast.cy).mentionsMe(toReaders(cast.cy))).toBe(true);
			expect(general(cast.ada).mentionsMe(toReaders(cast.ada))).toBe(false);
			for (const p of people) expect(general(p).rejections).toHaveLength(3);
		} finally {
			await shutdown(people);
		}
	});

	it('✓ past the app: mentions added later, a malformed mention and too many are refused by every peer', async () => {
		const { cast, people, space, general } = await bookClub();
		try {
			const ada = userOf(cast.ada);
			const plain = await general(cast.ben).send('no mentions here');
			await syncAll(people, space.id);
			const channel = general(cast.ben);
			const bucket = Object.entries(
				(channel as unknown as { replica: { doc: ChannelDocShape } }).replica.doc.buckets
			).find(([, b]) => b[plain.id])![0];
			await forge<ChannelDocShape>(
				cast.ben.client,
				cast.ben.client.space(space.id)!,
				{ channel },
				(d) => {
					d.buckets[bucket]![plain.id]!.mentions = { [`user:${ada}`]: true };
				}
			);
			await forgeMessage(cast.ben, space, 'malformed', { mentions: { somebody: true } });
			const many = Object.fromEntries(
				Array.from({ length: MAX_MENTIONS + 1 }, (_, i) => [`user:user_${i}`, true])
			);
			await forgeMessage(cast.ben, space, 'many', { mentions: many });
			// exactly at the limit is fine
			await forgeMessage(cast.ben, space, 'fifty', {
				mentions: Object.fromEntries(
					Array.from({ length: MAX_MENTIONS }, (_, i) => [`user:user_${i}`, true])
				)
			});
			await syncAll(people, space.id);
			for (const p of people) {
				expect(
					general(p)
						.rejections.map((r) => r.reason)
						.sort()
				).toEqual(
					[
						'set only when the message is created',
						'a mention is user:<id>, role:<id>, everyone or here',
						`a message mentions at most ${MAX_MENTIONS}`
					].sort()
				);
				expect(
					general(p)
						.messages.map((m) => m.text)
						.sort()
				).toEqual(['fifty', 'no mentions here'].sort());
				expect(byText(general(p), 'no mentions here')!.mentions).toBeUndefined();
			}
		} finally {
			await shutdown(people);
		}
	});
});

describe('mentions and a concurrent loss of MENTION_EVERYONE', () => {
	it('✓ property: an @everyone written concurrently with the overwrite that denies it is refused on every peer, in every delivery order', async () => {
		const { cast, people, space, general, phrase } = await bookClub();
		try {
			const ben = userOf(cast.ben);
			const announcers = await space.createRole({
				name: 'announcers',
				permissions: ['MENTION_EVERYONE']
			});
			await space.assignRole(ben, announcers.id);
			await syncAll(people, space.id);
			// offline from each other: Ada denies Ben MENTION_EVERYONE here, while Ben pings everyone
			await space.setChannelPermissions(
				space.channels[0]!.id,
				{ user: ben },
				{
					deny: ['MENTION_EVERYONE']
				}
			);
			await general(cast.ben).send('@everyone look!', { mentions: { everyone: true } });
			await general(cast.cy).send('just chatting');
			await syncAll(people, space.id);
			const picture = (channel: Channel) =>
				channel.messages.map((m) => `${m.text}${m.mentions?.everyone ? ' [everyone]' : ''}`);
			const expected = picture(general(cast.ada));
			// ✓ refused everywhere, Ben's own device too; Cy's message stands
			expect(expected).not.toContain('@everyone look! [everyone]');
			expect(expected).toContain('just chatting');
			for (const p of people) expect(picture(general(p))).toEqual(expected);
			// ✓ a fresh device of Ada's: the same as every peer's, whatever the delivery order
			await inEveryDeliveryOrder(people, phrase, space.id, (seen) => {
				expect(picture(seen)).toEqual(expected);
			});
		} finally {
			await shutdown(people);
		}
	});
});
