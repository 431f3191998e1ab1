/**
 * Found while building reactions and mentions (issue 16): a permission loss used to record no
 * channel cut-off — only kicks, bans and leaves did — so strong removal could not tell what the
 * member wrote before the loss from what they wrote concurrently with it, and refused their earlier
 * entries and, by the dependency cascade, every later entry of anyone written on top of them. Now
 * the change that takes the permission records its writer's channel heads (`restrict` records;
 * also test/authority/permission-loss.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { personas, shutdown, syncAll, userOf } from '../support/personas.js';

describe('a permission loss keeps what was written before it: messages and reactions', () => {
	it('✓ denying Ben SEND_MESSAGES keeps his earlier message and the messages written after it', async () => {
		const cast = await personas('ada', 'ben');
		const people = Object.values(cast);
		try {
			const space = await cast.ada.client.createSpace({ name: 'Book club' });
			await space.addMember(await cast.ben.client.memberCard());
			await syncAll(people, space.id);
			await cast.ben.client.space(space.id)!.channels[0]!.send('hello from Ben');
			await syncAll(people, space.id);
			await space.channels[0]!.send('hello back from Ada');
			await syncAll(people, space.id);
			await space.setChannelPermissions(
				space.channels[0]!.id,
				{ user: userOf(cast.ben) },
				{ deny: ['SEND_MESSAGES'] }
			);
			await syncAll(people, space.id);
			for (const p of people)
				expect(p.client.space(space.id)!.channels[0]!.messages.map((m) => m.text)).toEqual([
					'hello from Ben',
					'hello back from Ada'
				]);
		} finally {
			await shutdown(people);
		}
	});

	it("✓ denying Ben ADD_REACTIONS keeps his earlier reaction and Ada's reaction made after it", async () => {
		const cast = await personas('ada', 'ben');
		const people = Object.values(cast);
		try {
			const space = await cast.ada.client.createSpace({ name: 'Book club' });
			await space.addMember(await cast.ben.client.memberCard());
			const first = await space.channels[0]!.send('Welcome!');
			await syncAll(people, space.id);
			await cast.ben.client.space(space.id)!.channels[0]!.react(first.id, '👍');
			await syncAll(people, space.id);
			await space.channels[0]!.react(first.id, '🎉');
			await syncAll(people, space.id);
			await space.setChannelPermissions(
				space.channels[0]!.id,
				{ user: userOf(cast.ben) },
				{ deny: ['ADD_REACTIONS'] }
			);
			await syncAll(people, space.id);
			for (const p of people)
				expect(
					p.client.space(space.id)!.channels[0]!.messages[0]!.reactions?.map((r) => r.emoji)
				).toEqual(['👍', '🎉']);
		} finally {
			await shutdown(people);
		}
	});
});
